"""HumanExpert-style mixture-of-transformers (paper §3.1, eqs. 1-2).

Two experts with the same layer structure and independent parameters:

* **text-speech expert** (``TSExpert``): decoder-only transformer over a unified vocabulary
  (text BPE ids, then speech-codebook ids, then special tokens); causal; KV cache.
* **behaviour expert** (``BehaviourExpert``): own hidden size ``d_m``, own norms, QKV/O
  projections and SwiGLU FFNs; its input is a continuous behaviour vector per video frame
  (``behaviour_dim`` values, e.g. head pose + landmark offsets, or the 271-d whole-body
  vector) plus the diffusion noise level of that token; its output is the predicted noise ε.

Shared attention: in every layer the Q/K/V of each modality come from that modality's own
projections; all tokens are attended jointly under the *hybrid mask* (``hybrid_mask``):

* text/speech queries: causal, only text/speech keys (never behaviour);
* behaviour queries: every (valid, not dropped) text/speech key, every behaviour key of
  the same chunk (bidirectional) and of past chunks, never a future chunk.

This is a prefix-LM mask with all text/speech tokens first, so text/speech hidden states
never depend on behaviour: ``encode_context`` runs the text-speech expert once and caches its
per-layer K/V, and every behaviour denoising pass (``denoise``) attends to that cache.
``forward_joint`` computes the same thing literally (one joint attention over the
concatenated sequence with the full mask) and is kept as the reference the tests compare with.

Positions: RoPE positions are explicit inputs. Give behaviour frame j the position of its
time-aligned speech token (see ``../shared/design/reference-models.md``: time-aligned
positions decide lip sync).

Shapes: tokens [B, L] int64; ts_pos [B, L] int64; ts_valid [B, L] bool;
behaviour x [B, T, D] float; levels [B, T] int64 in [0, K] (0 = clean, K = pure noise);
m_pos [B, T] int64; m_index [B, T] or [T] int64 frame index in the behaviour stream
(chunk id = m_index // chunk_size); cond_keep [B] bool (False = text/speech context dropped,
for classifier-free guidance).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

# --------------------------------------------------------------------------- config


@dataclass
class HumanExpertConfig:
    """Sizes of both experts. ``n_heads``/``n_kv_heads``/``head_dim`` are shared (joint attention)."""

    name: str = "custom"
    n_layers: int = 4
    d_ts: int = 128  # text-speech hidden size
    d_m: int = 64  # behaviour hidden size
    d_ff_ts: int = 384  # SwiGLU inner size (each of gate/up)
    d_ff_m: int = 192
    n_heads: int = 4
    n_kv_heads: int = 4  # grouped-query attention when < n_heads (GLM-4 uses 2)
    head_dim: int = 32  # d_kv
    text_vocab: int = 512
    speech_vocab: int = 256
    n_special: int = 8
    behaviour_dim: int = 16
    chunk_size: int = 10  # behaviour frames per chunk (hybrid-mask granularity)
    n_levels: int = 1000  # K: diffusion noise levels 1..K (0 = clean)
    qkv_bias: bool = True  # GLM-4 uses bias on QKV
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    # Project addition (not in the paper): each behaviour token's input also gets a projection of
    # the (frozen, RMS-normalised) embedding of the text/speech token with the same RoPE position
    # (for lip sync: the time-aligned speech token; commands have none). See ``HumanExpert.aligned``.
    align_context: bool = False

    @property
    def vocab_size(self) -> int:
        return self.text_vocab + self.speech_vocab + self.n_special

    @property
    def speech_offset(self) -> int:
        return self.text_vocab

    @property
    def special_offset(self) -> int:
        return self.text_vocab + self.speech_vocab

    def special(self, name: str) -> int:
        return self.special_offset + SPECIALS.index(name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "HumanExpertConfig":
        known = {f.name for f in fields(cls)}
        bad = set(d) - known
        if bad:
            raise ValueError(f"unknown HumanExpertConfig field(s) {sorted(bad)}")
        return cls(**d)


SPECIALS = ("<pad>", "<bos>", "<eos>", "<q>", "<a>", "<speech>", "<cmd>", "<silence>")

# Named sizes. ``tiny`` and ``small`` follow the CPU-measured sizes in
# ../shared/design/reference-models.md; ``paper`` is §4.1 (GLM-4-Voice-9B backbone:
# 40 layers, d 4096/2048, d_ff 13696/6848, d_kv 128; 32 query heads and 2 KV groups as
# GLM-4-9B; vocabulary = GLM-4 padded text vocab 151552 + 16384 speech codes).
CONFIGS: dict[str, HumanExpertConfig] = {
    "tiny": HumanExpertConfig(name="tiny", align_context=True),
    "small": HumanExpertConfig(
        name="small", n_layers=6, d_ts=256, d_m=128, d_ff_ts=768, d_ff_m=384, n_heads=8, n_kv_heads=8,
        head_dim=32, align_context=True,
    ),
    "paper": HumanExpertConfig(
        name="paper", n_layers=40, d_ts=4096, d_m=2048, d_ff_ts=13696, d_ff_m=6848, n_heads=32,
        n_kv_heads=2, head_dim=128, text_vocab=151552, speech_vocab=16384, n_special=8,
        behaviour_dim=512, chunk_size=25,
    ),
}


def get_config(name: str, **overrides: Any) -> HumanExpertConfig:
    if name not in CONFIGS:
        raise KeyError(f"unknown HumanExpert size {name!r}; known: {sorted(CONFIGS)}")
    d = CONFIGS[name].to_dict()
    d.update(overrides)
    return HumanExpertConfig.from_dict(d)


# --------------------------------------------------------------------------- blocks


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


class SwiGLU(nn.Module):
    def __init__(self, d: int, d_ff: int) -> None:
        super().__init__()
        self.gate_up = nn.Linear(d, 2 * d_ff, bias=False)
        self.down = nn.Linear(d_ff, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, u = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(g) * u)


def rope(x: torch.Tensor, pos: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotary embedding (rotate-half form). x [B, S, H, Dh]; pos [B, S] (int or float)."""
    dh = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, dh, 2, device=x.device, dtype=torch.float32) / dh))
    ang = pos.to(torch.float32)[..., None] * inv  # [B, S, Dh/2]
    cos = torch.cat([ang.cos(), ang.cos()], -1)[:, :, None, :]
    sin = torch.cat([ang.sin(), ang.sin()], -1)[:, :, None, :]
    x1, x2 = x.float().chunk(2, dim=-1)
    rot = torch.cat([-x2, x1], dim=-1)
    return (x.float() * cos + rot * sin).to(x.dtype)


