"""Bootstrap confidence intervals for set-level metrics (FID, FVD).

A set metric has no per-sample values to resample, so the *sets* are resampled: samples
(videos) are drawn with replacement, and each draw's features (the per-sample payloads
{"gen": (k, d), "ref": (k', d)}) are re-aggregated into float64 (n, sum, sum of outer
products) statistics and a Fréchet distance. Gen and ref are resampled with the same
indices (paired, as samples pair a generated video with its reference); with fixed
reference statistics (``set_reference``) only the gen side is resampled. The interval is
the percentile interval (alpha / 2, 1 - alpha / 2) of ``n_boot`` draws (default 100, or
``$HXBENCH_SET_BOOTSTRAP``; 0 disables). Cost per draw: with fewer feature rows r than dimensions d
(FID's 2048 over a few hundred frames) the exact row-space form of the Fréchet distance
(``frechet_rows``: an r x r SVD, no d x d eigendecomposition); otherwise Gram matrices and
``frechet_distance``. The number of draws is capped so that draws x (row products) stays under ``$HXBENCH_SET_BOOTSTRAP_MAX_FLOPS`` (default
2e12, about a minute on one CPU core); below 20 affordable draws the interval is omitted
(None), never approximated.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np


def default_n_boot() -> int:
    return int(os.environ.get("HXBENCH_SET_BOOTSTRAP", "100"))


def _centered(feats: list[np.ndarray], counts: np.ndarray, dim: int, ddof: int):
    """(mu, A, denom): weighted mean, rows sqrt(w) * (x - mu) so that cov = A^T A / denom."""
    rows = np.concatenate([f.reshape(-1, dim) for f in feats], axis=0).astype(np.float64)
    w = np.concatenate([np.full(len(f.reshape(-1, dim)), c, np.float64) for f, c in zip(feats, counts)])
    n = w.sum()
    mu = (rows * w[:, None]).sum(0) / n
    return mu, (rows - mu) * np.sqrt(w)[:, None], n - ddof


def frechet_rows(mu1, a1, d1, mu2, a2, d2) -> float:
    """Fréchet distance from centred, weighted rows (cov_i = a_i^T a_i / d_i), exact:
    tr((S1 S2)^(1/2)) = sum of singular values of a1 a2^T / sqrt(d1 d2) (the non-zero
    eigenvalues of S1 S2 are those of (a1 a2^T)(a1 a2^T)^T / (d1 d2)). Costs r1 r2 d instead
    of d^3 when there are fewer rows r than feature dimensions d (FID: d = 2048); otherwise
    the covariances are formed and ``frechet_distance`` is used."""
    from hxbench.metrics._setstats import frechet_distance

    if min(len(a1), len(a2)) >= a1.shape[1]:
        return frechet_distance(mu1, a1.T @ a1 / d1, mu2, a2.T @ a2 / d2)
    sv = np.linalg.svd(a1 @ a2.T, compute_uv=False)
    diff = mu1 - mu2
    tr1 = float(np.sum(a1 * a1)) / d1
    tr2 = float(np.sum(a2 * a2)) / d2
    return float(diff @ diff + tr1 + tr2 - 2 * sv.sum() / np.sqrt(d1 * d2))


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
    rows = sum(len(f.reshape(-1, dim)) for f in gen)
    if use_ref and rows < dim:  # row-space form: r x r products and SVD
        per_draw = 2 * rows * rows * dim
    else:  # Gram matrices + two d x d eigendecompositions (~30 d^3 each in practice)
        per_draw = 2 * rows * dim * dim + 60 * dim ** 3
    budget = float(os.environ.get("HXBENCH_SET_BOOTSTRAP_MAX_FLOPS", "2e12"))
    n_boot = min(n_boot, int(budget // max(per_draw, 1)))
    if n_boot < 20:
        return None  # too large a set to resample here: no interval rather than a poor one
    if not use_ref:
        mu_r, cov_r = metric.ref_stats.mean_cov(ddof)
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_boot):
        counts = np.bincount(rng.integers(0, len(payloads), len(payloads)), minlength=len(payloads))
        keep = counts > 0
        mu_g, a_g, d_g = _centered([f for f, k in zip(gen, keep) if k], counts[keep], dim, ddof)
        if d_g <= 0:
            return None
        if use_ref:
            mu_r2, a_r, d_r = _centered([f for f, k in zip(ref, keep) if k], counts[keep], dim, ddof)
            if d_r <= 0:
                return None
            vals.append(frechet_rows(mu_g, a_g, d_g, mu_r2, a_r, d_r))
        else:
            vals.append(frechet_distance(mu_g, a_g.T @ a_g / d_g, mu_r, cov_r))
    lo, hi = np.quantile(np.asarray(vals), [alpha / 2, 1 - alpha / 2])
    return [float(lo), float(hi)]
