"""hxbench against the real peer packages: same inputs, same weights, each side in its own process.

One command per metric family prints a table of values, wall and CPU seconds, peak memory and
the ratios, and writes the rows as JSON::

    .venv/bin/python bench/peers.py --setup                 # create/reuse the peers' own venv
    .venv/bin/python bench/peers.py --family fid [--clips 64] [--frames 4] [--size 256]
    .venv/bin/python bench/peers.py --family ssim psnr lpips fvd --json out.json
    .venv/bin/python bench/peers.py --family fid --only pytorch-fid torch-fidelity --repeats 2
    .venv/bin/python bench/peers.py --family fid --real GEN_DIR REF_DIR --clips 20 --frames 8

Families: fid, ssim, psnr, lpips (AlexNet), lpips-vgg, fvd (``IMPLS`` lists each family's
implementations and why a peer's value may differ by design), and sync: Sync-C/D against the
syncnet-python package's own pipeline, run by ``bench/bench_sync.py`` (its docstring says how
both sides get the same weights; ``--clips`` videos, ``--threads``), whose table this prints. Measured tables and their
reading: docs/performance.md, "Against the peer packages".

Environments. hxbench runs in the interpreter that runs this script (hxbench's own venv). The
peers run in a venv of their own, never hxbench's: ``--peer-venv`` (default ``$HXBENCH_PEERS_VENV``
or ``~/.cache/hxbench/peers-venv``), created by ``--setup`` with ``python3 -m venv`` and
``pip install torch==2.14.1 torchvision==0.29.1`` then ``PEER_PACKAGES`` below (exact pins).
The same file is run by both interpreters; peer children import no hxbench code.

Inputs. Deterministic synthetic clips (``make_clips``: smooth moving colour fields, 16 frames,
``--size`` px; gen = ref blurred, shifted in colour and with noise, by an amount that varies per
clip), or real videos with ``--real GEN_DIR REF_DIR`` (videos paired by file name, the first 16
frames, shorter side scaled to ``--size`` and centre-cropped). Written once under ``--workdir``:
``gen16.npy``/``ref16.npy`` (N, 16, S, S, 3) uint8 for FVD, ``genF.npy``/``refF.npy`` (the first
``--frames`` frames) for SSIM/PSNR/LPIPS, and the same frames as PNG folders for FID (both sides
read the PNGs: what ``python -m pytorch_fid`` and clean-fid take).

Weights. The peers would download theirs; here every peer loads hxbench's pinned files,
exported once under ``WORKDIR/weights`` (``export_weights``) and loaded the way each package
accepts:

- pytorch-fid and clean-fid (legacy_pytorch): ``TORCH_HOME=WORKDIR/weights/torch`` holding
  ``hub/checkpoints/pt_inception-2015-12-05-6726825d.pth`` = hxbench's FID Inception state dict
  (``hxbench.nets.inception.fid_inception_state_dict``), which ``load_state_dict_from_url`` finds
  in its cache instead of downloading;
- torch-fidelity and torchmetrics FID: the same file through ``feature_extractor_weights_path``;
- clean-fid "clean" mode: its own network is StyleGAN2's TorchScript Inception (not pinned by
  hxbench, not offline); it runs with ``custom_feat_extractor=cleanfid.features.feature_extractor(
  "pytorch_inception")``, clean-fid's own pytorch-fid network with the file above, so clean vs
  legacy_pytorch differ only by clean-fid's resize (PIL bicubic with antialiasing);
- lpips and torchmetrics LPIPS: their linear heads are the v0.1 files the packages ship (the
  peer child reports their max difference from hxbench's); the backbone, which torchvision
  would download, is hxbench's converted AlexNet / VGG16 saved as torchvision's
  ``alexnet-owt-7be5be79.pth`` / ``vgg16-397923af.pth`` in ``TORCH_HOME`` (classifier layers,
  unused by LPIPS, zero-filled);
- piq LPIPS (VGG only): ``lpips_weights.pt`` in ``TORCH_HOME`` = hxbench's VGG v0.1 heads as
  the list of (1, C, 1, 1) tensors piq loads, plus the VGG16 file above;
- cd-fvd (I3D): ``ckpt_path=WORKDIR/weights/i3d_cdfvd.pt`` = hxbench's DeepMind I3D weights
  renamed to cd-fvd's ``pytorch_i3d`` layout; cd-fvd's BatchNorm has eps 1e-5 where the
  checkpoint's is 1e-3, so the exported running variance is var + 1e-3 - 1e-5 (the same
  function; BatchNorm scale 1).

Timing. Each (family, implementation) is one child process with ``--threads`` torch threads
(and OMP/BLAS threads), timed after its imports (``PRE_IMPORTS``): the timed region is one complete call of the
package's API on the whole input (model construction included, for hxbench too: nothing is
warmed up), wall (perf_counter) and CPU seconds (os.times user+sys, the process and its
children), peak RSS of the process (VmHWM: torch, the network and the inputs), and the
1-minute load average before and after. Ratio = peer / hxbench (above 1: hxbench faster or
smaller).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's hxbench (hxbench children; peer children never import it)
PEER_TORCH = ["torch==2.14.1", "torchvision==0.29.1"]
PEER_PACKAGES = ["pytorch-fid==0.3.0", "clean-fid==0.1.35", "torch-fidelity==0.4.0", "torchmetrics==1.9.0",
                 "piq==0.8.0", "lpips==0.1.4", "scikit-image==0.26.0", "cd-fvd==0.1.1"]
DEFAULT_VENV = Path(os.environ.get("HXBENCH_PEERS_VENV", Path.home() / ".cache/hxbench/peers-venv"))
FVD_FRAMES = 16

# family -> [(implementation, side, note)]; the first row of a family is hxbench, the reference
# of the ratios. "same": the peer computes the same arithmetic (agreement expected to float
# rounding); anything else is the reason it differs by design.
IMPLS: dict[str, list[tuple[str, str, str]]] = {
    "fid": [
        ("hxbench fid[pytorch-fid]", "hx", "reference"),
        ("pytorch-fid", "peer", "same"),
        ("clean-fid legacy_pytorch", "peer", "same"),
        ("clean-fid clean", "peer", "clean-fid's resize: PIL bicubic with antialiasing to 299 (pytorch-fid: "
                                    "torch bilinear, no antialiasing); same network and weights"),
        ("torch-fidelity", "peer", "TF1-style bilinear resize (no half-pixel offset) and (x-128)/128 input "
                                   "scaling (pytorch-fid: x/127.5-1); same weights"),
        ("torchmetrics", "peer", "default antialias=True: torch bilinear WITH antialiasing, (x-128)/128; "
                                 "FID from eigenvalues of sigma1@sigma2"),
        ("torchmetrics antialias=False", "peer", "torch-fidelity's resize and scaling (expected ~ torch-fidelity)"),
    ],
    "ssim": [
        ("hxbench ssim[rgb-255]", "hx", "reference"),
        ("scikit-image", "peer", "same"),
        ("torchmetrics map, cropped", "peer", "same: torchmetrics' SSIM map (return_full_image, data_range=255) "
                                              "averaged over the valid windows only"),
        ("piq data_range=255", "peer", "same (float32; its default downsample=True is a no-op below 384 px)"),
        ("torchmetrics data_range=255", "peer", "averages the map over the WHOLE image, border windows "
                                                "reflect-padded (scikit-image/hxbench: valid windows only, a 5-px "
                                                "border dropped); the gap shrinks as 1/size"),
        ("torchmetrics defaults", "peer", "as above, and data_range=None: estimated per batch as max-min of the "
                                          "[0, 1] floats instead of the nominal 1.0"),
    ],
    "psnr": [
        ("hxbench psnr[rgb-255]", "hx", "reference"),
        ("scikit-image", "peer", "same"),
        ("torchmetrics per-image", "peer", "same (float32 MSE)"),
        ("piq", "peer", "same (float32, mse + 1e-8)"),
        ("torchmetrics defaults", "peer", "dim=None: PSNR of the MSE pooled over all frames, not the mean of "
                                          "per-frame PSNRs (lower or equal, by Jensen)"),
    ],
    "lpips": [
        ("hxbench lpips[alex-v0.1]", "hx", "reference"),
        ("lpips alex", "peer", "same"),
        ("torchmetrics alex", "peer", "same"),
    ],
    "lpips-vgg": [
        ("hxbench lpips[vgg-v0.1]", "hx", "reference"),
        ("lpips vgg", "peer", "same"),
        ("piq LPIPS (vgg)", "peer", "piq's own LPIPS: same heads and backbone, feature normalisation "
                                    "eps 1e-10 added to the norm (lpips: to the norm too); expected ~same"),
    ],
    "fvd": [
        ("hxbench fvd[styleganv-16f]", "hx", "reference"),
        ("cd-fvd i3d", "peer", "same protocol (224 bilinear, [-1, 1], biased covariance); its port of I3D "
                               "(zero-padded max pools after ReLU, BatchNorm eps folded into the variance)"),
    ],
}


# -- environment ---------------------------------------------------------------------------------
def setup_venv(venv: Path) -> Path:
    """Create (or reuse) the peers' venv; returns its python."""
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    freeze = subprocess.run([str(py), "-m", "pip", "freeze"], capture_output=True, text=True).stdout
    have = {ln.split("==")[0].lower().replace("_", "-"): ln.split("==")[1].split("+")[0]
            for ln in freeze.splitlines() if "==" in ln}
    missing = [p for p in PEER_TORCH + PEER_PACKAGES if have.get(p.split("==")[0]) != p.split("==")[1]]
    if missing:
        print(f"[setup] installing into {venv}: {' '.join(missing)}", flush=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *PEER_TORCH], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *PEER_PACKAGES, "av"], check=True)
    return py


