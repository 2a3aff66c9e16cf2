"""Both reference models' training is driven by step counts: the same seed and steps give the same
weights, and the optional wall-clock cap only stops early (and says so)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

torch.set_num_threads(1)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --------------------------------------------------------------------------- omnihuman
def omni_cfg():
    from reference_models.omnihuman.model import get_config

    cfg = get_config("tiny")
    cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.vae_base = 48, 2, 4, 8
    return cfg


def omni_videos(cfg, n=2):
    rng = np.random.default_rng(0)
    T = cfg.clip_frames + cfg.max_last_gap * cfg.vae_tf + 8
    return [SimpleNamespace(frames=rng.integers(0, 255, (T, cfg.image_size, cfg.image_size, 3), dtype=np.uint8),
                            mel=rng.standard_normal((T, cfg.n_mels)).astype(np.float32),
                            shot_texts=["speaking", "nod; speaking"]) for _ in range(n)]


def omni_run(cfg, videos, warmup=True):
    from reference_models.omnihuman.train import encode_videos, finetune_decoder, train_dit, train_vae

    quiet = lambda *a: None  # noqa: E731
    vae, info = train_vae(videos, cfg, steps=2, batch=1, seed=3, log=quiet)
    vae, _ = finetune_decoder(vae, videos, steps=1, batch=1, seed=3, log=quiet)
    steps = [1, 1, 1] if warmup else [2]
    dit, stages = train_dit(videos, encode_videos(vae, videos), cfg, steps, batch=2, seed=3,
                            warmup=warmup, log=quiet)
    return vae, dit, info, stages


def test_omnihuman_same_seed_and_steps_give_identical_weights():
    cfg = omni_cfg()
    videos = omni_videos(cfg)
    vae1, dit1, info, stages = omni_run(cfg, videos)
    vae2, dit2, _, _ = omni_run(cfg, videos)
    assert info["steps"] == 2 and [s["steps"] for s in stages] == [1, 1, 1]
    assert not info["stopped_early"] and not any(s["stopped_early"] for s in stages)
    assert same_weights(vae1, vae2) and same_weights(dit1, dit2)
    _, dit3, _, stages = omni_run(cfg, videos, warmup=False)
    assert [s["stage"] for s in stages] == ["joint"] and not same_weights(dit1, dit3)


def test_omnihuman_max_minutes_only_stops_early_and_says_so():
    from reference_models.omnihuman.train import train_dit, train_vae

    cfg = omni_cfg()
    videos = omni_videos(cfg)
    lines = []
    _, info = train_vae(videos, cfg, steps=5, batch=1, log=lines.append, deadline=0.0)
    assert info["steps"] == 0 and info["planned_steps"] == 5 and info["stopped_early"]
    assert lines == ["vae: --max-minutes reached, stopping after 0 of 5 steps"]
    with pytest.raises(ValueError, match="3 counts"):
        train_dit(videos, [], cfg, [5], log=lines.append)


# --------------------------------------------------------------------------- humanexpert
def test_humanexpert_same_seed_and_steps_give_identical_weights():
    from reference_models.humanexpert.data import toy_bundle
    from reference_models.humanexpert.model import HumanExpert, get_config
    from reference_models.humanexpert.train import train

    b = toy_bundle(0, n_qa=20, n_lip=4, n_cmd=3, spoken_qa=False)
    cfg = get_config("tiny", n_layers=1, text_vocab=b.bpe.vocab_size, speech_vocab=b.speech.K,
                     behaviour_dim=b.behaviour_dim)

    def run():
        torch.manual_seed(0)
        m = HumanExpert(cfg)
        lm = train(m, b.lm_examples, 2, objective="lm", window=None, batch_size=4, seed=0, log=None)
        m.freeze_text_speech(True)
        df = train(m, b.behaviour_examples, 3, objective="df", batch_size=4, window=25, seed=1, log=None)
        return m, lm + df

    (m1, l1), (m2, l2) = run(), run()
    assert len(l1) == 5 and l1 == l2
    assert same_weights(m1, m2)
    lines = []
    cut = train(m1, b.behaviour_examples, 4, batch_size=4, window=25, max_seconds=0.0, log=lines.append)
    assert len(cut) == 1 and lines[-1] == "--max-minutes reached: stopping after 1 of 4 steps"
