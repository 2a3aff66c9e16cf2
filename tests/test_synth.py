"""hx-synth: the tiny build, measured with the real detectors (mediapipe) and espeak-ng."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mediapipe")
from hxbench import face  # noqa: E402
from hxbench.io import speech
from hxbench.io.manifest import load_manifest  # noqa: E402
from hxbench.io.media import probe, read_audio, read_video  # noqa: E402
from hxbench.synth import PROTOCOLS, build  # noqa: E402
from hxbench.synth import behaviour as beh_mod  # noqa: E402
from hxbench.synth import body as body_mod  # noqa: E402

pytestmark = pytest.mark.skipif(not speech.available(), reason="espeak-ng not installed")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build(tmp_path_factory.mktemp("synth") / "tiny", size="tiny", seed=0, progress=False)


def _manifests(root, protocol):
    return {s: load_manifest(root / protocol / f"{s}.jsonl") for s in ("train", "test")}


def test_layout_manifests_and_files(tiny):
    info = json.loads((tiny / "dataset.json").read_text())
    assert info["size"] == "tiny" and len(info["revision"]) == 16
    assert set(info["manifests"]) == {f"{p}/{s}" for p in PROTOCOLS for s in ("train", "test")}
    for proto in PROTOCOLS:
        for split, m in _manifests(tiny, proto).items():
            assert info["manifests"][f"{proto}/{split}"]["revision"] == m.revision
            for s in m.samples:
                for field in ("reference_image", "driving_audio", "reference_video", "question_audio"):
                    rel = getattr(s, field)
                    if rel is not None:
                        assert not Path(rel).is_absolute() and m.resolve(rel).is_file(), (s.sample_id, field)
                for key, val in s.meta.items():
                    if isinstance(val, str) and val.endswith(".npy"):
                        assert m.resolve(val).is_file()
                if s.reference_video:
                    vi = probe(m.resolve(s.reference_video))
                    assert vi.fps == 25 and (vi.width, vi.height) == (s.expected.width, s.expected.height)
                    assert abs(vi.duration - s.expected.duration) < 1e-6
                    assert vi.has_audio == bool(s.expected.audio)
                if s.driving_audio:
                    a = read_audio(m.resolve(s.driving_audio))
                    assert abs(len(a) / 16000 - s.expected.duration) < 0.01


def test_every_command_and_qa_split_disjoint(tiny):
    cmds = _manifests(tiny, "listen_to_command")
    assert sorted({s.meta["command_name"] for s in cmds["test"].samples}) == sorted(beh_mod.COMMANDS)
    qa = _manifests(tiny, "audio_qa")
    ids = {k: {s.meta["item_id"] for s in m.samples} for k, m in qa.items()}
    assert ids["train"] and ids["test"] and not ids["train"] & ids["test"]
    for s in qa["test"].samples:
        assert s.answers and s.answers[0] == s.meta["answer"] and s.question.endswith("?")
        assert len(read_audio(qa["test"].resolve(s.question_audio))) > 8000


def _talking_videos(root):
    for proto in ("lip_sync", "listen_to_command"):
        for m in _manifests(root, proto).values():
            for s in m.samples:
                yield s, read_video(m.resolve(s.reference_video)), m


def test_faces_found_in_every_frame(tiny):
    n = 0
    for s, frames, _ in _talking_videos(tiny):
        assert face.face_mesh(frames).found.all(), s.sample_id
        assert face.detect_faces(frames).found.all(), s.sample_id
        n += len(frames)
    m = _manifests(tiny, "multi_person")["test"]
    for s in m.samples:
        frames = read_video(m.resolve(s.reference_video))
        res = face.face_mesh_multi(frames, max_faces=2)
        assert res.found.all(), s.sample_id
        boxes = np.load(m.resolve(s.meta["boxes"]))
        # the i-th face mesh (left to right) lies inside the i-th speaker's box
        for p in range(2):
            c = np.nanmean(res.landmarks[:, p, :, :2], axis=1)
            assert np.all((c[:, 0] > boxes[:, p, 0]) & (c[:, 0] < boxes[:, p, 2]))
        n += len(frames)
    assert n > 500


def _lagged_corr(x, y, lag):
    if lag > 0:
        x, y = x[lag:], y[:-lag]
    elif lag < 0:
        x, y = x[:lag], y[-lag:]
    return float(np.corrcoef(x, y)[0, 1])


def test_mouth_opening_follows_speech_envelope(tiny):
    mouths, envs = [], []
    for m in _manifests(tiny, "lip_sync").values():
        for s in m.samples:
            frames = read_video(m.resolve(s.reference_video))
            audio = read_audio(m.resolve(s.driving_audio))
            mo = face.mouth_opening(face.face_mesh(frames).landmarks)
            env = speech.envelope(audio, 16000, 25, len(frames))
            mouths.append((mo - mo.mean()) / mo.std())
            envs.append((env - env.mean()) / env.std())
    mo, env = np.concatenate(mouths), np.concatenate(envs)
    r0 = _lagged_corr(mo, env, 0)
    assert r0 > 0.5, r0
    # shifting the audio by 6 frames (240 ms) either way destroys the alignment
    for lag in (-6, 6):
        assert _lagged_corr(mo, env, lag) < r0 - 0.25


@pytest.mark.parametrize("command", list(beh_mod.COMMANDS))
def test_command_video_matches_command(tiny, command):
    m = _manifests(tiny, "listen_to_command")["test"]
    s = next(x for x in m.samples if x.meta["command_name"] == command)
    lm = face.face_mesh(read_video(m.resolve(s.reference_video))).landmarks
    pose = face.head_pose(lm)
    d = pose - pose[:4].mean(0)  # change from the neutral lead-in
    yaw, pitch = d[:, 0], d[:, 1]
    ear = face.eye_aspect_ratio(lm).mean(1)
    mouth = face.mouth_opening(lm)
    smile = face.mouth_corner_lift(lm) - face.mouth_corner_lift(lm[:4]).mean()
    brow = face.brow_height(lm) - face.brow_height(lm[:4]).mean()
    still_head = np.abs(yaw).max() < 5 and np.abs(pitch).max() < 6
    if command == "blink":
        assert ear.min() < 0.5 * ear[:4].mean() and still_head
    elif command == "nod":
        assert pitch.max() > 6 and pitch.min() < -6 and np.abs(yaw).max() < 5
    elif command == "shake_head":
        assert yaw.max() > 6 and yaw.min() < -6 and np.abs(pitch).max() < 6
    elif command == "turn_left":
        assert yaw.max() > 10 and yaw.min() > -3
    elif command == "turn_right":
        assert yaw.min() < -10 and yaw.max() < 3
    elif command == "look_up":
        assert pitch.max() > 10 and pitch.min() > -4
    elif command == "look_down":
        assert pitch.min() < -10 and pitch.max() < 4
    elif command == "smile":
        assert smile.max() > 0.03 and mouth.max() < mouth[:4].mean() + 0.08 and still_head
    elif command == "raise_eyebrows":
        assert brow.max() > 0.04 and still_head
    elif command == "open_mouth":
        assert mouth.max() > mouth[:4].mean() + 0.12 and still_head
    if command != "blink":
        assert ear.min() > 0.6 * ear[:4].mean()  # no blink where none was asked for


def test_speaking_labels_follow_each_speaker(tiny):
    for m in _manifests(tiny, "multi_person").values():
        for s in m.samples:
            speaking = np.load(m.resolve(s.meta["speaking"]))
            assert speaking.any(axis=0).all()  # both people speak
            assert not (speaking[:, 0] & speaking[:, 1]).any()  # turn-taking
            for p, spk in enumerate(s.meta["speakers"]):
                env = speech.envelope(read_audio(m.resolve(spk["audio"])), 16000, 25, len(speaking))
                assert env[speaking[:, p]].mean() > 5 * (env[~speaking[:, p]].mean() + 1e-4)


def test_full_body_ground_truth(tiny):
    m = _manifests(tiny, "full_body")["test"]
    seen = set()
    for s in m.samples:
        kp = np.load(m.resolve(s.meta["keypoints"]))
        vec = np.load(m.resolve(s.meta["vector"]))
        W, H = s.expected.width, s.expected.height
        assert kp.shape[1:] == (133, 2) and vec.shape == (len(kp), 271)
        assert np.allclose(body_mod.from_vector(vec, W, H), kp, atol=1e-2)
        cmd = s.meta["command_name"]
        seen.add(cmd)
        rw, lw, nose = kp[:, body_mod.R_WRI], kp[:, body_mod.L_WRI], kp[:, body_mod.NOSE]
        rs = kp[:, body_mod.R_SHO]
        if cmd == "raise_hand":
            assert (rw[-10:, 1] < nose[-10:, 1]).all()
        elif cmd == "wave":
            assert (rw[-10:, 1] < rs[-10:, 1]).all() and np.ptp(rw[15:, 0]) > 0.05 * W
        elif cmd == "clap":
            gap = np.abs(rw[:, 0] - lw[:, 0])
            assert gap[15:].min() < 0.03 * W and gap[15:].max() > 0.08 * W
        elif cmd == "point":
            assert (rs[-10:, 0] - rw[-10:, 0] > 0.12 * W).all()
        frames = read_video(m.resolve(s.reference_video))
        assert frames.shape[0] == len(kp)
    assert seen == set(body_mod.BODY_COMMANDS)


def _tree_digest(root, protocols):
    h = {}
    for proto in protocols:
        for p in sorted((root / proto).rglob("*")):
            if p.is_file():
                h[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return h


def test_same_seed_gives_identical_bytes(tiny, tmp_path):
    protos = ("lip_sync", "full_body", "audio_qa")
    again = build(tmp_path / "again", size="tiny", seed=0, progress=False, protocols=protos)
    a, b = _tree_digest(tiny, protos), _tree_digest(again, protos)
    assert a == b and len(a) > 20
    first, second = (json.loads((r / "dataset.json").read_text()) for r in (tiny, again))
    assert {p: first["content"][p] for p in protos} == second["content"]


def test_content_digest_names_the_bytes(tiny, tmp_path):
    """dataset.json's content digest is recomputable and moves with any byte of any file."""
    import shutil

    from hxbench.synth.build import content_digest

    info = json.loads((tiny / "dataset.json").read_text())
    assert set(info["content"]) == set(PROTOCOLS)
    assert content_digest(tiny / "lip_sync") == info["content"]["lip_sync"]
    copy = tmp_path / "lip_sync"
    shutil.copytree(tiny / "lip_sync", copy)
    assert content_digest(copy) == info["content"]["lip_sync"]  # paths are relative
    wav = sorted(copy.rglob("*.wav"))[0]
    raw = bytearray(wav.read_bytes())
    raw[-1] ^= 1  # one bit of one sample
    wav.write_bytes(bytes(raw))
    assert content_digest(copy) != info["content"]["lip_sync"]
    built = info["built_with"]
    assert built["espeak_ng"] == speech.version() and built["espeak_ng"]
    assert built["av"] and built["cpu"] and built["numpy"] == np.__version__