# -- inputs --------------------------------------------------------------------------------------
def make_clips(n: int, size: int, seed: int = 0):
    """(gen, ref) uint8 (n, 16, size, size, 3): smooth colour fields drifting over time; gen is
    ref blurred, colour-shifted and noisy, by an amount that varies per clip."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(seed)
    ref = np.empty((n, FVD_FRAMES, size, size, 3), np.uint8)
    gen = np.empty_like(ref)
    for i in range(n):
        base = torch.from_numpy(rng.random((1, 3, 12, 12), dtype=np.float32))
        fine = torch.from_numpy(rng.random((1, 3, 48, 48), dtype=np.float32))
        canvas = size + 2 * 4 * FVD_FRAMES  # room for a drift of up to 4 px per frame
        big = F.interpolate(base, size=(canvas, canvas), mode="bicubic", align_corners=False)
        big = big + 0.25 * F.interpolate(fine, size=(canvas, canvas), mode="bilinear", align_corners=False)
        dx, dy = rng.integers(-4, 5, 2)
        strength = (i % 8) / 8
        for t in range(FVD_FRAMES):
            y0, x0 = 4 * FVD_FRAMES + dy * t, 4 * FVD_FRAMES + dx * t
            frame = big[..., y0:y0 + size, x0:x0 + size].clamp(0, 1.25) / 1.25
            ref[i, t] = (frame[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            k = 1 + 2 * int(1 + 2 * strength)
            blurred = F.avg_pool2d(frame, k, stride=1, padding=k // 2, count_include_pad=False)
            g = blurred[0].permute(1, 2, 0).numpy() * 255 + 12 * strength * np.array([1.0, -0.5, 0.3])
            g = g + rng.normal(0, 2 + 6 * strength, g.shape)
            gen[i, t] = np.clip(g.round(), 0, 255).astype(np.uint8)
    return gen, ref


def read_real(gen_dir: Path, ref_dir: Path, n: int, size: int):
    """Videos paired by name, first 16 frames, shorter side to ``size``, centre crop."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from hxbench.io.media import iter_frames

    names = sorted(p.name for p in gen_dir.iterdir() if (ref_dir / p.name).exists())[:n]

    def clip(path: Path):
        frames = []
        for chunk in iter_frames(str(path), chunk_size=FVD_FRAMES):
            frames.extend(chunk)
            if len(frames) >= FVD_FRAMES:
                break
        x = torch.from_numpy(np.stack(frames[:FVD_FRAMES])).permute(0, 3, 1, 2).float()
        h, w = x.shape[-2:]
        s = size / min(h, w)
        x = F.interpolate(x, size=(max(size, round(h * s)), max(size, round(w * s))), mode="bilinear",
                          antialias=True, align_corners=False)
        top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
        x = x[..., top:top + size, left:left + size]
        return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()

    return np.stack([clip(gen_dir / m) for m in names]), np.stack([clip(ref_dir / m) for m in names])


