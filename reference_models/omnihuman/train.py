"""Train the OmniHuman-style reference model: 3D VAE, then the MMDiT with the MM-branch warm-up.

    .venv/bin/python -m reference_models.omnihuman.train --manifest DATA/manifest.jsonl \
        --config tiny --out reference_models/omnihuman/checkpoints/tiny --vae-steps 800 \
        --dit-steps 400 350 500 --seed 0

Stages (OmniHuman-1.5 §3.3 "Symmetric Fusion and Warm-Up", in miniature):
  0. base: video + text branches only (audio always dropped) - stands in for the paper's
     pre-trained text-to-video model;
  1. warm-up: all three branches trained jointly, starting from the base;
  2. final: text and video branches re-initialised from the base (stage 0) weights, the audio
     branch from stage 1, then everything fine-tuned.
``--dit-steps`` names the steps of stages 0, 1 and 2; with ``--no-warmup`` it is one number, the
steps of a single joint stage (the ablation). ``--decoder-steps`` then fine-tunes only the VAE
decoder (the encoder is frozen, so the latents a DiT was trained on do not change); with
``--vae`` and ``--dit`` it upgrades the decoder of an existing checkpoint.

Every stage runs a fixed number of optimizer steps, and every random draw comes from ``--seed``,
so a run is reproducible step for step (on the same device and torch version). ``--max-minutes``
only caps the wall time: a stage past it stops early and says so, in the log and in
``train_config.json``. Every run writes ``vae.pt`` / ``dit.pt`` (fp16 state dicts),
``config.json``, ``train_config.json`` (arguments, data revision, steps and losses per stage,
torch version) and ``SHA256SUMS``. ``--threads 1`` shares a small machine politely.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import json
import random
import time
from pathlib import Path

import numpy as np
import torch

from .flow import FlowBatch, flow_loss
from .model import AUDIO, OmniConfig, OmniMMDiT, get_config, tokenize
from .vae import VideoVAE, frames_to_tensor, image_to_tensor, psnr


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_fp16(module: torch.nn.Module, path: Path) -> None:
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in module.state_dict().items()}
    torch.save(sd, path)


def load_fp32(module: torch.nn.Module, path: Path) -> torch.nn.Module:
    sd = torch.load(path, map_location="cpu", weights_only=True)
    module.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
    return module


# ---------------------------------------------------------------------------------------------
def optimise(name: str, opt: torch.optim.Optimizer, steps: int, loss_fn, log=print,
             deadline: float | None = None, lr_decay: bool = False, log_every: int = 50) -> dict:
    """``steps`` optimizer steps on ``loss_fn()`` (gradients clipped to norm 1). ``lr_decay``:
    the learning rate falls linearly to 10 % over the planned steps, so a run cut short by
    ``deadline`` (a time.time()) is a prefix of the full run."""
    params = [p for g in opt.param_groups for p in g["params"]]
    lr0 = [g["lr"] for g in opt.param_groups]
    losses: list[float] = []
    t0 = time.time()
    for step in range(steps):
        if deadline is not None and time.time() > deadline:
            log(f"{name}: --max-minutes reached, stopping after {step} of {steps} steps")
            break
        if lr_decay:
            for g, lr in zip(opt.param_groups, lr0):
                g["lr"] = lr * (1.0 - 0.9 * step / steps)
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.item())
        if (step + 1) % log_every == 0:
            log(f"{name} step {step + 1} loss {np.mean(losses[-log_every:]):.4f}")
    seconds = time.time() - t0
    return {"stage": name, "steps": len(losses), "planned_steps": steps,
            "stopped_early": len(losses) < steps, "seconds": round(seconds, 1),
            "steps_per_s": len(losses) / max(seconds, 1e-9),
            "final_loss": float(np.mean(losses[-log_every:])) if losses else None}


# ---------------------------------------------------------------------------------------------
# VAE
# ---------------------------------------------------------------------------------------------
def video_ref(v) -> np.ndarray:
    """The reference image (uint8 (S, S, 3)) a vae_ref decoder sees for a training video: the
    manifest sample's reference image when it has one (what the pipeline decodes with: in hx-synth
    the identity photo the video was rendered from), else the video's first frame."""
    ref = getattr(v, "ref", None)
    return v.frames[0] if ref is None else ref


def ref_batch(videos) -> torch.Tensor:
    """(len(videos), 3, S, S) in [-1, 1]: each video's ``video_ref``."""
    return torch.cat([image_to_tensor(video_ref(v)) for v in videos])