def test_cli_builds_one_protocol(tmp_path, capsys):
    from hxbench.cli import main

    assert main(["synth", "--out", str(tmp_path / "d"), "--size", "tiny", "--seed", "3",
                 "--protocols", "audio_qa", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "audio_qa/test" in out
    assert load_manifest(tmp_path / "d" / "audio_qa" / "test.jsonl").samples


@pytest.mark.slow
def test_full_tiny_build_is_deterministic_and_seed_matters(tiny, tmp_path):
    again = build(tmp_path / "again", size="tiny", seed=0, progress=False)
    assert _tree_digest(tiny, PROTOCOLS) == _tree_digest(again, PROTOCOLS)
    other = build(tmp_path / "other", size="tiny", seed=1, progress=False, protocols=("lip_sync",))
    assert (json.loads((other / "dataset.json").read_text())["manifests"]["lip_sync/test"]["revision"]
            != json.loads((tiny / "dataset.json").read_text())["manifests"]["lip_sync/test"]["revision"])


def test_test_clips_never_another_sizes_train_clips(tiny, tmp_path, monkeypatch):
    """A size with more train clips (as "small" has) shares no clip with tiny's test split, and
    the test splits nest: clip i of test is the same at every size (hx-synth 2)."""
    import dataclasses

    from hxbench.synth import SIZES

    bigger = dataclasses.replace(SIZES["tiny"], lip=(8, 3))
    monkeypatch.setitem(SIZES, "tiny-more-train", bigger)  # the same dict object as build's
    root = build(tmp_path / "more", size="tiny-more-train", seed=0, progress=False, protocols=("lip_sync",))

    def wav_hashes(r, split):
        m = load_manifest(r / "lip_sync" / f"{split}.jsonl")
        return [hashlib.sha256(m.resolve(s.driving_audio).read_bytes()).hexdigest() for s in m.samples]

    tiny_test = wav_hashes(tiny, "test")
    assert len(set(tiny_test)) == 3
    assert not set(wav_hashes(root, "train")) & set(tiny_test)
    assert wav_hashes(root, "test") == tiny_test
    assert wav_hashes(root, "train")[:3] == wav_hashes(tiny, "train")