def write_inputs(work: Path, args) -> dict[str, str]:
    """The input files (reused when the same arguments made them)."""
    import numpy as np

    tag = (f"real-{Path(args.real[0]).name}-{Path(args.real[1]).name}" if args.real else "synth") + \
        f"-n{args.clips}-s{args.size}-f{args.frames}"
    d = work / "inputs" / tag
    paths = {k: str(d / v) for k, v in (("gen16", "gen16.npy"), ("ref16", "ref16.npy"), ("genF", "genF.npy"),
                                        ("refF", "refF.npy"), ("gen_png", "gen_png"), ("ref_png", "ref_png"))}
    if (d / "done").exists():
        return paths
    d.mkdir(parents=True, exist_ok=True)
    if args.real:
        gen, ref = read_real(Path(args.real[0]), Path(args.real[1]), args.clips, args.size)
    else:
        gen, ref = make_clips(args.clips, args.size)
    np.save(paths["gen16"], gen)
    np.save(paths["ref16"], ref)
    np.save(paths["genF"], gen[:, :args.frames])
    np.save(paths["refF"], ref[:, :args.frames])
    from PIL import Image

    for side, arr in (("gen_png", gen), ("ref_png", ref)):
        Path(paths[side]).mkdir(exist_ok=True)
        for i in range(arr.shape[0]):
            for t in range(args.frames):
                Image.fromarray(arr[i, t]).save(Path(paths[side]) / f"{i:04d}_{t:02d}.png", compress_level=1)
    (d / "done").write_text("ok")
    return paths


