"""Each perturbation of ``hxbench.io.perturb`` does what its name says, on copies only."""

from __future__ import annotations

import numpy as np
import pytest

from hxbench.io import perturb as P
from hxbench.io.media import iter_frames, probe, read_audio, read_video, write_video

from conftest import moving_square_video


def _speech_like(n: int, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """Noise bursts with silences between them: a signal whose lag is unambiguous."""
    rng = np.random.default_rng(seed)
    env = np.repeat(rng.random(n // 400 + 1) > 0.5, 400)[:n]
    return (0.3 * rng.standard_normal(n) * env).astype(np.float32)


@pytest.mark.parametrize("k", [2, -2, 5, -5, 10, -10])
def test_shift_moves_the_audio_by_k_video_frames(k):
    fps, sr = 25.0, 16000
    x = _speech_like(3 * sr)
    y = P.perturb_audio(f"shift{k:+d}", x, fps)
    assert y.shape == x.shape and y.dtype == x.dtype
    m = int(round(abs(k) * sr / fps))
    assert m == abs(k) * 640
    # the lag maximising the cross-correlation is exactly k frames
    lags = np.arange(-12 * 640, 12 * 640 + 1, 640)
    corr = [np.dot(x[max(0, -l):len(x) - max(0, l)], y[max(0, l):len(y) - max(0, -l)]) for l in lags]
    assert lags[int(np.argmax(corr))] == k * 640
    if k > 0:  # delayed: zeros in front, then the original
        assert np.all(y[:m] == 0) and np.array_equal(y[m:], x[:-m])
    else:  # advanced: the original from m on, zeros at the end
        assert np.array_equal(y[:-m], x[m:]) and np.all(y[-m:] == 0)


def test_other_speech_and_silence():
    x, other = _speech_like(16000, seed=0), _speech_like(5000, seed=1)
    y = P.perturb_audio("other_speech", x, 25.0, other)
    assert len(y) == len(x) and np.array_equal(y[:5000], other) and np.array_equal(y[5000:10000], other)
    assert not np.any(P.perturb_audio("silence", x, 25.0))
    with pytest.raises(ValueError):
        P.perturb_audio("other_speech", x, 25.0)


def _sharpness(frames: np.ndarray) -> float:
    """Mean absolute Laplacian (second differences): high-frequency content."""
    g = frames.astype(np.float64).mean(-1)
    return float(np.abs(np.diff(g, 2, axis=1)).mean() + np.abs(np.diff(g, 2, axis=2)).mean())


def test_video_transforms_do_what_they_say():
    frames = moving_square_video(30, 64, seed=3)
    chunks = lambda: iter([frames[:13], frames[13:]])  # noqa: E731  chunking must not matter
    run = lambda name: np.concatenate(list(P.transform_chunks(name, chunks(), 10.0)))  # noqa: E731
    blur = run("blur")
    assert blur.shape == frames.shape and _sharpness(blur) < 0.6 * _sharpness(frames)
    jpeg = run("jpeg")
    assert jpeg.shape == frames.shape and 1.0 < np.abs(jpeg.astype(int) - frames).mean() < 20
    noise = run("noise")
    d = noise.astype(float) - frames
    assert 6 < d.std() < 12 and np.array_equal(noise, run("noise"))  # seeded
    drop = run("drop_frames")
    assert np.array_equal(drop[0::2], frames[0::2]) and np.array_equal(drop[1::2], frames[0::2][:15])
    freeze = run("freeze")
    assert np.all(freeze == frames[0])
    shuf = run("shuffle")
    assert not np.array_equal(shuf, frames)
    for w in range(0, 30, 10):  # a permutation within each 1 s (10-frame) window
        block = {f.tobytes() for f in frames[w:w + 10]}
        assert {f.tobytes() for f in shuf[w:w + 10]} == block
    assert np.array_equal(run("identity"), frames)


def test_written_perturbations_keep_size_count_and_rate_and_leave_the_input(tmp_path):
    clean = tmp_path / "clean.mp4"
    frames = moving_square_video(20, 64, seed=1)
    P.prepare_clean(iter([frames]), 25.0, clean)
    before = clean.read_bytes()
    lossless = read_video(clean)
    assert np.array_equal(lossless, frames)  # lossless RGB H.264
    for name in ("blur", "freeze", "reencode", "identity"):
        out = P.write_perturbed_video(name, clean, tmp_path / f"{name}.mp4")
        info = probe(out)
        assert (info.n_frames, info.width, info.height) == (20, 64, 64) and abs(info.fps - 25) < 1e-6
    assert clean.read_bytes() == before
    assert np.array_equal(read_video(tmp_path / "identity.mp4"), lossless)
    assert np.all(read_video(tmp_path / "freeze.mp4") == read_video(tmp_path / "freeze.mp4")[0])
    re = read_video(tmp_path / "reencode.mp4")
    assert 0 < np.abs(re.astype(int) - lossless).mean() < 10


def test_prepare_clean_downscales_and_cuts(tmp_path):
    frames = moving_square_video(30, 96, seed=2)
    out = P.prepare_clean(iter([frames[:7], frames[7:]]), 25.0, tmp_path / "c.mp4", max_side=48, max_frames=12)
    info = probe(out)
    assert (info.n_frames, info.width, info.height) == (12, 48, 48)


def test_partners_skip_samples_with_the_same_content():
    ids = ["a_01", "a_02", "b_01", "b_02"]
    groups = ["s1", "s2", "s1", "s2"]
    p = P.partners(ids, groups)
    assert p == {"a_01": "a_02", "a_02": "b_01", "b_01": "b_02", "b_02": "a_01"}
    assert all(groups[ids.index(k)] != groups[ids.index(v)] for k, v in p.items())
    assert P.partners(["x", "y"], ["g", "g"]) == {}


def test_catalogue_names():
    assert P.shift_frames("shift-10") == -10 and P.shift_frames("shift+2") == 2 and P.shift_frames("blur") is None
    assert {p.side for p in P.PERTURBATIONS.values()} == {"audio", "video", "ref"}
