"""Training of the HumanExpert reference model (paper §3.2, eq. 6).

L = lambda_LM * L_LM + lambda_DF * L_DF. Paper setting (``--mode frozen``): the text-speech expert
is frozen and lambda_LM = 0; only the behaviour expert learns, by diffusion forcing (per-token
independent noise levels, eps-prediction, condition dropout p = 0.1 for CFG), AdamW.

Data are ``data.Example`` objects: a prefix of unified-vocabulary token ids (text / speech /
special), optional LM targets, and optionally a behaviour array [T, D] whose frame j has the RoPE
position ``m_pos0 + j`` (time-aligned: for speech-driven samples m_pos0 is the position of the
first speech token, which is the speech token of frame 0). ``--data`` picks the builder
(``load_training_data``): ``data.toy_bundle`` or the hx-synth readers of ``hxsynth_data.py``.

Usage (reproduces the committed checkpoint; see README.md)::

    python -m reference_models.humanexpert.train --size tiny --data hxsynth:<dir> --steps 3000 \
        --out reference_models/humanexpert/checkpoints/humanexpert-tiny
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from reference_models.humanexpert import hxsynth_data
from reference_models.humanexpert.data import Example, TrainingBundle, toy_bundle
from reference_models.humanexpert.model import HumanExpert, HumanExpertConfig, get_config, save_checkpoint
from reference_models.humanexpert.sampler import NoiseSchedule, diffusion_forcing_loss, sample_training_levels


@dataclass
class Batch:
    tokens: torch.Tensor  # [B, L]
    valid: torch.Tensor  # [B, L]
    lm_mask: torch.Tensor  # [B, L]
    x0: torch.Tensor | None = None  # [B, T, D]
    m_pos: torch.Tensor | None = None  # [B, T]
    m_valid: torch.Tensor | None = None  # [B, T]


def collate(exs: list[Example], pad: int, window: int | None = None, rng: random.Random | None = None) -> Batch:
    """Right-pad tokens; crop behaviour to ``window`` frames (random offset, positions shifted)."""
    L = max(len(e.tokens) for e in exs)
    B = len(exs)
    tok = torch.full((B, L), pad, dtype=torch.long)
    valid = torch.zeros(B, L, dtype=torch.bool)
    lm = torch.zeros(B, L, dtype=torch.bool)
    for i, e in enumerate(exs):
        tok[i, : len(e.tokens)] = torch.tensor(e.tokens)
        valid[i, : len(e.tokens)] = True
        if e.lm_mask is not None:
            lm[i, : len(e.tokens)] = torch.tensor(e.lm_mask)
    if exs[0].behaviour is None:
        return Batch(tok, valid, lm)
    T = window or max(e.behaviour.shape[0] for e in exs)
    D = exs[0].behaviour.shape[1]
    x0 = torch.zeros(B, T, D)
    mpos = torch.zeros(B, T, dtype=torch.long)
    mval = torch.zeros(B, T, dtype=torch.bool)
    for i, e in enumerate(exs):
        n = e.behaviour.shape[0]
        off = 0 if n <= T or rng is None else rng.randrange(0, n - T + 1)
        seg = e.behaviour[off: off + T]
        x0[i, : len(seg)] = torch.from_numpy(np.asarray(seg, dtype=np.float32))
        mpos[i] = e.m_pos0 + off + torch.arange(T)
        mval[i, : len(seg)] = True
    return Batch(tok, valid, lm, x0, mpos, mval)


# --------------------------------------------------------------------------- LoRA / shared network


class LoRALinear(nn.Module):
    """y = W x + (alpha / r) B A x with W frozen (Hu et al. 2022)."""

    def __init__(self, base: nn.Linear, r: int = 8, alpha: float = 16.0) -> None:
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.A = nn.Parameter(torch.randn(r, base.in_features) / math.sqrt(base.in_features))
        self.B = nn.Parameter(torch.zeros(base.out_features, r))
        self.scale = alpha / r

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.A.T @ self.B.T) * self.scale


def add_lora(module: nn.Module, r: int = 8) -> int:
    """Wrap every nn.Linear inside ``module`` (except heads) with LoRA; returns #wrapped."""
    n = 0
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Linear) and name not in ("lm_head",):
            setattr(module, name, LoRALinear(child, r))
            n += 1
        else:
            n += add_lora(child, r)
    return n


def share_network(model: HumanExpert) -> None:
    """Ablation (b)/(c): one shared network. Behaviour tokens go through the text-speech layers
    (in/out projections and noise-level MLP resized to d_ts); no separate behaviour expert."""
    cfg = model.cfg
    d = cfg.d_ts
    model.m.in_proj = nn.Linear(cfg.behaviour_dim, d)
    model.m.t_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
    model.m.layers = model.ts.layers
    model.m.norm = model.ts.norm
    model.m.out_proj = nn.Linear(d, cfg.behaviour_dim)
    if model.m.align is not None:
        model.m.align = nn.Linear(cfg.d_ts, d)
    for mod in (model.m.in_proj, model.m.t_mlp, model.m.out_proj, model.m.align):
        if mod is not None:
            mod.apply(HumanExpert._init)