# -- weights for the peers (run in hxbench's env) ----------------------------------------------
def export_weights(work: Path) -> Path:
    """hxbench's pinned weights in the files and layouts each peer loads (see the module doc)."""
    import torch

    wdir = work / "weights"
    ckpt = wdir / "torch" / "hub" / "checkpoints"
    if (wdir / "done").exists():
        return wdir
    ckpt.mkdir(parents=True, exist_ok=True)

    from hxbench.nets.inception import fid_inception_state_dict

    sd, source = fid_inception_state_dict()
    torch.save(sd, ckpt / "pt_inception-2015-12-05-6726825d.pth")

    from hxbench.nets.lpips_convert import NETS, convert_state_dict, load_flax_pickle
    from hxbench.weights import resolve

    heads = {}
    for net, tv_name, tv_file in (("alex", "alexnet", "alexnet-owt-7be5be79.pth"),
                                  ("vgg", "vgg16", "vgg16-397923af.pth")):
        lp = convert_state_dict(load_flax_pickle(resolve(NETS[net][0])), net)
        torch.save(torchvision_backbone(lp, tv_name), ckpt / tv_file)
        heads[net] = {k: v for k, v in lp.items() if k.startswith("lin")}
    torch.save(heads, wdir / "hx_lpips_heads.pt")
    torch.save([heads["vgg"][f"lin{k}.model.1.weight"].clone() for k in range(5)], ckpt / "lpips_weights.pt")

    from hxbench.nets.i3d import convert_flax_i3d, load_i3d_variables

    torch.save(cdfvd_i3d_state_dict(convert_flax_i3d(load_i3d_variables(resolve("fvd-i3d-kinetics400")))),
               wdir / "i3d_cdfvd.pt")
    (wdir / "done").write_text(json.dumps({"fid_inception": source}))
    return wdir


def torchvision_backbone(lpips_sd: dict, tv_name: str) -> dict:
    """lpips ``net.sliceK.<idx>.*`` -> torchvision ``features.<idx>.*`` (lpips keeps the
    torchvision indices), with zero-filled classifier layers so torchvision's strict load works."""
    import torch
    import torchvision

    model = getattr(torchvision.models, tv_name)(weights=None)
    sd = {k: torch.zeros_like(v) for k, v in model.state_dict().items()}
    for k, v in lpips_sd.items():
        if k.startswith("net.slice"):
            idx_param = k.split(".", 2)[2]  # "<idx>.weight"
            key = f"features.{idx_param}"
            assert sd[key].shape == v.shape, (key, sd[key].shape, v.shape)
            sd[key] = v.clone()
    return sd


def cdfvd_i3d_state_dict(hx_sd: dict) -> dict:
    """hxbench ``InceptionI3d`` (plain port) state dict -> cd-fvd ``pytorch_i3d.InceptionI3d``."""
    import torch

    out = {}
    units = sorted({k.rsplit(".", 2)[0] if k.endswith((".conv.weight", ".conv.bias")) else k.rsplit(".", 1)[0]
                    for k in hx_sd})
    for unit in units:
        name = unit[len("mixed."):] if unit.startswith("mixed.") else unit
        w = hx_sd[f"{unit}.conv.weight"]
        out[f"{name}.conv3d.weight"] = w.clone()
        if f"{unit}.conv.bias" in hx_sd:
            out[f"{name}.conv3d.bias"] = hx_sd[f"{unit}.conv.bias"].clone()
        if f"{unit}.bn_beta" in hx_sd:
            c = w.shape[0]
            out[f"{name}.bn.weight"] = torch.ones(c)
            out[f"{name}.bn.bias"] = hx_sd[f"{unit}.bn_beta"].clone()
            out[f"{name}.bn.running_mean"] = hx_sd[f"{unit}.bn_mean"].clone()
            # eps 1e-3 (checkpoint) -> 1e-5 (cd-fvd's BatchNorm3d): same sqrt(var + eps)
            out[f"{name}.bn.running_var"] = (hx_sd[f"{unit}.bn_var"].double() + 1e-3 - 1e-5).float()
            out[f"{name}.bn.num_batches_tracked"] = torch.tensor(0)
    return out