def _vae_batch(videos, rng: random.Random, batch: int, clip: int, cfg: OmniConfig,
               with_ref: bool = False):
    """``batch`` random windows of ``clip`` frames (starting on a latent-frame boundary), each
    made static with p 0.1 (the reference image is encoded as a static clip) -> [batch, 3, clip, H, W];
    ``with_ref``: (that, the windows' videos' references (batch, 3, H, W)), the same draws."""
    xs, vs = [], []
    for _ in range(batch):
        v = rng.choice(videos)
        f0 = rng.randrange(0, (len(v.frames) - clip) // cfg.vae_tf + 1) * cfg.vae_tf
        x = frames_to_tensor(v.frames[f0:f0 + clip])
        if rng.random() < 0.1:
            x = x[:, :, :1].expand_as(x)
        xs.append(x)
        vs.append(v)
    return (torch.cat(xs), ref_batch(vs)) if with_ref else torch.cat(xs)


def train_vae(videos, cfg: OmniConfig, steps: int, batch: int = 3, clip: int | None = None,
              lr: float = 2e-3, seed: int = 0, log=print, init: str | None = None,
              deadline: float | None = None):
    """Clips of ``clip`` frames (default cfg.clip_frames: shorter clips teach the decoder to
    lean on the temporal zero padding and it then decodes long sequences badly)."""
    clip = clip or cfg.clip_frames
    torch.manual_seed(seed)
    rng = random.Random(seed)
    vae = VideoVAE(cfg)
    if init:
        load_fp32(vae, Path(init))
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)

    def loss_fn() -> torch.Tensor:
        x, ref = _vae_batch(videos, rng, batch, clip, cfg, with_ref=True)
        return vae.loss(x, ref=ref)[0]

    info = optimise("vae", opt, steps, loss_fn, log, deadline, lr_decay=True)
    # latent normalisation from the data
    vae.eval()
    with torch.no_grad():
        zs = [vae.encode_dist(frames_to_tensor(v.frames[:cfg.clip_frames]))[0] for v in videos[:32]]
        z = torch.cat([t.flatten() for t in zs])
        vae.lat_shift.fill_(z.mean())
        vae.lat_scale.fill_(1.0 / z.std().clamp_min(1e-6))
    return vae, info


def finetune_decoder(vae: VideoVAE, videos, steps: int, batch: int = 3, lr: float = 1e-3,
                     seed: int = 0, log=print, deadline: float | None = None):
    """Train only the decoder on the frozen encoder's mean latents (L1 + MSE, lr decaying
    linearly to 10 %), ``clip`` = cfg.clip_frames windows. The encoder, lat_shift and lat_scale
    are untouched, so a DiT trained on this VAE's latents stays valid with the new decoder."""
    cfg = vae.cfg
    torch.manual_seed(seed)
    rng = random.Random(seed)
    vae.eval()
    for p in vae.encoder.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(vae.decoder_parameters(), lr=lr, weight_decay=0.0)

    def loss_fn() -> torch.Tensor:
        x, ref = _vae_batch(videos, rng, batch, cfg.clip_frames, cfg, with_ref=True)
        with torch.no_grad():
            z = vae.encode_dist(x)[0]
        rec = vae._dec(z, ref)
        return (rec - x).abs().mean() + torch.nn.functional.mse_loss(rec, x)

    info = optimise("decoder", opt, steps, loss_fn, log, deadline, lr_decay=True)
    for p in vae.encoder.parameters():
        p.requires_grad_(True)
    return vae.eval(), info


@torch.no_grad()
def encode_videos(vae: VideoVAE, videos, chunk: int = 64) -> list[torch.Tensor]:
    """Latents (C, T/tf, h, w) per video (encoded in chunks of ``chunk`` frames)."""
    out = []
    for v in videos:
        parts = [vae.encode(frames_to_tensor(v.frames[i:i + chunk]))[0]
                 for i in range(0, len(v.frames), chunk)]
        out.append(torch.cat(parts, 1))
    return out


@torch.no_grad()
def vae_psnr(vae: VideoVAE, videos, n: int = 8, length: int = 32) -> float:
    """Mean PSNR (dB) of encode->decode over the first ``length`` frames of ``n`` videos."""
    vals = []
    for v in videos[:n]:
        x = frames_to_tensor(v.frames[:length])
        vals.append(psnr(vae.decode(vae.encode(x), ref=ref_batch([v])), x))
    return float(np.mean(vals))


