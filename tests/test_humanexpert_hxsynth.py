"""The ``hxsynth:<dir>`` training-data reader on small hand-written hx-synth style manifests."""

import json

import numpy as np
import pytest

from hxbench.io.manifest import Expected, Sample, write_manifest
from hxbench.io.media import write_wav
from hxbench.synth.renderer import BEHAVIOUR_NAMES
from reference_models.humanexpert.hxsynth_data import bundle_from_hxsynth
from reference_models.humanexpert.train import load_training_data

LAYOUT = list(BEHAVIOUR_NAMES)


def _tone(seconds, f0, rng):
    t = np.arange(int(seconds * 16000)) / 16000
    env = (np.sin(2 * np.pi * 3 * t) > 0).astype(np.float32)
    return (0.2 * env * np.sin(2 * np.pi * f0 * t) + 0.002 * rng.standard_normal(t.size)).astype(np.float32)


def make_build(root, seed=0, n_lip=3, n_cmd=2, layout=LAYOUT):
    rng = np.random.default_rng(seed)
    for proto in ("lip_sync", "listen_to_command", "audio_qa"):
        (root / proto / "media").mkdir(parents=True)
    (root / "dataset.json").write_text(json.dumps({"fps": 25, "behaviour_layout": layout}))
    samples = {"train": [], "test": []}
    for split in ("train", "test"):
        for i in range(n_lip):
            sid = f"lip_{split}_{i}"
            T = 40 + 5 * i
            write_wav(root / "lip_sync/media" / f"{sid}.wav", _tone(T / 25, 150 + 30 * i, rng), 16000)
            beh = rng.standard_normal((T, len(layout))).astype(np.float32) + (100.0 if split == "test" else 0.0)
            np.save(root / "lip_sync/media" / f"{sid}.behaviour.npy", beh)
            samples[split].append(Sample(sid, driving_audio=f"media/{sid}.wav", text=f"sentence {split} {i}",
                                         meta={"behaviour": f"media/{sid}.behaviour.npy", "behaviour_layout": layout}))
        write_manifest(root / "lip_sync" / f"{split}.jsonl", samples[split])
    cmds = []
    for i in range(n_cmd):
        sid = f"cmd_train_{i}"
        beh = np.zeros((30, len(layout)), np.float32)
        beh[:, i] = np.linspace(0, 1, 30)
        np.save(root / "listen_to_command/media" / f"{sid}.behaviour.npy", beh)
        cmds.append(Sample(sid, command=["Nod your head.", "Blink your eyes."][i % 2], expected=Expected(audio=False),
                           meta={"behaviour": f"media/{sid}.behaviour.npy", "behaviour_layout": layout,
                                 "command_name": ["nod", "blink"][i % 2]}))
    write_manifest(root / "listen_to_command/train.jsonl", cmds)
    for split, items in (("train", [("What is two plus two?", ["four", "4"]), ("Capital of France?", ["Paris"])]),
                         ("test", [("What is one plus one?", ["two", "2"])])):
        qs = []
        for j, (q, a) in enumerate(items):
            sid = f"qa_{split}_{j}"
            write_wav(root / "audio_qa/media" / f"{sid}.wav", _tone(1.0, 200 + 20 * j, rng), 16000)
            qs.append(Sample(sid, question=q, question_audio=f"media/{sid}.wav", answers=a, expected=Expected(kind="speech")))
        write_manifest(root / "audio_qa" / f"{split}.jsonl", qs)
    return root