# -- the implementations (run in a child) ----------------------------------------------------------
def _png_batches(folder: str, batch: int = 50):
    import numpy as np
    from PIL import Image

    files = sorted(Path(folder).glob("*.png"))
    for i in range(0, len(files), batch):
        yield np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files[i:i + batch]])


def run_hx(impl: str, paths: dict, wdir: Path) -> tuple[float, dict]:
    from hxbench.eval.inputs import from_paths
    from hxbench.eval.scoring import score

    key = impl.split()[1]  # "fid[pytorch-fid]"
    family = key.split("[")[0]
    if family == "fid":
        g, r = paths["gen_png"], paths["ref_png"]
    elif family == "fvd":
        g, r = paths["gen16"], paths["ref16"]
    else:
        g, r = paths["genF"], paths["refF"]
    res = score(from_paths(g, r), [key], progress=False)
    m = res.metrics[key]
    return float(m.outputs[family].value), {"n": getattr(m, "n", None)}


def run_peer(family: str, impl: str, paths: dict, wdir: Path) -> tuple[float, dict]:
    import numpy as np
    import torch

    ckpt = wdir / "torch" / "hub" / "checkpoints"
    extra: dict = {}
    cpu = torch.device("cpu")
    if family == "fid":
        g, r = paths["gen_png"], paths["ref_png"]
        inception_file = str(ckpt / "pt_inception-2015-12-05-6726825d.pth")
        if impl == "pytorch-fid":
            from pytorch_fid.fid_score import calculate_fid_given_paths

            return float(calculate_fid_given_paths([g, r], batch_size=50, device="cpu", dims=2048,
                                                   num_workers=0)), extra
        if impl.startswith("clean-fid"):
            from cleanfid import fid as cfid
            from cleanfid.features import feature_extractor

            mode = impl.split()[1]
            custom = feature_extractor("pytorch_inception", device=cpu, use_dataparallel=False) \
                if mode == "clean" else None
            kw = dict(mode=mode, num_workers=0, batch_size=32, device=cpu, verbose=False, use_dataparallel=False)
            return float(cfid.compute_fid(g, r, custom_feat_extractor=custom, **kw)), extra
        if impl == "torch-fidelity":
            import torch_fidelity

            out = torch_fidelity.calculate_metrics(input1=g, input2=r, fid=True, cuda=False, cache=False,
                                                   verbose=False, batch_size=50,
                                                   feature_extractor_weights_path=inception_file)
            return float(out["frechet_inception_distance"]), extra
        if impl.startswith("torchmetrics"):
            from torchmetrics.image.fid import FrechetInceptionDistance

            fid = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=inception_file,
                                           antialias="antialias=False" not in impl)
            for folder, real in ((r, True), (g, False)):
                for b in _png_batches(folder):
                    fid.update(torch.from_numpy(b).permute(0, 3, 1, 2).contiguous(), real=real)
            return float(fid.compute()), extra
    gen16 = paths["gen16"] if family == "fvd" else paths["genF"]
    ref16 = paths["ref16"] if family == "fvd" else paths["refF"]
    if family == "fvd":
        from cdfvd import fvd

        ev = fvd.cdfvd("i3d", ckpt_path=str(wdir / "i3d_cdfvd.pt"), device="cpu")
        return float(ev.compute_fvd(np.load(ref16), np.load(gen16))), extra
    gen, ref = np.load(gen16), np.load(ref16)  # (N, T, H, W, 3) uint8
    g_all = gen.reshape(-1, *gen.shape[2:])
    r_all = ref.reshape(-1, *ref.shape[2:])
    per_video = gen.shape[1]

    def video_mean(per_frame) -> float:  # hxbench: mean over frames per video, then over videos
        v = np.asarray(per_frame, dtype=np.float64).reshape(-1, per_video)
        return float(v.mean(axis=1).mean())

    def tensors(a, b, scale=1.0, batch=16):
        for i in range(0, len(a), batch):
            x = torch.from_numpy(a[i:i + batch]).permute(0, 3, 1, 2).float() / scale
            y = torch.from_numpy(b[i:i + batch]).permute(0, 3, 1, 2).float() / scale
            yield x, y

    if family == "ssim":
        if impl == "scikit-image":
            from skimage.metrics import structural_similarity

            return video_mean([structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                                                     use_sample_covariance=False, data_range=255, channel_axis=-1)
                               for a, b in zip(g_all, r_all)]), extra
        if impl.startswith("torchmetrics"):
            from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

            if impl == "torchmetrics defaults":  # what a user writes on [0, 1] float frames
                vals = [tm_ssim(x, y, reduction="none") for x, y in tensors(g_all, r_all, 255.0)]
            elif impl == "torchmetrics map, cropped":
                vals = [tm_ssim(x, y, data_range=255.0, reduction="none", return_full_image=True)[1]
                        [..., 5:-5, 5:-5].mean(dim=(1, 2, 3)) for x, y in tensors(g_all, r_all)]
            else:
                vals = [tm_ssim(x, y, data_range=255.0, reduction="none") for x, y in tensors(g_all, r_all)]
            return video_mean(torch.cat(vals).numpy()), extra
        if impl.startswith("piq"):
            import piq

            vals = [piq.ssim(x, y, data_range=255.0, reduction="none") for x, y in tensors(g_all, r_all)]
            return video_mean(torch.cat(vals).numpy()), extra
    if family == "psnr":
        if impl == "scikit-image":
            from skimage.metrics import peak_signal_noise_ratio

            return video_mean([peak_signal_noise_ratio(a, b, data_range=255) for a, b in zip(g_all, r_all)]), extra
        if impl == "torchmetrics per-image":
            from torchmetrics.functional.image import peak_signal_noise_ratio as tm_psnr

            vals = [tm_psnr(x, y, data_range=255.0, reduction="none", dim=(1, 2, 3)) for x, y in tensors(g_all, r_all)]
            return video_mean(torch.cat(vals).numpy()), extra
        if impl == "torchmetrics defaults":
            from torchmetrics.image import PeakSignalNoiseRatio

            m = PeakSignalNoiseRatio(data_range=255.0)
            for x, y in tensors(g_all, r_all):
                m.update(x, y)
            return float(m.compute()), extra
        if impl == "piq":
            import piq

            vals = [piq.psnr(x, y, data_range=255.0, reduction="none") for x, y in tensors(g_all, r_all)]
            return video_mean(torch.cat(vals).numpy()), extra
    if family in ("lpips", "lpips-vgg"):
        heads = torch.load(wdir / "hx_lpips_heads.pt")
        net = "alex" if family == "lpips" else "vgg"

        def head_diff(module_sd: dict, prefix: str = "") -> float:
            return max(float((module_sd[prefix + k] - v).abs().max()) for k, v in heads[net].items())

        with torch.no_grad():
            if impl.startswith("lpips"):
                import lpips

                m = lpips.LPIPS(net=net, verbose=False).eval()
                extra["head_max_abs_diff_vs_hxbench"] = head_diff(m.state_dict())
                vals = [m(x, y, normalize=True).flatten() for x, y in tensors(g_all, r_all, 255.0)]
            elif impl.startswith("torchmetrics"):
                from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

                m = LearnedPerceptualImagePatchSimilarity(net_type=net, normalize=True, reduction="mean").eval()
                extra["head_max_abs_diff_vs_hxbench"] = head_diff(m.net.state_dict())
                vals = []
                for x, y in tensors(g_all, r_all, 255.0):  # per-pair values: the module, unreduced
                    vals.append(m.net(x, y, normalize=True).flatten())
            else:
                import piq

                m = piq.LPIPS(reduction="none")
                vals = [m(x, y).flatten() for x, y in tensors(g_all, r_all, 255.0)]
        return video_mean(torch.cat(vals).numpy()), extra
    raise ValueError(f"unknown implementation {family}/{impl}")


