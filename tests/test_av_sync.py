"""Offline audio-mouth synchrony on a rendered talking face (real MediaPipe face mesh)."""

import numpy as np
import pytest

pytest.importorskip("mediapipe")

from hxbench.errors import SampleError  # noqa: E402
from hxbench.metrics.av_sync import AVSync, lagged_correlation, synchrony  # noqa: E402

N = 75  # 3 s at 25 fps


def speech(n_frames, seed=0):
    """Syllable on/off envelope per frame and a voiced audio signal following it."""
    rng = np.random.default_rng(seed)
    syl = np.repeat(rng.random(n_frames // 4 + 1) > 0.45, 4)[:n_frames].astype(float)
    env = np.convolve(syl, np.ones(3) / 3, mode="same")
    t = np.arange(n_frames * 640) / 16000
    voice = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((140, 280, 420, 700), 1))
    audio = 0.15 * np.repeat(env, 640) * voice + 0.003 * rng.standard_normal(len(t))
    return env, audio.astype(np.float32)


@pytest.fixture(scope="module")
def talking_face():
    from PIL import Image

    from hxbench.synth.photos import astronaut
    from hxbench.synth.renderer import BEHAVIOUR_DIM, B, render

    img = np.asarray(Image.fromarray(astronaut()).resize((256, 256), Image.BILINEAR))
    env, audio = speech(N)
    beh = np.zeros((N, BEHAVIOUR_DIM))
    beh[:, B["jaw_open"]] = env
    return render(img, beh), audio


def test_in_sync_peaks_at_zero(talking_face):
    frames, audio = talking_face
    out = AVSync().score_arrays(frames, audio)
    assert abs(out["av_offset"]) <= 1
    assert out["av_corr"] > 0.5 and out["av_conf"] > 0.3


@pytest.mark.parametrize("shift", [5, -5])
def test_detects_a_five_frame_audio_shift(talking_face, shift):
    frames, audio = talking_face
    shifted = np.roll(audio, shift * 640)  # shift > 0: the audio is delayed by `shift` frames
    out = AVSync().score_arrays(frames, shifted)
    assert abs(out["av_offset"] - (-shift)) <= 1  # SyncNet convention: delayed audio -> negative


def test_unrelated_audio_scores_lower(talking_face):
    frames, audio = talking_face
    _, other = speech(N, seed=7)
    good = AVSync().score_arrays(frames, audio)
    bad = AVSync().score_arrays(frames, other)
    assert bad["av_conf"] < good["av_conf"]


def test_errors():
    with pytest.raises(SampleError, match="does not move"):
        synchrony(np.zeros(50), np.random.default_rng(0).normal(size=50))
    with pytest.raises(SampleError, match="silent"):
        synchrony(np.random.default_rng(0).normal(size=50), np.zeros(50))
    with pytest.raises(SampleError, match="face"):
        AVSync().score_arrays(np.zeros((12, 64, 64, 3), np.uint8), np.ones(12 * 640, np.float32))


def test_lagged_correlation_signs():
    rng = np.random.default_rng(1)
    v = rng.normal(size=200)
    a = np.roll(v, 3)  # a[t + 3] = v[t]
    corr = lagged_correlation(v, a, 15)
    assert int(np.nanargmax(corr)) - 15 == 3


def test_motion_floor_scales_a_nearly_still_mouth():
    """The studied motion floor (not the metric's default): Pearson correlation ignores
    amplitude, so landmark jitter of a still mouth correlates like speech; with
    motion_floor the score shrinks in proportion below it."""
    from hxbench.metrics.av_sync import MOTION_FLOOR, _detrend

    rng = np.random.default_rng(3)
    energy = np.convolve(rng.normal(size=120), np.ones(4) / 4, mode="same")
    shape = energy + 0.5 * rng.normal(size=120)
    big = synchrony(0.3 + 0.05 * shape, energy, motion_floor=MOTION_FLOOR)
    small = synchrony(0.3 + 0.001 * shape, energy, motion_floor=MOTION_FLOOR)
    plain = synchrony(0.3 + 0.001 * shape, energy)  # v1 rule: amplitude-blind
    assert plain["av_corr"] == pytest.approx(big["av_corr"], abs=1e-9) and big["av_corr"] > 0.5
    gain = np.std(_detrend(0.001 * shape, 25)) / MOTION_FLOOR
    assert 0.05 < gain < 0.2
    assert small["av_corr"] == pytest.approx(big["av_corr"] * gain, rel=1e-9)
    assert small["av_conf"] == pytest.approx(big["av_conf"] * gain, rel=1e-9)
    assert small["av_offset"] == big["av_offset"] == 0



def test_a_video_at_another_rate_is_read_at_25_fps(talking_face, tmp_path):
    """The measure is defined at 25 fps: a 30 fps file of the same motion is re-read at 25 fps
    (nearest earlier frame, as ``ffmpeg -r 25``) and keeps the in-sync peak at lag 0."""
    from hxbench.io import media
    from hxbench.io.media import clip_from_video
    from hxbench.metrics.base import SampleData
    from hxbench.metrics.stream import needs_resampling

    frames, audio = talking_face
    t30 = np.arange(int(N * 30 / 25)) / 30  # each 30 fps frame shows the 25 fps frame of its time
    frames30 = frames[np.minimum((t30 * 25 + 1e-9).astype(int), N - 1)]
    path = media.write_video(tmp_path / "v30.mp4", frames30, 30, audio=audio, sample_rate=16000)
    clip = clip_from_video(str(path))
    assert needs_resampling(clip, 25) and not needs_resampling(clip, 30)
    out = AVSync().score_sample(SampleData("v30", gen=clip, audio=audio, sample_rate=16000))
    assert abs(out["av_offset"]) <= 1 and out["av_corr"] > 0.5, out
