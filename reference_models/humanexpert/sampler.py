"""Diffusion forcing for behaviour tokens: noise schedule, training noise, DDIM with a
noise-schedule matrix, classifier-free + history guidance, chunk-level streaming (paper §3.2-3.3).

Kept apart from the network, as schedulers are in diffusers: everything here talks to the
network through an ``eps_fn(x, levels) -> eps`` callable or through ``HumanExpert.denoise``.

Noise levels are integers k in [0, K]: k = 0 is clean, k >= 1 has
x_k = sqrt(abar_k) x_0 + sqrt(1 - abar_k) eps with abar_k = prod_{i<=k} (1 - beta_i), using the
"scaled linear" beta schedule of Stable Diffusion (beta from 0.00085 to 0.012, linear in
sqrt(beta); abar_K ~= 4.7e-3 for K = 1000). A cosine schedule with eps-prediction blew up at the
top level in our prototypes (../shared/design/reference-models.md), so it is not offered.

Noise-schedule matrix (paper §3.3): ``K_mat`` [M+1, T] of *DDIM step indices* s in [0, S]
(S = number of DDIM steps; ``ladder[s]`` maps a step index to a level in [0, K]). Row M is the
start (all S = pure noise), row 0 the end (all 0 = clean); sampling goes from row M to row 0,
and a token whose entry drops between rows takes one DDIM step from the first level to the second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class NoiseSchedule:
    """Scaled-linear beta schedule. ``abar[k]`` for k in [0, K] (abar[0] = 1: clean)."""

    def __init__(self, n_levels: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012) -> None:
        self.K = n_levels
        betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, n_levels, dtype=torch.float64) ** 2
        abar = torch.cumprod(1.0 - betas, 0)
        self.abar = torch.cat([torch.ones(1, dtype=torch.float64), abar]).float()  # [K+1]

    def coeffs(self, levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """sqrt(abar), sqrt(1 - abar) for integer levels (any shape), broadcastable to [..., 1]."""
        a = self.abar.to(levels.device)[levels]
        return a.sqrt()[..., None], (1 - a).sqrt()[..., None]

    def add_noise(self, x0: torch.Tensor, eps: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        sa, sb = self.coeffs(levels)
        return sa.to(x0.dtype) * x0 + sb.to(x0.dtype) * eps

    def predict_x0(self, x: torch.Tensor, eps: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        sa, sb = self.coeffs(levels)
        return (x - sb.to(x.dtype) * eps) / sa.to(x.dtype)

    def ddim_step(self, x: torch.Tensor, eps: torch.Tensor, lv_from: torch.Tensor, lv_to: torch.Tensor) -> torch.Tensor:
        """Deterministic DDIM (eta = 0) from level lv_from to lv_to, per token ([B, T] levels)."""
        x0 = self.predict_x0(x, eps, lv_from)
        sa, sb = self.coeffs(lv_to)
        return sa.to(x.dtype) * x0 + sb.to(x.dtype) * eps

    def ladder(self, n_steps: int) -> torch.Tensor:
        """DDIM step index s in [0, S] -> level: ladder[0] = 0 (clean), ladder[S] = K, evenly spaced."""
        return torch.round(torch.linspace(0, self.K, n_steps + 1)).long()


# --------------------------------------------------------------------------- training


def sample_training_levels(
    B: int, T: int, K: int, generator: torch.Generator | None = None, chunk_size: int | None = None,
    history_clean_prob: float = 0.0,
) -> torch.Tensor:
    """Diffusion-forcing noise levels: independent per token, uniform in [0, K] -> [B, T] long.

    With probability ``history_clean_prob`` a row gets a random number of leading chunks at
    level 0 (clean history), as streaming inference sees them (a project addition; 0 = paper).
    """
    lv = torch.randint(0, K + 1, (B, T), generator=generator)
    if history_clean_prob > 0 and chunk_size:
        n_chunks = (T + chunk_size - 1) // chunk_size
        use = torch.rand(B, generator=generator) < history_clean_prob
        cut = torch.randint(1, max(n_chunks, 2), (B,), generator=generator) * chunk_size
        clean = (torch.arange(T)[None] < cut[:, None]) & use[:, None]
        lv = torch.where(clean, torch.zeros_like(lv), lv)
    return lv


def diffusion_forcing_loss(
    eps_fn: EpsFn, x0: torch.Tensor, levels: torch.Tensor, sched: NoiseSchedule,
    noise: torch.Tensor | None = None, weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Equation 5: mean over tokens of ||eps - eps_theta(x_k, k)||^2 (clean tokens excluded).

    x0 [B, T, D]; levels [B, T]; weight [B, T] optional (e.g. frame validity).
    """
    if noise is None:
        noise = torch.randn_like(x0)
    xk = sched.add_noise(x0, noise, levels)
    pred = eps_fn(xk, levels)
    per_tok = (pred - noise).pow(2).mean(-1)
    w = (levels > 0).float()
    if weight is not None:
        w = w * weight.float()
    return (per_tok * w).sum() / w.sum().clamp_min(1.0)


