"""Bootstrap confidence intervals for set-level metrics (FID, FVD).

A set metric has no per-sample values to resample, so the *sets* are resampled: samples
(videos) are drawn with replacement, and each draw's features (the per-sample payloads
{"gen": (k, d), "ref": (k', d)}) are re-aggregated into float64 (n, sum, sum of outer
products) statistics and a Fréchet distance. Gen and ref are resampled with the same
indices (paired, as samples pair a generated video with its reference); with fixed
reference statistics (``set_reference``) only the gen side is resampled. The interval is
the percentile interval (alpha / 2, 1 - alpha / 2) of ``n_boot`` draws (default 100, or
``$HXBENCH_SET_BOOTSTRAP``; 0 disables). Cost per draw: one (rows x d) weighted Gram matrix
per side and one Fréchet distance (two d x d eigendecompositions). The number of draws is
capped so that draws x rows x d^2 stays under ``$HXBENCH_SET_BOOTSTRAP_MAX_FLOPS`` (default
2e12, about a minute on one CPU core); below 20 affordable draws the interval is omitted
(None), never approximated.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np


def default_n_boot() -> int:
    return int(os.environ.get("HXBENCH_SET_BOOTSTRAP", "100"))


def _stats(feats: list[np.ndarray], counts: np.ndarray, dim: int, ddof: int):
    rows = np.concatenate([f.reshape(-1, dim) for f in feats], axis=0).astype(np.float64)
    w = np.concatenate([np.full(len(f.reshape(-1, dim)), c, np.float64) for f, c in zip(feats, counts)])
    n = w.sum()
    s = (rows * w[:, None]).sum(0)
    ss = (rows * w[:, None]).T @ rows
    mu = s / n
    cov = (ss - n * np.outer(mu, mu)) / (n - ddof)
    return mu, (cov + cov.T) / 2, n


def set_bootstrap_ci(metric, payloads: Sequence[dict], n_boot: int | None = None, alpha: float = 0.05,
                     seed: int = 0) -> list[float] | None:
    """[lo, hi] for a SetFeatureMetric from its per-sample payloads, or None (< 2 samples,
    n_boot 0, or a draw with too few feature vectors for a covariance)."""
    from hxbench.metrics._setstats import frechet_distance

    n_boot = default_n_boot() if n_boot is None else n_boot
    payloads = [p for p in payloads if p is not None and "gen" in p]
    if n_boot <= 0 or len(payloads) < 2:
        return None
    dim, ddof = metric.feature_dim, metric.ddof
    gen = [np.asarray(p["gen"], np.float32) for p in payloads]
    use_ref = not getattr(metric, "ref_fixed", False)
    ref = [np.asarray(p["ref"], np.float32) for p in payloads] if use_ref else None
    if use_ref and any(r is None for r in ref):
        return None
    if not use_ref:
        mu_r, cov_r = metric.ref_stats.mean_cov(ddof)
    rows = sum(len(f.reshape(-1, dim)) for f in gen) * (2 if use_ref else 1)
    budget = float(os.environ.get("HXBENCH_SET_BOOTSTRAP_MAX_FLOPS", "2e12"))
    n_boot = min(n_boot, int(budget // max(rows * dim * dim, 1)))
    if n_boot < 20:
        return None  # too large a set to resample here: no interval rather than a poor one
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_boot):
        counts = np.bincount(rng.integers(0, len(payloads), len(payloads)), minlength=len(payloads))
        keep = counts > 0
        g = [f for f, k in zip(gen, keep) if k]
        mu_g, cov_g, n_g = _stats(g, counts[keep], dim, ddof)
        if n_g <= ddof:
            return None
        if use_ref:
            mu_r, cov_r, n_r = _stats([f for f, k in zip(ref, keep) if k], counts[keep], dim, ddof)
            if n_r <= ddof:
                return None
        vals.append(frechet_distance(mu_g, cov_g, mu_r, cov_r))
    lo, hi = np.quantile(np.asarray(vals), [alpha / 2, 1 - alpha / 2])
    return [float(lo), float(hi)]