# --------------------------------------------------------------------------- losses / loops


def lm_loss(model: HumanExpert, b: Batch) -> torch.Tensor:
    ctx = model.ts_forward(b.tokens, valid=b.valid)
    logits = ctx.logits[:, :-1]
    tgt = b.tokens[:, 1:]
    m = b.lm_mask[:, 1:] & b.valid[:, 1:]
    if not m.any():
        return logits.sum() * 0
    return nn.functional.cross_entropy(logits[m].float(), tgt[m])


def df_loss(model: HumanExpert, b: Batch, sched: NoiseSchedule, gen: torch.Generator, p_drop: float = 0.1,
            history_clean_prob: float = 0.25) -> torch.Tensor:
    B, T, _ = b.x0.shape
    keep = torch.rand(B, generator=gen) >= p_drop
    ctx = model.encode_context(b.tokens, valid=b.valid)
    levels = sample_training_levels(B, T, model.cfg.n_levels, gen, model.cfg.chunk_size, history_clean_prob)
    noise = torch.randn(b.x0.shape, generator=gen)
    dev = next(model.parameters()).device
    fn = lambda x, lv: model.denoise(x, lv.to(dev), b.m_pos.to(dev), ctx, cond_keep=keep.to(dev))  # noqa: E731
    return diffusion_forcing_loss(fn, b.x0.to(dev), levels.to(dev), sched, noise.to(dev), b.m_valid.to(dev))


def to_device(b: Batch, dev: torch.device) -> Batch:
    return Batch(*[None if t is None else t.to(dev) for t in (b.tokens, b.valid, b.lm_mask, b.x0, b.m_pos, b.m_valid)])