# ---------------------------------------------------------------------------------------------
# DiT
# ---------------------------------------------------------------------------------------------
class WindowSampler:
    def __init__(self, videos, latents, cfg: OmniConfig, seed: int = 0) -> None:
        self.videos, self.latents, self.cfg = videos, latents, cfg
        self.rng = random.Random(seed)
        self.need = cfg.latent_frames + cfg.max_last_gap

    def batch(self, B: int) -> FlowBatch:
        cfg = self.cfg
        lats, texts, mels = [], [], []
        for _ in range(B):
            i = self.rng.randrange(len(self.videos))
            lat = self.latents[i]
            f = self.rng.randrange(0, lat.shape[1] - self.need + 1)
            lats.append(lat[:, f:f + self.need])
            a = f * cfg.vae_tf
            mels.append(torch.as_tensor(self.videos[i].mel[a:a + cfg.clip_frames]))
            shots = self.videos[i].shot_texts
            texts.append(shots[min(a // cfg.clip_frames, len(shots) - 1)])
        ids, mask = tokenize(texts, cfg)
        return FlowBatch(torch.stack(lats), ids, mask, torch.stack(mels))


def _to(batch: FlowBatch, device: str) -> FlowBatch:
    return FlowBatch(*(getattr(batch, f).to(device) for f in ("latents", "text_ids", "text_mask", "audio")))


def run_stage(model, sampler, steps, batch, lr, seed, log, name, drop_audio=None,
              device: str = "cpu", step_fn=None, deadline: float | None = None):
    """``steps`` steps of the flow loss at a constant learning rate. On CUDA the forward runs
    under bf16 autocast; ``step_fn`` (e.g. a torch.compile'd model) replaces ``model`` in the
    loss if given."""
    cfg = model.cfg
    saved = cfg.p_drop_audio
    if drop_audio is not None:
        cfg.p_drop_audio = drop_audio
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    g = torch.Generator().manual_seed(seed)
    model.train()
    net = step_fn or model
    cuda = device.startswith("cuda")

    def loss_fn() -> torch.Tensor:
        b = _to(sampler.batch(batch), device)
        with torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext():
            return flow_loss(net, b, generator=g)

    info = optimise(name, opt, steps, loss_fn, log, deadline, log_every=100)
    cfg.p_drop_audio = saved
    return {**info, "device": device}


def stage2_state(base: dict, warmed: OmniMMDiT) -> dict:
    """Stage-2 initialisation: text and video branches from the base (stage 0) state dict,
    the audio branch from the warmed-up (stage 1) model."""
    sd = {k: v.clone() for k, v in base.items()}
    sd.update({k: v.clone() for k, v in warmed.branch_state(AUDIO).items()})
    return sd


def train_dit(videos, latents, cfg: OmniConfig, steps: list[int], batch: int = 8, lr: float = 1e-3,
              seed: int = 0, warmup: bool = True, log=print, device: str = "cpu",
              compile: bool = False, init: str | None = None, deadline: float | None = None):
    """``steps``: [stage 0, stage 1, stage 2] with ``warmup``, else [joint]. ``init``: continue
    from this dit.pt (then ``warmup`` should be False: one joint stage)."""
    if len(steps) != (3 if warmup else 1):
        raise ValueError(f"steps {steps}: need 3 counts (stages 0, 1, 2) with the warm-up, 1 without")
    torch.manual_seed(seed)
    sampler = WindowSampler(videos, latents, cfg, seed)
    model = OmniMMDiT(cfg)
    if init:
        load_fp32(model, Path(init))
    model = model.to(device)
    net = torch.compile(model) if compile else None
    kw = dict(device=device, step_fn=net, deadline=deadline)
    stages = []
    if not warmup:
        stages.append(run_stage(model, sampler, steps[0], batch, lr, seed, log, "joint", **kw))
        return model.cpu(), stages
    stages.append(run_stage(model, sampler, steps[0], batch, lr, seed, log, "0-base", drop_audio=1.0, **kw))
    base = copy.deepcopy(model.state_dict())
    stages.append(run_stage(model, sampler, steps[1], batch, lr, seed + 1, log, "1-warmup", **kw))
    model.load_state_dict(stage2_state(base, model))
    stages.append(run_stage(model, sampler, steps[2], batch, lr * 0.5, seed + 2, log, "2-finetune", **kw))
    return model.cpu(), stages


# ---------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", required=True, help="hxbench manifest of talking videos")
    ap.add_argument("--config", default="tiny")
    ap.add_argument("--out", required=True)
    ap.add_argument("--vae-steps", type=int, default=800)
    ap.add_argument("--dit-steps", type=int, nargs="+", default=[400, 350, 500],
                    help="steps of DiT stages 0, 1, 2 (one number with --no-warmup; 0: no training)")
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="optional wall-clock cap on the whole run: stages stop early (and say so)")
    ap.add_argument("--vae", help="reuse a trained vae.pt instead of training one")
    ap.add_argument("--vae-init", help="continue training the VAE from this vae.pt")
    ap.add_argument("--decoder-steps", type=int, default=0,
                    help="then fine-tune only the VAE decoder (encoder frozen: latents unchanged)")
    ap.add_argument("--dit-init", help="continue training the DiT from this dit.pt (use with "
                                       "--no-warmup and the VAE it was trained with)")
    ap.add_argument("--dit", help="reuse a trained dit.pt (trained on this VAE's latents) "
                                  "instead of training one")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--max-videos", type=int, default=None)
    ap.add_argument("--no-warmup", action="store_true", help="single joint stage (ablation)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu | cuda (DiT in bf16 autocast on CUDA)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the DiT")
    args = ap.parse_args(argv)
    if args.dit_steps == [0]:
        args.dit_steps = [0] * (1 if args.no_warmup else 3)
    if len(args.dit_steps) != (1 if args.no_warmup else 3):
        ap.error("--dit-steps: three counts (stages 0, 1, 2), or one with --no-warmup")
    torch.set_num_threads(args.threads)
    cfg = get_config(args.config)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    deadline = t0 + args.max_minutes * 60 if args.max_minutes else None
    from hxbench.io.manifest import manifest_revision

    from .data import load_videos

    videos = load_videos(args.manifest, cfg, max_videos=args.max_videos)
    if not videos:
        raise SystemExit(f"{args.manifest}: no usable talking videos (need >= "
                         f"{cfg.clip_frames + cfg.max_last_gap * cfg.vae_tf} frames)")
    print(f"{len(videos)} videos, {sum(len(v.frames) for v in videos)} frames "
          f"({time.time() - t0:.0f} s to load)", flush=True)
    log = lambda s: print(s, flush=True)  # noqa: E731
    info = {"args": vars(args), "data_revision": manifest_revision(Path(args.manifest)),
            "n_videos": len(videos), "torch": torch.__version__}
    if args.vae:
        vae = load_fp32(VideoVAE(cfg), Path(args.vae)).eval()
        info["vae"] = {"reused": args.vae, "sha256": sha256(Path(args.vae))}
    else:
        vae, vinfo = train_vae(videos, cfg, args.vae_steps, seed=args.seed, log=log,
                               init=args.vae_init, deadline=deadline)
        if args.vae_init:
            vinfo["init"] = {"path": args.vae_init, "sha256": sha256(Path(args.vae_init))}
        info["vae"] = vinfo
    info["vae"]["psnr_db_first_32_frames"] = vae_psnr(vae, videos)
    log(f"vae psnr {info['vae']['psnr_db_first_32_frames']:.2f} dB")
    if args.decoder_steps > 0:
        vae, dinfo = finetune_decoder(vae, videos, args.decoder_steps, seed=args.seed, log=log,
                                      deadline=deadline)
        dinfo["psnr_db_first_32_frames"] = vae_psnr(vae, videos)
        info["vae"]["decoder_finetune"] = dinfo
        log(f"vae psnr after decoder fine-tuning {dinfo['psnr_db_first_32_frames']:.2f} dB")
    save_fp16(vae, out / "vae.pt")
    if args.dit:
        model = load_fp32(OmniMMDiT(cfg), Path(args.dit))
        info["dit"] = {"reused": args.dit, "sha256": sha256(Path(args.dit))}
    else:
        latents = encode_videos(vae.eval(), videos)
        model, stages = train_dit(videos, latents, cfg, args.dit_steps, args.batch, args.lr,
                                  args.seed, warmup=not args.no_warmup, log=log, device=args.device,
                                  compile=args.compile, init=args.dit_init, deadline=deadline)
        info["dit"] = stages
        if args.dit_init:
            info["dit_init"] = {"path": args.dit_init, "sha256": sha256(Path(args.dit_init))}
    save_fp16(model, out / "dit.pt")
    info["wall_minutes"] = (time.time() - t0) / 60
    (out / "config.json").write_text(cfg.to_json() + "\n")
    (out / "train_config.json").write_text(json.dumps(info, indent=1, default=str) + "\n")
    sums = "".join(f"{sha256(out / n)}  {n}\n" for n in ("vae.pt", "dit.pt", "config.json"))
    (out / "SHA256SUMS").write_text(sums)
    print(sums, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
