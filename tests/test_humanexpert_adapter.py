"""HumanExpert training script + adapter plumbing on a toy corpus (a few training steps)."""

import sys
import types

import numpy as np
import pytest
import torch

from hxbench.adapters.base import GenerationInput, load_adapter
from reference_models.humanexpert.data import toy_bundle
from reference_models.humanexpert.model import HumanExpert, get_config, save_checkpoint
from reference_models.humanexpert.train import train


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.set_num_threads(1)
    b = toy_bundle(0, n_qa=30, n_lip=6, n_cmd=3, spoken_qa=False)
    cfg = get_config("tiny", n_layers=2, text_vocab=b.bpe.vocab_size, speech_vocab=b.speech.K,
                     behaviour_dim=b.behaviour_dim)
    m = HumanExpert(cfg)
    lm = train(m, b.lm_examples, 20, objective="lm", window=None, batch_size=4, log=None)
    m.freeze_text_speech(True)
    ts_before = {k: v.clone() for k, v in m.ts.state_dict().items()}
    df = train(m, b.behaviour_examples, 6, objective="df", batch_size=4, window=25, log=None)
    assert np.mean(lm[-5:]) < np.mean(lm[:5])  # LM pre-training learns
    assert all(torch.equal(v, m.ts.state_dict()[k]) for k, v in ts_before.items())  # frozen expert untouched
    assert np.isfinite(df).all()
    out = tmp_path_factory.mktemp("ck") / "humanexpert-tiny"
    b.save_tokenizers(out)
    save_checkpoint(m, out, extra={"behaviour_norm": {"mean": [0.5] * 8, "std": [2.0] * 8}, "fps": 25.0})
    return out


def test_adapter_qa_and_behaviour(checkpoint, monkeypatch):
    calls = []

    def fake_render(image, behaviour, fps):
        calls.append((behaviour.copy(), fps))
        return np.repeat(image[None], len(behaviour), axis=0)

    monkeypatch.setitem(sys.modules, "hxbench.synth.renderer", types.SimpleNamespace(render=fake_render))
    ad = load_adapter("humanexpert-tiny", checkpoint=str(checkpoint), n_steps=4)
    assert ad.info()["sha256"]
    img = np.zeros((32, 32, 3), np.uint8)
    audio = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    torch.set_num_threads(2)
    seen = []
    real_behaviour = ad._behaviour
    monkeypatch.setattr(ad, "_behaviour", lambda *a: (seen.append(torch.get_num_threads()), real_behaviour(*a))[1])
    outs = ad.generate([
        GenerationInput("q1", question="what is one plus two?"),
        GenerationInput("l1", reference_image=img, driving_audio=audio, fps=25),
        GenerationInput("c1", reference_image=img, command="nod your head", duration=0.8, fps=50),
    ])
    assert seen == [1, 1] and torch.get_num_threads() == 2  # generation on 1 thread, process setting restored
    torch.set_num_threads(1)
    assert isinstance(outs[0].text, str)
    assert outs[1].video.shape == (25, 32, 32, 3) and outs[1].audio is audio
    assert outs[2].video.shape == (40, 32, 32, 3) and outs[2].fps == 50 and outs[2].audio is None
    # denormalised with the checkpoint's behaviour_norm; finite
    assert np.isfinite(calls[0][0]).all() and calls[0][0].shape == (25, 8)


def test_adapter_without_checkpoint_names_the_fix(tmp_path):
    from hxbench.errors import HxbenchError

    with pytest.raises(HxbenchError, match="reference_models.humanexpert.train"):
        load_adapter("humanexpert-small", checkpoint=str(tmp_path / "nope"))


def test_committed_checkpoint_follows_the_speech():
    """The committed humanexpert-tiny moves its jaw with the driving speech, frame by frame: on fresh
    hx-synth clip (render-free generator, seed 777: no build is evaluated with it) the generated
    jaw_open correlates with the ground-truth jaw_open, and silence closes the mouth."""
    from hxbench.synth.renderer import BEHAVIOUR_NAMES
    from reference_models.humanexpert.hxsynth_data import generate_hxsynth

    torch.set_num_threads(1)
    ad = load_adapter("humanexpert-tiny", n_steps=10)
    assert ad.model.cfg.align_context
    jaw = list(BEHAVIOUR_NAMES).index("jaw_open")
    lips, _ = generate_hxsynth(777, 1, 0)
    rs, talk, quiet = [], [], []
    for audio, gt, _ in lips:
        T = len(gt)
        for wav, dest in ((audio, talk), (np.zeros_like(audio), quiet)):
            prefix, p0 = ad.vocab.lipsync_prefix(ad.speech.encode(wav, 16000, n_tokens=T))
            b = ad._behaviour(prefix, p0, T, seed=0)  # [T, 11], de-normalised
            dest.append(b[:, jaw])
        rs.append(np.corrcoef(talk[-1], gt[:, jaw])[0, 1])
    assert np.mean(rs) > 0.5, rs
    assert np.mean([q.mean() for q in quiet]) < 0.5 * np.mean([t.mean() for t in talk])