def train(
    model: HumanExpert,
    examples: list[Example],
    steps: int,
    *,
    objective: str = "df",  # "df" (behaviour) or "lm" (text-speech pre-training)
    lam_lm: float = 0.0,
    lm_examples: list[Example] | None = None,
    batch_size: int = 16,
    lr: float = 1e-3,
    window: int | None = 50,
    seed: int = 0,
    p_drop: float = 0.1,
    log_every: int = 100,
    max_seconds: float | None = None,
    log=print,
) -> list[float]:
    """``steps`` AdamW steps over the trainable parameters (warm-up, then cosine decay over the
    planned steps, so a run cut short by ``max_seconds`` is a prefix of the full run). Returns
    the per-step losses."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    dev = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    sched = NoiseSchedule(model.cfg.n_levels)
    pad = model.cfg.special("<pad>")
    warm = max(1, min(200, steps // 10))
    losses: list[float] = []
    t0 = time.time()
    amp = dev.type == "cuda"
    model.train()
    for step in range(steps):
        for g in opt.param_groups:  # linear warm-up, cosine decay
            g["lr"] = lr * min(1.0, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * step / steps))
        b = to_device(collate(rng.sample(examples, min(batch_size, len(examples))), pad, window, rng), dev)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            if objective == "lm":
                loss = lm_loss(model, b)
            else:
                loss = df_loss(model, b, sched, gen, p_drop)
                if lam_lm > 0 and lm_examples:
                    bl = to_device(collate(rng.sample(lm_examples, min(batch_size, len(lm_examples))), pad), dev)
                    loss = loss + lam_lm * lm_loss(model, bl)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        if log and (step % log_every == 0 or step == steps - 1):
            log(f"step {step:5d} loss {np.mean(losses[-log_every:]):.4f} ({time.time() - t0:.0f}s)")
        if max_seconds is not None and time.time() - t0 > max_seconds:
            if log:
                log(f"--max-minutes reached: stopping after {step + 1} of {steps} steps")
            break
    model.eval()
    return losses


def load_training_data(spec: str, seed: int = 0, **kw) -> TrainingBundle:
    """``toy``, ``hxsynth-gen`` or ``hxsynth:<dir>[,<dir>...]``; ``kw`` go to
    ``hxsynth_data.bundle_from_hxsynth`` (``gen``, ``tokenizers``)."""
    if spec == "toy":
        return toy_bundle(seed)
    if spec == "hxsynth-gen":
        return hxsynth_data.bundle_from_generators(seed)
    if spec.startswith("hxsynth:"):
        return hxsynth_data.bundle_from_hxsynth(spec.split(":", 1)[1], seed, **kw)
    if kw:
        raise ValueError(f"options {sorted(kw)} only apply to hxsynth:<dir> data")
    raise ValueError(f"unknown data source {spec!r}; use 'toy' or 'hxsynth:<dir>'")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="tiny")
    ap.add_argument("--data", required=True, help="hxsynth:<dir> (hx-synth build) or toy")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lm-steps", type=int, default=1500, help="text-speech pre-training steps (QA corpus)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--window", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="optional wall-clock cap on training (30 %% of it for LM pre-training): a "
                         "stage past it stops early and says so (the steps done are recorded)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--compile", action="store_true", help="torch.compile (CUDA)")
    ap.add_argument("--save-dtype", default="float32", choices=["float32", "float16", "bfloat16"],
                    help="dtype of the saved state dict (float16 keeps a committed checkpoint small)")
    ap.add_argument("--gen", default=None, metavar="SEED:N_LIP:N_CMD",
                    help="add render-free hx-synth lip-sync / command samples (hxsynth_data.generate_hxsynth); "
                         "use a seed no evaluated build has")
    ap.add_argument("--init-from", default=None, metavar="CHECKPOINT",
                    help="reuse this checkpoint's tokenizers and text-speech expert (frozen, bit-identical: QA "
                         "unchanged) and train a new behaviour expert; use with --lm-steps 0")
    ap.add_argument("--no-align-context", action="store_true",
                    help="ablation: behaviour input without the position-aligned text/speech embedding "
                         "(speech reaches the behaviour expert through shared attention only, as in the paper)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0, c0 = time.time(), time.process_time()
    kw = {}
    if a.gen:
        kw["gen"] = tuple(int(v) for v in a.gen.split(":"))
    base = None
    if a.init_from:
        from reference_models.humanexpert.model import load_checkpoint
        from reference_models.humanexpert.tokenizers import ByteBPE, SpeechTokenizer

        base, base_meta = load_checkpoint(a.init_from)
        bp = Path(a.init_from)
        kw["tokenizers"] = (ByteBPE.load(bp.parent / (bp.name + ".bpe.json")),
                            SpeechTokenizer.from_state_dict(torch.load(bp.parent / (bp.name + ".speech.pt"), weights_only=True)))
    bundle = load_training_data(a.data, seed=a.seed, **kw)
    data_seconds, data_cpu = time.time() - t0, time.process_time() - c0
    t0, c0 = time.time(), time.process_time()  # --max-minutes bounds training, not data preparation
    overrides = {"text_vocab": bundle.bpe.vocab_size, "speech_vocab": bundle.speech.K,
                 "behaviour_dim": bundle.behaviour_dim}
    if a.no_align_context:
        overrides["align_context"] = False
    cfg = get_config(a.size, **overrides)
    torch.manual_seed(a.seed)  # deterministic initialisation (train() re-seeds for the data order)
    model = HumanExpert(cfg)
    if base is not None:  # frozen text-speech expert taken over unchanged
        if base.cfg.vocab_size != cfg.vocab_size or base.cfg.d_ts != cfg.d_ts:
            raise ValueError(f"--init-from {a.init_from}: text-speech expert sizes differ from --size {a.size}")
        model.ts.load_state_dict(base.ts.state_dict())
        a.init_from_sha256 = base_meta.get("sha256")
    model = model.to(a.device)
    if a.compile:
        model = torch.compile(model)  # type: ignore[assignment]
    budget = a.max_minutes * 60 if a.max_minutes else None
    lm_losses = train(model, bundle.lm_examples, a.lm_steps, objective="lm", lr=a.lr, window=None, seed=a.seed,
                      batch_size=a.batch_size, max_seconds=budget and budget * 0.3)
    model.freeze_text_speech(True)
    df_losses = train(model, bundle.behaviour_examples, a.steps, objective="df", lr=a.lr, window=a.window,
                      seed=a.seed + 1, batch_size=a.batch_size, max_seconds=budget and budget - (time.time() - t0))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    bundle.save_tokenizers(out)
    info = save_checkpoint(model, out, dtype=getattr(torch, a.save_dtype) if a.save_dtype != "float32" else None, extra={
        "training": {**vars(a), "lm_steps_done": len(lm_losses), "df_steps_done": len(df_losses),
                     "final_lm_loss": float(np.mean(lm_losses[-50:])) if lm_losses else None, "final_df_loss": float(np.mean(df_losses[-50:])) if df_losses else None,
                     "seconds": round(time.time() - t0, 1), "cpu_seconds": round(time.process_time() - c0, 1),
                     "data_seconds": round(data_seconds, 1), "data_cpu_seconds": round(data_cpu, 1),
                     "torch": torch.__version__},
        "data": bundle.describe(),
        "behaviour_norm": bundle.behaviour_norm,
        "fps": bundle.fps,
        "tokenizers": {"text": out.name + ".bpe.json", "speech": out.name + ".speech.pt"},
    })
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