# --------------------------------------------------------------------------- matrices


def uniform_matrix(T: int, n_steps: int) -> torch.Tensor:
    """All tokens share one level: [S+1, T]; row m = m (m = S: noise, m = 0: clean)."""
    return torch.arange(n_steps + 1)[:, None].expand(n_steps + 1, T).clone()


def left_to_right_matrix(T: int, n_steps: int, block: int = 1) -> torch.Tensor:
    """Blocks of ``block`` tokens fully denoised one after another (autoregressive):
    [n_blocks*S + 1, T]. With block = chunk size this is chunk-level streaming."""
    nb = (T + block - 1) // block
    M = nb * n_steps
    m = torch.arange(M + 1)[:, None]
    b = (torch.arange(T) // block)[None]
    # generation step g = M - m; block b is denoised during g in [b*S, (b+1)*S)
    g = M - m
    return (n_steps - (g - b * n_steps)).clamp(0, n_steps)


def pyramid_matrix(T: int, n_steps: int, block: int = 1) -> torch.Tensor:
    """Pyramid schedule (Diffusion Forcing): later tokens noisier than earlier ones in every row;
    block b starts denoising one row after block b-1. [S + n_blocks, T] rows, monotone, row 0 = 0."""
    nb = (T + block - 1) // block
    M = n_steps + nb - 1
    m = torch.arange(M + 1)[:, None]
    b = (torch.arange(T) // block)[None]
    g = M - m  # generation step
    return (n_steps - (g - b)).clamp(0, n_steps)


def make_matrix(kind: str, T: int, n_steps: int, block: int = 1) -> torch.Tensor:
    if kind == "uniform":
        return uniform_matrix(T, n_steps)
    if kind in ("left_to_right", "ltr", "autoregressive"):
        return left_to_right_matrix(T, n_steps, block)
    if kind == "pyramid":
        return pyramid_matrix(T, n_steps, block)
    raise ValueError(f"unknown noise-schedule matrix {kind!r}; known: uniform, left_to_right, pyramid")


# --------------------------------------------------------------------------- sampling


def sample_with_matrix(eps_fn: EpsFn, x_T: torch.Tensor, K_mat: torch.Tensor, sched: NoiseSchedule,
                       n_steps: int) -> torch.Tensor:
    """Denoise x_T [B, T, D] (pure noise) from row M of ``K_mat`` to row 0 (paper §3.3)."""
    ladder = sched.ladder(n_steps).to(x_T.device)
    K_mat = K_mat.to(x_T.device)
    if not bool((K_mat[-1] == n_steps).all()) or not bool((K_mat[0] == 0).all()):
        raise ValueError("noise-schedule matrix must start at S (row M) and end at 0 (row 0)")
    x = x_T
    B = x.shape[0]
    for m in range(K_mat.shape[0] - 1, 0, -1):
        cur, nxt = ladder[K_mat[m]], ladder[K_mat[m - 1]]
        if bool((cur == nxt).all()):
            continue
        if bool((nxt > cur).any()):
            raise ValueError(f"noise-schedule matrix increases noise between rows {m} and {m - 1}")
        lv_cur = cur[None].expand(B, -1)
        lv_nxt = nxt[None].expand(B, -1)
        eps = eps_fn(x, lv_cur)
        stepped = sched.ddim_step(x, eps, lv_cur, lv_nxt)
        x = torch.where((nxt < cur)[None, :, None], stepped, x)
    return x


def ddim_sample(eps_fn: EpsFn, x_T: torch.Tensor, sched: NoiseSchedule, n_steps: int = 50) -> torch.Tensor:
    """Ordinary DDIM (one shared level for all tokens), written independently of the matrix code."""
    ladder = sched.ladder(n_steps).tolist()
    x = x_T
    for s in range(n_steps, 0, -1):
        t, t_prev = ladder[s], ladder[s - 1]
        a_t, a_p = float(sched.abar[t]), float(sched.abar[t_prev])
        eps = eps_fn(x, torch.full(x.shape[:2], t, dtype=torch.long, device=x.device))
        x0 = (x - (1 - a_t) ** 0.5 * eps) / a_t ** 0.5
        x = a_p ** 0.5 * x0 + (1 - a_p) ** 0.5 * eps
    return x


def combine_guidance(eps: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    """eps_masked + sum_i w_i (eps_i - eps_masked) (classifier-free / history guidance, DFoT-style)."""
    base = eps["masked"]
    out = base.clone()
    for name, w in weights.items():
        out = out + w * (eps[name] - base)
    return out


def lowpass_history(x: torch.Tensor, keep_frac: float = 0.25) -> torch.Tensor:
    """Low-frequency history (DFoT frequency guidance): keep the lowest ``keep_frac`` of the rFFT
    bins along time. x [B, T, D] -> [B, T, D]."""
    T = x.shape[1]
    if T < 2:
        return x.clone()
    f = torch.fft.rfft(x.float(), dim=1)
    n_keep = max(1, int(round(f.shape[1] * keep_frac)))
    f[:, n_keep:] = 0
    return torch.fft.irfft(f, n=T, dim=1).to(x.dtype)


@dataclass
class GuidanceConfig:
    """Guidance at sampling time.

    mode "none": conditional prediction only; "cfg": vanilla two-condition history guidance
    (full context + history vs fully masked) with ``scale``; "history3": three conditions
    (full, low-frequency history, masked) with weights ``scale`` and ``lowfreq_scale``.
    """

    mode: str = "cfg"
    scale: float = 1.5
    lowfreq_scale: float = 0.5
    lowfreq_keep: float = 0.25


class BehaviourSampler:
    """Samples behaviour with a HumanExpert network (paper §3.3).

    generate(): whole sequence with a noise-schedule matrix (one model call per row, future
    chunks stay invisible to past ones through the hybrid mask);
    stream(): chunk after chunk, each chunk denoised uniformly with all past chunks clean and
    cached (past tokens are never regenerated); yields each finished chunk.
    """

    def __init__(self, model, n_steps: int = 50, guidance: GuidanceConfig | None = None) -> None:
        self.model = model
        self.cfg = model.cfg
        self.sched = NoiseSchedule(self.cfg.n_levels)
        self.n_steps = n_steps
        self.guidance = guidance or GuidanceConfig(mode="none")

    # eps with guidance for the whole-sequence path (history = tokens given in ``history``)
    def _eps_full(self, ctx, m_pos, history, x, levels):
        m = self.model
        g = self.guidance
        B = x.shape[0]
        H = 0 if history is None else history.shape[1]

        def run(hist, hist_level, keep):
            if H:
                xin = torch.cat([hist, x], 1)
                lv = torch.cat([torch.full((B, H), hist_level, dtype=torch.long, device=x.device), levels], 1)
            else:
                xin, lv = x, levels
            ck = torch.full((B,), keep, dtype=torch.bool, device=x.device)
            return m.denoise(xin, lv, m_pos, ctx, cond_keep=ck)[:, H:]

        full = run(history, 0, True)
        if g.mode == "none":
            return full
        if H:
            gen = torch.Generator().manual_seed(1234)
            hist_noise = torch.randn(history.shape, generator=gen).to(history)
            masked_hist = self.sched.add_noise(history, hist_noise, torch.full((B, H), self.cfg.n_levels, device=x.device))
        else:
            masked_hist = None
        eps = {"full": full, "masked": run(masked_hist, self.cfg.n_levels, False)}
        w = {"full": g.scale}
        if g.mode == "history3" and H:
            eps["lowfreq"] = run(lowpass_history(history, g.lowfreq_keep), 0, True)
            w["lowfreq"] = g.lowfreq_scale
        elif g.mode not in ("cfg", "history3"):
            raise ValueError(f"unknown guidance mode {g.mode!r}")
        return combine_guidance(eps, w)

    @torch.no_grad()
    def generate(self, ctx, m_pos: torch.Tensor, x_T: torch.Tensor, matrix: str | torch.Tensor = "pyramid",
                 block: int | None = None, history: torch.Tensor | None = None) -> torch.Tensor:
        """x_T [B, T, D] noise -> behaviour [B, T, D]. m_pos [B, H+T] positions (history first)."""
        T = x_T.shape[1]
        block = block or self.cfg.chunk_size
        K_mat = make_matrix(matrix, T, self.n_steps, block) if isinstance(matrix, str) else matrix
        fn = lambda x, lv: self._eps_full(ctx, m_pos, history, x, lv)  # noqa: E731
        return sample_with_matrix(fn, x_T, K_mat, self.sched, self.n_steps)

    @torch.no_grad()
    def stream(self, ctx, m_pos: torch.Tensor, x_T: torch.Tensor):
        """Chunk-level streaming: yields finished chunks [B, c, D]; uses a behaviour KV cache.

        Guidance "cfg" uses full (context + clean history) and masked (no context, history at
        level K) conditions; "history3" adds the low-frequency history condition.
        """
        m = self.model
        g = self.guidance
        cs = self.cfg.chunk_size
        B, T, _ = x_T.shape
        dev = x_T.device
        K = self.cfg.n_levels
        keep = torch.ones(B, dtype=torch.bool, device=dev)
        drop = ~keep
        caches = {"full": None, "masked": None}
        hist = []
        gen = torch.Generator().manual_seed(1234)
        for c0 in range(0, T, cs):
            c1 = min(T, c0 + cs)
            pos = m_pos[:, c0:c1]
            idx = torch.arange(c0, c1, device=dev)
            if g.mode == "history3" and c0:
                h = torch.cat(hist, 1)
                caches["lowfreq"] = m.append_history(None, lowpass_history(h, g.lowfreq_keep), m_pos[:, :c0], ctx, keep)

            def eps_fn(x, lv):
                full = m.denoise(x, lv, pos, ctx, m_index=idx, cond_keep=keep, past=caches["full"])
                if g.mode == "none":
                    return full
                eps = {"full": full,
                       "masked": m.denoise(x, lv, pos, ctx, m_index=idx, cond_keep=drop, past=caches["masked"])}
                w = {"full": g.scale}
                if g.mode == "history3" and c0:
                    eps["lowfreq"] = m.denoise(x, lv, pos, ctx, m_index=idx, cond_keep=keep, past=caches["lowfreq"])
                    w["lowfreq"] = g.lowfreq_scale
                return combine_guidance(eps, w)

            K_mat = uniform_matrix(c1 - c0, self.n_steps)
            chunk = sample_with_matrix(eps_fn, x_T[:, c0:c1], K_mat, self.sched, self.n_steps)
            hist.append(chunk)
            caches["full"] = m.append_history(caches["full"], chunk, pos, ctx, keep)
            if g.mode != "none":
                noisy = self.sched.add_noise(chunk, torch.randn(chunk.shape, generator=gen).to(chunk),
                                             torch.full((B, c1 - c0), K, device=dev))
                caches["masked"] = _append_at_level(m, caches["masked"], noisy, K, pos, ctx, drop)
            yield chunk


@torch.no_grad()
def _append_at_level(model, past, x, level, pos, ctx, cond_keep):
    from reference_models.humanexpert.model import BehaviourCache

    lv = torch.full(x.shape[:2], level, dtype=torch.long, device=x.device)
    _, ks, vs = model.denoise(x, lv, pos, ctx, cond_keep=cond_keep, past=past, return_kv=True)
    if past is not None and past.length:
        ks = [torch.cat([a, b], 1) for a, b in zip(past.k, ks)]
        vs = [torch.cat([a, b], 1) for a, b in zip(past.v, vs)]
    return BehaviourCache(ks, vs, (past.length if past else 0) + x.shape[1])
