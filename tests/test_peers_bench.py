"""bench/peers.py hands hxbench's weights to the peer packages in their own layouts; these check
the conversions with hxbench's own dependencies only (the peers' venv is not needed, and no
timing is asserted). The peer agreement itself is measured by the bench (docs/performance.md)."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def bench_module(filename: str, name: str):
    """A script of bench/ (not a package) imported as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / filename)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _peers():
    return bench_module("peers.py", "bench_peers")


def test_lpips_backbone_export_loads_into_torchvision_alexnet_with_the_same_features():
    import lpips
    import torchvision

    peers = _peers()
    torch.manual_seed(0)
    net = lpips.LPIPS(pretrained=False, net="alex", pnet_rand=True, verbose=False).eval()
    tv = torchvision.models.alexnet(weights=None).eval()
    tv.load_state_dict(peers.torchvision_backbone(net.state_dict(), "alexnet"), strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ours = net.net(x)[-1]  # relu5 of the lpips slices
        theirs = tv.features[:12](x)
    assert torch.equal(ours, theirs)


def test_i3d_export_has_cd_fvd_key_set_and_keeps_the_batchnorm_function():
    from hxbench.nets.i3d import InceptionI3d

    peers = _peers()
    torch.manual_seed(0)
    sd = InceptionI3d().state_dict()
    for k in sd:
        if k.endswith(("bn_var", "bn_mean", "bn_beta")):
            sd[k] = torch.rand_like(sd[k]) * (2.0 if k.endswith("bn_var") else 1.0) + (1e-4 if k.endswith("bn_var") else 0)
    out = peers.cdfvd_i3d_state_dict(sd)
    # the sorted key names of cd-fvd 0.1.1's pytorch_i3d.InceptionI3d(400).state_dict() (344 keys)
    assert len(out) == 344
    assert hashlib.sha256(",".join(sorted(out)).encode()).hexdigest()[:16] == "9542f7a788388c37"
    # cd-fvd's BatchNorm3d has eps 1e-5; the exported variance makes it the checkpoint's eps-1e-3 function
    unit = "mixed.Mixed_4c.b1b"
    bn = torch.nn.BatchNorm3d(sd[f"{unit}.bn_beta"].numel(), eps=1e-5).eval()
    bn.load_state_dict({k.split(".bn.")[1]: v for k, v in out.items() if k.startswith("Mixed_4c.b1b.bn.")})
    x = torch.randn(2, bn.num_features, 2, 3, 3)
    shape = (1, -1, 1, 1, 1)
    want = (x - sd[f"{unit}.bn_mean"].view(shape)) * torch.rsqrt(sd[f"{unit}.bn_var"].view(shape) + 1e-3) \
        + sd[f"{unit}.bn_beta"].view(shape)
    with torch.no_grad():
        assert torch.allclose(bn(x), want, rtol=1e-5, atol=1e-5)
    assert torch.equal(out["logits.conv3d.bias"], sd["logits.conv.bias"])