# modules each side imports before the timer starts (imports are not what is compared)
PRE_IMPORTS = {
    "hx": ["hxbench.eval.scoring", "hxbench.eval.inputs", "hxbench.nets.inception", "hxbench.nets.i3d",
           "hxbench.nets.lpips_convert", "pytorch_fid.inception", "lpips", "scipy.ndimage", "scipy.linalg", "PIL.Image"],
    "fid/pytorch-fid": ["pytorch_fid.fid_score"],
    "fid/clean-fid": ["cleanfid.fid", "cleanfid.features"],
    "fid/torch-fidelity": ["torch_fidelity"],
    "fid/torchmetrics": ["torchmetrics.image.fid", "PIL.Image"],
    "ssim/scikit-image": ["skimage.metrics._structural_similarity"],
    "psnr/scikit-image": ["skimage.metrics.simple_metrics"],
    "ssim/torchmetrics": ["torchmetrics.functional.image"], "psnr/torchmetrics": ["torchmetrics.functional.image",
                                                                                   "torchmetrics.image"],
    "ssim/piq": ["piq"], "psnr/piq": ["piq"], "lpips-vgg/piq": ["piq"],
    "lpips/lpips": ["lpips"], "lpips-vgg/lpips": ["lpips"], "lpips/torchmetrics": ["torchmetrics.image.lpip"],
    "fvd/cd-fvd": ["cdfvd.fvd"],
}


