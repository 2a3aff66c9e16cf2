"""The VAE ceiling: ground-truth videos through a checkpoint's VAE, written as an outputs folder.

    .venv/bin/python -m reference_models.omnihuman.vae_recon \
        --manifest DATA/lip_sync/test.jsonl --out runs/lip_sync/vae-recon/outputs
    .venv/bin/python -m hxbench run --task lip_sync --data DATA \
        --model folder:runs/lip_sync/vae-recon/outputs --run-dir runs/lip_sync/vae-recon

Each sample's reference video goes the way a generated video comes out of the model, minus the
generator: resized to the model's square frame (``resize_frames``, as in training), encoded to
the latents' mean, decoded, resized back to the task's size (``resize_video``, as the adapter
does) and written with the driving audio. Scored with the task's metrics, this row is what the
OmniHuman-style model would reach with a perfect DiT (one that produced exactly the ground
truth's latents), so the model's gap to the ground truth splits into the VAE's part (this row)
and the generator's part (the rest). A ``vae_ref`` VAE decodes with the sample's reference image,
resized as the pipeline resizes it (the photo an adapter is given, not a ground-truth frame).
``--no-vae`` skips the encode/decode and keeps only the
resizing: the part of the ceiling that the 64-px working resolution alone costs.

This is not an adapter: an adapter never sees a sample's ground truth (``hxbench.adapters``),
and this row is made from nothing else. ``hxbench demo`` writes it the way it writes the
ground-truth row (the ``vae-recon`` row of the lip_sync table).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from .data import SR, resize_frames
from .pipeline import DEFAULT_CKPT, resize_video
from .train import load_fp32
from .model import OmniConfig
from .vae import VideoVAE, frames_to_tensor, image_to_tensor, tensor_to_frames

HXSYNTH_CKPT = DEFAULT_CKPT.parent / "tiny-hxsynth"


def load_vae(ckpt_dir: str | Path = HXSYNTH_CKPT) -> VideoVAE:
    ckpt = Path(ckpt_dir)
    cfg = OmniConfig.from_dict(json.loads((ckpt / "config.json").read_text()))
    return load_fp32(VideoVAE(cfg), ckpt / "vae.pt").eval()


@torch.no_grad()
def reconstruct(vae: VideoVAE | None, frames: np.ndarray, size: int, out_hw: tuple[int, int],
                ref: np.ndarray | None = None) -> np.ndarray:
    """uint8 (T, H, W, 3) -> uint8 (T, h, w, 3): resize to ``size``, VAE round trip (skipped when
    ``vae`` is None), resize to ``out_hw`` = (h, w). T is padded to a multiple of the VAE's
    time factor by repeating the last frame, and the padding dropped after decoding. ``ref``:
    the reference image, uint8 (H', W', 3), resized as the pipeline does; a vae_ref VAE needs it."""
    small = resize_frames(frames, size)
    if vae is not None:
        T = len(small)
        tf = vae.cfg.vae_tf
        pad = (-T) % tf
        if pad:
            small = np.concatenate([small, np.repeat(small[-1:], pad, 0)])
        x = frames_to_tensor(small)                      # (1, 3, T', S, S)
        r = None if ref is None else image_to_tensor(resize_frames(np.asarray(ref)[None], size)[0])
        small = tensor_to_frames(vae.decode(vae.encode(x), ref=r)[0])[:T]
    h, w = out_hw
    return resize_video(small, w - w % 2, h - h % 2)


def write_folder(manifest_path: str | Path, out: str | Path, ckpt_dir: str | Path = HXSYNTH_CKPT,
                 use_vae: bool = True, progress=print) -> Path:
    """Reconstruct every sample's reference video of a manifest into ``out/<sample_id>.mp4``
    (existing files are kept: resumable)."""
    from hxbench.io.manifest import load_manifest
    from hxbench.io.media import read_audio, read_image, read_video, write_video
    from hxbench.paths import output_path

    vae = load_vae(ckpt_dir)
    cfg = vae.cfg
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    man = load_manifest(manifest_path)
    for s in man.samples:
        target = output_path(out, s)
        if target.is_file() or not s.reference_video:
            continue
        fps = s.expected.fps or cfg.fps
        frames = read_video(man.resolve(s.reference_video), fps=fps)
        h = s.expected.height or frames.shape[1]
        w = s.expected.width or frames.shape[2]
        ref = None
        if use_vae and cfg.vae_ref:
            if not s.reference_image:
                raise ValueError(f"sample {s.sample_id}: a vae_ref VAE decodes with the reference image; none given")
            ref = read_image(man.resolve(s.reference_image))
        rec = reconstruct(vae if use_vae else None, frames, cfg.image_size, (h, w), ref)
        audio = read_audio(man.resolve(s.driving_audio), SR) if s.driving_audio else None
        tmp = target.with_name(f".{target.stem}.part{target.suffix}")
        write_video(tmp, rec, fps, audio=audio)
        tmp.replace(target)
        progress(f"{s.sample_id}: {len(rec)} frames")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", required=True, help="task manifest whose reference videos to reconstruct")
    ap.add_argument("--out", required=True, help="outputs folder (score it with --model folder:OUT)")
    ap.add_argument("--checkpoint", default=str(HXSYNTH_CKPT), help="checkpoint folder with vae.pt")
    ap.add_argument("--no-vae", action="store_true", help="resize only (the resolution's share)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    write_folder(args.manifest, args.out, args.checkpoint, use_vae=not args.no_vae)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