def test_reader_uses_train_splits_only(tmp_path):
    root = make_build(tmp_path / "b0")
    b = load_training_data(f"hxsynth:{root}", seed=0)
    kinds = b.describe()["examples"]
    assert kinds == {"qa_t": 2, "qa_s": 2, "lip_sync": 3, "command": 2}
    assert b.behaviour_dim == 11 and b.fps == 25.0
    # test clips (offset by +100) must not enter the normalisation stats or the examples
    assert max(abs(m) for m in b.behaviour_norm["mean"]) < 5
    voc = b.vocab
    lips = [e for e in b.behaviour_examples if e.kind == "lip_sync"]
    for i, e in enumerate(lips):
        T = 40 + 5 * i
        assert e.behaviour.shape == (T, 11)
        # prefix = <bos> <speech> + one speech token per video frame; frame j at the position of token j
        assert len(e.tokens) == 2 + T and e.m_pos0 == 2
        assert all(voc.speech_offset <= t < voc.special_offset for t in e.tokens[2:])
        raw = np.load(root / "lip_sync/media" / f"lip_train_{i}.behaviour.npy")
        np.testing.assert_allclose(e.behaviour * np.array(b.behaviour_norm["std"]) + np.array(b.behaviour_norm["mean"]),
                                   raw, atol=1e-4)
    cmd = [e for e in b.behaviour_examples if e.kind == "command"][0]
    assert voc.decode_text(cmd.tokens).strip() == "Nod your head."
    qa = [e for e in b.lm_examples if e.kind == "qa_t"][0]
    assert voc.decode_text([t for t, m in zip(qa.tokens, qa.lm_mask) if m]).strip() == "four"
    assert [it["question"] for it in b.qa_eval] == ["What is one plus one?"]
    assert b.qa_eval[0]["q_codes"] is not None


def test_reader_merges_builds_and_checks_layout(tmp_path):
    r0, r1 = make_build(tmp_path / "b0", 0), make_build(tmp_path / "b1", 1, n_lip=2)
    b = bundle_from_hxsynth(f"{r0},{r1}")
    assert b.describe()["examples"]["lip_sync"] == 5
    bad = make_build(tmp_path / "bad", 2, layout=list(reversed(LAYOUT)))
    with pytest.raises(ValueError, match="behaviour_layout"):
        bundle_from_hxsynth(bad)
    with pytest.raises(FileNotFoundError, match="build"):
        bundle_from_hxsynth(tmp_path / "missing")


def test_generated_samples_are_deterministic_and_balanced():
    from hxbench.synth.behaviour import COMMANDS
    from reference_models.humanexpert.hxsynth_data import generate_hxsynth

    lips, cmds = generate_hxsynth(5, 2, 10)
    lips2, _ = generate_hxsynth(5, 2, 0)
    other, _ = generate_hxsynth(6, 1, 0)
    for (a, b, text), (a2, b2, text2) in zip(lips, lips2):
        assert text == text2 and np.array_equal(a, a2) and np.array_equal(b, b2)
        assert b.shape == (len(a) // 640, len(LAYOUT))  # 25 fps at 16 kHz, audio padded to whole frames
        assert b[:, LAYOUT.index("jaw_open")].max() > 0.1  # talking
    assert not np.array_equal(other[0][1], lips[0][1][: len(other[0][1])])
    assert sorted(c for c, _ in cmds) == sorted(COMMANDS.values())  # each command once per 10
    assert all(b.shape == (50, len(LAYOUT)) for _, b in cmds)


@pytest.mark.slow
def test_generated_lip_clip_equals_the_builds(tmp_path):
    """generate_hxsynth(seed, n, 0)[k] is train lip clip k of build(..., seed), and
    hxbench.synth.lip_sync_clip gives any split's clip (each split has its own streams)."""
    from hxbench.io.manifest import load_manifest
    from hxbench.io.media import read_audio
    from hxbench.synth import SIZES, build, lip_sync_clip
    from reference_models.humanexpert.hxsynth_data import generate_hxsynth

    build(tmp_path / "b", "tiny", seed=3, protocols=("lip_sync",), progress=False)
    n_train, n_ids = SIZES["tiny"].lip[0], SIZES["tiny"].n_identities
    lips, _ = generate_hxsynth(3, n_train, 0, n_identities=n_ids)
    test0 = lip_sync_clip(3, "test", 0, n_ids)
    for split, k, (audio, beh, text) in (("train", 0, lips[0]), ("train", n_train - 1, lips[-1]),
                                         ("test", 0, (test0.audio, test0.behaviour, test0.text))):
        m = load_manifest(tmp_path / "b" / "lip_sync" / f"{split}.jsonl")
        s = m.samples[k]
        assert text == s.text
        assert np.allclose(beh, np.load(m.resolve(s.meta["behaviour"])), atol=1e-6)
        assert np.allclose(audio, read_audio(m.resolve(s.driving_audio), 16000), atol=1e-3)