def child(args) -> None:
    import importlib

    import torch

    torch.set_num_threads(args.threads)
    paths = json.loads(args.paths)
    wdir = Path(args.wdir)
    side = next(s for i, s, _ in IMPLS[args.family] if i == args.impl)
    key = "hx" if side == "hx" else f"{args.family}/{args.impl.split()[0]}"
    for mod in PRE_IMPORTS.get(key, []):
        importlib.import_module(mod)
    rss0 = _vm_hwm_mib()
    t0, c0 = time.perf_counter(), os.times()
    value, extra = (run_hx(args.impl, paths, wdir) if side == "hx"
                    else run_peer(args.family, args.impl, paths, wdir))
    wall, c1 = time.perf_counter() - t0, os.times()
    cpu = (c1.user + c1.system + c1.children_user + c1.children_system) - \
        (c0.user + c0.system + c0.children_user + c0.children_system)
    print("RESULT " + json.dumps({"value": value, "wall_s": wall, "cpu_s": cpu, "rss_after_imports_mib": rss0,
                                  "peak_rss_mib": _vm_hwm_mib(),
                                  "torch": torch.__version__, **extra}))


def _vm_hwm_mib() -> float:
    """This process's peak resident set (VmHWM; ru_maxrss would carry the parent's peak across exec)."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- driver ----------------------------------------------------------------------------------------
def run_impl(python: str, family: str, impl: str, paths: dict, wdir: Path, threads: int, timeout: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), TORCH_HOME=str(wdir / "torch"), PYTHONWARNINGS="ignore",
               HF_HUB_OFFLINE="1", TQDM_DISABLE="1")
    cmd = [python, str(Path(__file__).resolve()), "--_child", "--family", family, "--impl", impl,
           "--paths", json.dumps(paths), "--wdir", str(wdir), "--threads", str(threads)]
    load0 = os.getloadavg()[0]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                           cwd=str(ROOT) if python == sys.executable else "/")
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s", "load_before": load0}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        return {"error": (p.stderr.strip().splitlines() or ["?"])[-1][:300], "load_before": load0}
    row = json.loads(lines[-1][len("RESULT "):])
    row.update(load_before=load0, load_after=os.getloadavg()[0])
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", nargs="+", choices=[*IMPLS, "sync"], default=[])
    ap.add_argument("--only", nargs="*", default=None, help="run only these implementations (names as printed)")
    ap.add_argument("--clips", type=int, default=64, help="videos per side")
    ap.add_argument("--frames", type=int, default=4,
                    help="frames per video for FID (PNG images) and SSIM/PSNR/LPIPS pairs; FVD uses 16")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--real", nargs=2, metavar=("GEN_DIR", "REF_DIR"), help="real videos instead of synthetic")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=1, help="alternate the implementations K times, keep each one's fastest")
    ap.add_argument("--peer-venv", type=Path, default=DEFAULT_VENV)
    ap.add_argument("--setup", action="store_true", help="create/reuse the peers' venv, then continue")
    ap.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "hxbench-peers")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per child")
    ap.add_argument("--json", type=Path, help="write the rows here (default WORKDIR/peers-<families>.json)")
    ap.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--impl", help=argparse.SUPPRESS)
    ap.add_argument("--paths", help=argparse.SUPPRESS)
    ap.add_argument("--wdir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        args.family = args.family[0]
        child(args)
        return 0
    if "sync" in args.family:  # the package's whole pipeline, in hxbench's venv (bench_sync.py)
        args.workdir.mkdir(parents=True, exist_ok=True)
        out = args.json if args.family == ["sync"] and args.json else args.workdir / "peers-sync.json"
        subprocess.run([sys.executable, str(ROOT / "bench" / "bench_sync.py"), "--videos", str(args.clips),
                        "--threads", str(args.threads), "--json", str(out)], check=True)
        args.family = [f for f in args.family if f != "sync"]
        if not args.family and not args.setup:
            return 0
    peer_py = args.peer_venv / "bin" / "python"
    if args.setup or not peer_py.exists():
        peer_py = setup_venv(args.peer_venv)
    if not args.family:
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    paths = write_inputs(args.workdir, args)
    wdir = export_weights(args.workdir)
    machine = {"cpu": _cpu_model(), "cores": os.cpu_count(), "threads": args.threads,
               "platform": platform.platform(), "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, {args.threads} thread(s) per side; "
          f"load {os.getloadavg()[0]:.2f}; inputs {args.clips} clips x {args.frames} frames "
          f"(FVD: x {FVD_FRAMES}) at {args.size} px, {'real: ' + ' vs '.join(args.real) if args.real else 'synthetic'}",
          flush=True)
    rows = []
    head = (f"{'family':9} {'implementation':30} {'value':>14} {'|diff| vs hx':>12} {'wall s':>8} {'CPU s':>8} "
            f"{'peak MiB':>8} {'+MiB':>6} {'CPU x':>6} {'mem x':>6} {'load':>9}")
    print(head, flush=True)
    for family in args.family:
        impls = [x for x in IMPLS[family] if args.only is None or x[1] == "hx" or x[0] in args.only]
        # --repeats K: the implementations alternate K times, so that load changes on a shared
        # machine hit every side; each keeps its fastest run (min CPU s and wall s, max peak RSS)
        runs: dict[str, list[dict]] = {impl: [] for impl, _, _ in impls}
        for _ in range(args.repeats):
            for impl, side, _ in impls:
                py = sys.executable if side == "hx" else str(peer_py)
                runs[impl].append(run_impl(py, family, impl, paths, wdir, args.threads, args.timeout))
        ref = None
        for impl, side, note in impls:
            ok = [x for x in runs[impl] if "error" not in x]
            if ok:
                r = dict(ok[0], wall_s=min(x["wall_s"] for x in ok), cpu_s=min(x["cpu_s"] for x in ok),
                         peak_rss_mib=max(x["peak_rss_mib"] for x in ok),
                         cpu_s_runs=[round(x["cpu_s"], 2) for x in ok],
                         load_before=min(x["load_before"] for x in ok), load_after=max(x["load_after"] for x in ok))
            else:
                r = runs[impl][0]
            row = {"family": family, "implementation": impl, "side": side, "note": note, "clips": args.clips,
                   "frames": FVD_FRAMES if family == "fvd" else args.frames, "size": args.size,
                   "inputs": "real" if args.real else "synthetic", "repeats": args.repeats, **machine, **r}
            if side == "hx" and "error" not in r:
                ref = row
            if ref is not None and "error" not in r and side != "hx":
                row.update(abs_diff=abs(r["value"] - ref["value"]),
                           rel_diff=abs(r["value"] - ref["value"]) / max(abs(ref["value"]), 1e-12),
                           cpu_ratio=r["cpu_s"] / ref["cpu_s"], wall_ratio=r["wall_s"] / ref["wall_s"],
                           mem_ratio=r["peak_rss_mib"] / ref["peak_rss_mib"])
            rows.append(row)
            if "error" in r:
                print(f"{family:9} {impl:30} ERROR {r['error']}", flush=True)
                continue
            diff = f"{row['abs_diff']:12.2e}" if "abs_diff" in row else f"{'-':>12}"
            cx = f"{row['cpu_ratio']:6.2f}" if "cpu_ratio" in row else f"{'-':>6}"
            mx = f"{row['mem_ratio']:6.2f}" if "mem_ratio" in row else f"{'-':>6}"
            grow = r["peak_rss_mib"] - r["rss_after_imports_mib"]
            print(f"{family:9} {impl:30} {r['value']:14.6f} {diff} {r['wall_s']:8.2f} {r['cpu_s']:8.2f} "
                  f"{r['peak_rss_mib']:8.0f} {grow:6.0f} {cx} {mx} {r['load_before']:4.1f}-{r['load_after']:4.1f}",
                  flush=True)
    print("\n+MiB: peak minus the resident set after the imports. CPU x / mem x (peak): peer / hxbench "
          "(above 1: hxbench uses less). Notes:")
    for family in args.family:
        for impl, side, note in IMPLS[family]:
            if side != "hx" and (args.only is None or impl in args.only):
                print(f"  {family}/{impl}: {note}")
    out = args.json or args.workdir / f"peers-{'-'.join(args.family)}.json"
    out.write_text(json.dumps(rows, indent=1))
    print(f"rows written to {out}")
    return 0


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


if __name__ == "__main__":
    sys.exit(main())