class ExpertLayer(nn.Module):
    """One layer of one expert: pre-norm, own QKV/O projections, own SwiGLU FFN."""

    def __init__(self, d: int, d_ff: int, cfg: HumanExpertConfig) -> None:
        super().__init__()
        self.cfg = cfg
        h, hk, dh = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.attn_norm = RMSNorm(d, cfg.norm_eps)
        self.q = nn.Linear(d, h * dh, bias=cfg.qkv_bias)
        self.kv = nn.Linear(d, 2 * hk * dh, bias=cfg.qkv_bias)
        self.o = nn.Linear(h * dh, d, bias=False)
        self.ffn_norm = RMSNorm(d, cfg.norm_eps)
        self.ffn = SwiGLU(d, d_ff)

    def qkv(self, x: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [B, S, d] -> q [B, S, H, Dh], k/v [B, S, Hk, Dh] (RoPE applied to q, k)."""
        c = self.cfg
        hn = self.attn_norm(x)
        q = self.q(hn).unflatten(-1, (c.n_heads, c.head_dim))
        k, v = self.kv(hn).unflatten(-1, (2, c.n_kv_heads, c.head_dim)).unbind(-3)
        return rope(q, pos, c.rope_theta), rope(k, pos, c.rope_theta), v

    def finish(self, x: torch.Tensor, attn_out: torch.Tensor) -> torch.Tensor:
        """Residual after attention (attn_out [B, S, H, Dh]) and the FFN."""
        x = x + self.o(attn_out.flatten(-2))
        return x + self.ffn(self.ffn_norm(x))


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """q [B, Sq, H, Dh], k/v [B, Sk, Hk, Dh], mask [B, Sq, Sk] bool (True = may attend)."""
    rep = q.shape[2] // k.shape[2]
    if rep > 1:
        k = k.repeat_interleave(rep, dim=2)
        v = v.repeat_interleave(rep, dim=2)
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask[:, None]
    )
    return out.transpose(1, 2)


def timestep_embedding(levels: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer noise levels [B, T] -> [B, T, dim] (float32)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=levels.device, dtype=torch.float32) / half)
    ang = levels.float()[..., None] * freqs
    return torch.cat([ang.cos(), ang.sin()], dim=-1)


# --------------------------------------------------------------------------- masks


def hybrid_mask(
    n_ts: int,
    m_index: torch.Tensor,
    chunk_size: int,
    ts_valid: torch.Tensor | None = None,
    cond_keep: torch.Tensor | None = None,
    batch: int = 1,
) -> torch.Tensor:
    """Full hybrid attention mask over [text/speech (n_ts) ; behaviour (T)] -> [B, S, S] bool.

    Rows are queries, columns keys, True = may attend (equation 2's Mask^m, as booleans).
    m_index [T] or [B, T]: frame index of each behaviour token (chunk = m_index // chunk_size).
    """
    if m_index.dim() == 1:
        m_index = m_index[None]
    B = max(batch, m_index.shape[0], ts_valid.shape[0] if ts_valid is not None else 1)
    T = m_index.shape[1]
    dev = m_index.device
    if ts_valid is None:
        ts_valid = torch.ones(B, n_ts, dtype=torch.bool, device=dev)
    if cond_keep is None:
        cond_keep = torch.ones(B, dtype=torch.bool, device=dev)
    S = n_ts + T
    mask = torch.zeros(B, S, S, dtype=torch.bool, device=dev)
    causal = torch.tril(torch.ones(n_ts, n_ts, dtype=torch.bool, device=dev))
    mask[:, :n_ts, :n_ts] = causal[None] & ts_valid[:, None, :]
    mask[:, n_ts:, :n_ts] = (ts_valid & cond_keep[:, None])[:, None, :]
    chunk = (m_index // chunk_size).expand(B, T)
    mask[:, n_ts:, n_ts:] = chunk[:, None, :] <= chunk[:, :, None]
    idx = torch.arange(S, device=dev)
    mask[:, idx, idx] = True  # a token always sees itself (no empty rows for padding)
    return mask


# --------------------------------------------------------------------------- model


class TSExpert(nn.Module):
    def __init__(self, cfg: HumanExpertConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_ts)
        self.layers = nn.ModuleList(ExpertLayer(cfg.d_ts, cfg.d_ff_ts, cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_ts, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.d_ts, cfg.vocab_size, bias=False)


class BehaviourExpert(nn.Module):
    def __init__(self, cfg: HumanExpertConfig) -> None:
        super().__init__()
        self.in_proj = nn.Linear(cfg.behaviour_dim, cfg.d_m)
        self.t_mlp = nn.Sequential(nn.Linear(cfg.d_m, cfg.d_m), nn.SiLU(), nn.Linear(cfg.d_m, cfg.d_m))
        self.layers = nn.ModuleList(ExpertLayer(cfg.d_m, cfg.d_ff_m, cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_m, cfg.norm_eps)
        self.out_proj = nn.Linear(cfg.d_m, cfg.behaviour_dim)
        self.align = nn.Linear(cfg.d_ts, cfg.d_m) if cfg.align_context else None

    def embed(self, x: torch.Tensor, levels: torch.Tensor, aligned: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, T, D], levels [B, T], aligned [B, T, d_ts] (or None) -> [B, T, d_m]."""
        temb = timestep_embedding(levels, self.in_proj.out_features).to(x.dtype)
        h = self.in_proj(x) + self.t_mlp(temb)
        if self.align is not None and aligned is not None:
            h = h + self.align(aligned.to(h.dtype))
        return h


@dataclass
class Context:
    """Per-layer K/V of the text-speech prefix (the frozen expert runs once)."""

    k: list[torch.Tensor]  # each [B, L, Hk, Dh]
    v: list[torch.Tensor]
    valid: torch.Tensor  # [B, L] bool
    logits: torch.Tensor | None = None
    tokens: torch.Tensor | None = None  # [B, L] ids (for the position-aligned behaviour input)
    pos: torch.Tensor | None = None  # [B, L] RoPE positions

    @property
    def length(self) -> int:
        return self.valid.shape[1]


@dataclass
class BehaviourCache:
    """Per-layer K/V of already generated (clean) behaviour tokens, for streaming."""

    k: list[torch.Tensor] = field(default_factory=list)
    v: list[torch.Tensor] = field(default_factory=list)
    length: int = 0


class HumanExpert(nn.Module):
    def __init__(self, cfg: HumanExpertConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.ts = TSExpert(cfg)
        self.m = BehaviourExpert(cfg)
        self.apply(self._init)

    @staticmethod
    def _init(mod: nn.Module) -> None:
        if isinstance(mod, nn.Linear):
            nn.init.normal_(mod.weight, std=0.02)
            if mod.bias is not None:
                nn.init.zeros_(mod.bias)
        elif isinstance(mod, nn.Embedding):
            nn.init.normal_(mod.weight, std=0.02)

    # ---------------------------------------------------------------- text-speech expert

    def ts_forward(
        self,
        tokens: torch.Tensor,
        pos: torch.Tensor | None = None,
        valid: torch.Tensor | None = None,
        cache: Context | None = None,
    ) -> Context:
        """Causal text-speech pass; appends to ``cache`` (KV cache) when given.

        Returns a Context with K/V of all tokens so far and ``logits`` [B, L_new, V] of the new ones.
        """
        B, L = tokens.shape
        past = cache.length if cache is not None else 0
        if pos is None:
            pos = torch.arange(past, past + L, device=tokens.device)[None].expand(B, L)
        if valid is None:
            valid = torch.ones(B, L, dtype=torch.bool, device=tokens.device)
        all_valid = valid if cache is None else torch.cat([cache.valid, valid], 1)
        causal = torch.ones(L, past + L, dtype=torch.bool, device=tokens.device).tril(past)
        mask = causal[None] & all_valid[:, None, :]
        idx = torch.arange(L, device=tokens.device)
        mask[:, idx, past + idx] = True
        h = self.ts.embed(tokens)
        ks, vs = [], []
        for i, layer in enumerate(self.ts.layers):
            q, k, v = layer.qkv(h, pos)
            if cache is not None:
                k = torch.cat([cache.k[i], k], 1)
                v = torch.cat([cache.v[i], v], 1)
            ks.append(k)
            vs.append(v)
            h = layer.finish(h, attend(q, k, v, mask))
        logits = self.ts.lm_head(self.ts.norm(h))
        all_tok = tokens if cache is None or cache.tokens is None else torch.cat([cache.tokens, tokens], 1)
        all_pos = pos if cache is None or cache.pos is None else torch.cat([cache.pos, pos], 1)
        return Context(ks, vs, all_valid, logits, all_tok, all_pos)

    def encode_context(self, tokens: torch.Tensor, pos: torch.Tensor | None = None,
                       valid: torch.Tensor | None = None) -> Context:
        return self.ts_forward(tokens, pos, valid)

    @torch.no_grad()
    def generate_text(self, prompt: torch.Tensor, max_new: int, eos: int | None = None,
                      stop_ids: tuple[int, ...] = ()) -> list[list[int]]:
        """Greedy autoregressive decoding with the KV cache. prompt [B, L] -> new ids per row."""
        ctx = self.ts_forward(prompt)
        nxt = ctx.logits[:, -1].argmax(-1)
        out = [[] for _ in range(prompt.shape[0])]
        done = torch.zeros(prompt.shape[0], dtype=torch.bool)
        stops = set(stop_ids) | ({eos} if eos is not None else set())
        for _ in range(max_new):
            for b in range(len(out)):
                if not done[b]:
                    if int(nxt[b]) in stops:
                        done[b] = True
                    else:
                        out[b].append(int(nxt[b]))
            if bool(done.all()):
                break
            ctx = self.ts_forward(nxt[:, None], cache=ctx)
            nxt = ctx.logits[:, -1].argmax(-1)
        return out

    # ---------------------------------------------------------------- behaviour expert

    def aligned(self, tokens: torch.Tensor, ts_pos: torch.Tensor, ts_valid: torch.Tensor, m_pos: torch.Tensor,
                cond_keep: torch.Tensor | None) -> torch.Tensor | None:
        """Position-aligned context for the behaviour input (``cfg.align_context``; project addition).

        For behaviour token t: the RMS-normalised text-speech embedding of the valid text/speech
        token whose RoPE position equals m_pos[t] (zeros if none, or if the condition is dropped).
        With time-aligned positions this is the speech token of the same 40 ms frame, so frame-level
        lip sync does not have to be found through attention alone (it was not, see README).
        tokens/ts_pos/ts_valid [B, L], m_pos [B, T], cond_keep [B] -> [B, T, d_ts] (None if disabled).
        """
        if not self.cfg.align_context:
            return None
        B, T = m_pos.shape
        tokens, ts_pos, ts_valid = (t.expand(B, -1) for t in (tokens, ts_pos, ts_valid))
        e = F.rms_norm(self.ts.embed(tokens).float(), (self.cfg.d_ts,))  # [B, L, d_ts]
        hit = (m_pos[:, :, None] == ts_pos[:, None, :]) & ts_valid[:, None, :]  # [B, T, L]
        if cond_keep is not None:
            hit = hit & cond_keep[:, None, None]
        return hit.float() @ e

    def _aligned_from_ctx(self, ctx: Context | None, m_pos: torch.Tensor, cond_keep: torch.Tensor) -> torch.Tensor | None:
        if not self.cfg.align_context or ctx is None:
            return None
        if ctx.tokens is None:
            raise ValueError("align_context needs the context's tokens and positions (use encode_context)")
        return self.aligned(ctx.tokens, ctx.pos, ctx.valid, m_pos, cond_keep)

    def denoise(
        self,
        x: torch.Tensor,
        levels: torch.Tensor,
        m_pos: torch.Tensor,
        ctx: Context | None,
        m_index: torch.Tensor | None = None,
        cond_keep: torch.Tensor | None = None,
        past: BehaviourCache | None = None,
        return_kv: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Predict ε for behaviour tokens x [B, T, D] at noise ``levels`` [B, T].

        Attends to the cached text-speech context (unless dropped by cond_keep), to ``past``
        clean behaviour K/V, and to the current tokens of the same or earlier chunks.
        ``m_index`` defaults to past.length + arange(T).
        """
        B, T, _ = x.shape
        dev = x.device
        cfg = self.cfg
        npast = past.length if past is not None else 0
        if m_index is None:
            m_index = torch.arange(npast, npast + T, device=dev)
        if m_index.dim() == 1:
            m_index = m_index[None].expand(B, T)
        if cond_keep is None:
            cond_keep = torch.ones(B, dtype=torch.bool, device=dev)
        parts = []
        if ctx is not None:
            parts.append((ctx.valid & cond_keep[:, None])[:, None, :].expand(B, T, ctx.length))
        if npast:
            parts.append(torch.ones(B, T, npast, dtype=torch.bool, device=dev))
        chunk = m_index // cfg.chunk_size
        parts.append(chunk[:, None, :] <= chunk[:, :, None])
        mask = torch.cat(parts, dim=2)
        h = self.m.embed(x, levels, self._aligned_from_ctx(ctx, m_pos.expand(B, T), cond_keep))
        ks, vs = [], []
        for i, layer in enumerate(self.m.layers):
            q, k, v = layer.qkv(h, m_pos)
            ks.append(k)
            vs.append(v)
            kk, vv = [], []
            if ctx is not None:
                kk.append(ctx.k[i]); vv.append(ctx.v[i])
            if npast:
                kk.append(past.k[i]); vv.append(past.v[i])
            kk.append(k); vv.append(v)
            h = layer.finish(h, attend(q, torch.cat(kk, 1), torch.cat(vv, 1), mask))
        eps = self.m.out_proj(self.m.norm(h))
        return (eps, ks, vs) if return_kv else eps

    @torch.no_grad()
    def append_history(self, past: BehaviourCache | None, x_clean: torch.Tensor, m_pos: torch.Tensor,
                       ctx: Context | None, cond_keep: torch.Tensor | None = None) -> BehaviourCache:
        """Run clean tokens (level 0) once and append their per-layer K/V to the streaming cache."""
        past = past or BehaviourCache()
        levels = torch.zeros(x_clean.shape[:2], dtype=torch.long, device=x_clean.device)
        _, ks, vs = self.denoise(x_clean, levels, m_pos, ctx, cond_keep=cond_keep, past=past, return_kv=True)
        if past.length:
            ks = [torch.cat([a, b], 1) for a, b in zip(past.k, ks)]
            vs = [torch.cat([a, b], 1) for a, b in zip(past.v, vs)]
        return BehaviourCache(ks, vs, past.length + x_clean.shape[1])

    # ---------------------------------------------------------------- literal joint pass

    def forward_joint(
        self,
        tokens: torch.Tensor,
        ts_pos: torch.Tensor,
        x: torch.Tensor,
        levels: torch.Tensor,
        m_pos: torch.Tensor,
        ts_valid: torch.Tensor | None = None,
        cond_keep: torch.Tensor | None = None,
        m_index: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Equations 1-2 literally: one joint attention over [text/speech ; behaviour] per layer.

        Returns (logits [B, L, V], eps [B, T, D]). Same result as encode_context + denoise.
        """
        B, L = tokens.shape
        T = x.shape[1]
        if m_index is None:
            m_index = torch.arange(T, device=x.device)
        mask = hybrid_mask(L, m_index, self.cfg.chunk_size, ts_valid, cond_keep, batch=B)
        al = None
        if self.cfg.align_context:
            tv = ts_valid if ts_valid is not None else torch.ones(B, L, dtype=torch.bool, device=tokens.device)
            ck = cond_keep if cond_keep is not None else torch.ones(B, dtype=torch.bool, device=tokens.device)
            al = self.aligned(tokens, ts_pos.expand(B, L), tv, m_pos.expand(B, T), ck)
        ht, hm = self.ts.embed(tokens), self.m.embed(x, levels, al)
        for lt, lm in zip(self.ts.layers, self.m.layers):
            qt, kt, vt = lt.qkv(ht, ts_pos)
            qm, km, vm = lm.qkv(hm, m_pos)
            out = attend(torch.cat([qt, qm], 1), torch.cat([kt, km], 1), torch.cat([vt, vm], 1), mask)
            ht, hm = lt.finish(ht, out[:, :L]), lm.finish(hm, out[:, L:])
        return self.ts.lm_head(self.ts.norm(ht)), self.m.out_proj(self.m.norm(hm))

    # ---------------------------------------------------------------- utilities

    def freeze_text_speech(self, frozen: bool = True) -> None:
        for p in self.ts.parameters():
            p.requires_grad_(not frozen)

    def n_params(self, part: str = "all") -> int:
        mod = {"all": self, "ts": self.ts, "m": self.m}[part]
        return sum(p.numel() for p in mod.parameters())


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(model: HumanExpert, path: str | Path, extra: dict[str, Any] | None = None,
                    dtype: torch.dtype | None = None) -> dict[str, str]:
    """Write ``<path>.pt`` (plain state dict, optionally cast to ``dtype``, e.g. float16 to keep a
    committed checkpoint small) and ``<path>.json`` (config, sha256, extra info)."""
    import hashlib

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pt = path.with_suffix(".pt")
    cast = (lambda v: v.to(dtype) if dtype is not None and v.is_floating_point() else v)  # noqa: E731
    torch.save({k: cast(v.detach().cpu()).contiguous() for k, v in model.state_dict().items()}, pt)
    sha = hashlib.sha256(pt.read_bytes()).hexdigest()
    meta = {"config": model.cfg.to_dict(), "state_dict": pt.name, "sha256": sha,
            "dtype": str(dtype or "float32").replace("torch.", "")}
    meta.update(extra or {})
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return {"pt": str(pt), "sha256": sha}


class CheckpointError(RuntimeError):
    pass


def load_checkpoint(path: str | Path, strict: bool = True, verify: bool = True) -> tuple[HumanExpert, dict[str, Any]]:
    """Load a checkpoint written by ``save_checkpoint`` (path with or without suffix).

    Raises CheckpointError naming missing / unexpected / mis-shaped keys, or a sha256 mismatch.
    """
    import hashlib

    path = Path(path)
    meta_p = path.with_suffix(".json")
    if not meta_p.is_file():
        raise CheckpointError(f"{meta_p}: checkpoint config not found")
    meta = json.loads(meta_p.read_text())
    pt = meta_p.parent / meta.get("state_dict", path.with_suffix(".pt").name)
    if not pt.is_file():
        raise CheckpointError(f"{pt}: state dict not found")
    if verify and meta.get("sha256"):
        actual = hashlib.sha256(pt.read_bytes()).hexdigest()
        if actual != meta["sha256"]:
            raise CheckpointError(f"{pt}: sha256 {actual} does not match {meta['sha256']} in {meta_p.name}")
    cfg = HumanExpertConfig.from_dict(meta["config"])
    model = HumanExpert(cfg)
    sd = torch.load(pt, map_location="cpu", weights_only=True)
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shape = sorted(k for k in set(own) & set(sd) if own[k].shape != sd[k].shape)
    if shape:
        raise CheckpointError(f"{pt}: shape mismatch for {shape[:5]}{' ...' if len(shape) > 5 else ''}")
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"{pt}: state dict does not match config {cfg.name!r}: missing keys {missing[:8]}"
            f"{' ...' if len(missing) > 8 else ''}, unexpected keys {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}"
        )
    model.load_state_dict(sd, strict=strict)
    model.eval()
    return model, meta
