"""Percentile bootstrap confidence intervals: every interval hxbench reports comes from here.

All of them resample the same unit, the *sample* (a generated video with its reference; in a
user study, all votes on one sample), uniformly with replacement (``resample_indices``), and
report the percentile interval (alpha / 2, 1 - alpha / 2) of the statistic over the draws:

- ``bootstrap_ci``: mean of per-sample values (SSIM, PSNR, LPIPS, Sync ...);
- ``paired_bootstrap``: mean of per-sample differences of two runs on the same samples;
- ``cluster_bootstrap_ratio``: sum(num) / sum(den) over clusters (study vote shares);
- ``set_bootstrap_ci``: a Fréchet distance (FID, FVD) recomputed from the drawn samples'
  features: a set metric has no per-sample values, so the sets are resampled; gen and ref
  with the same indices (a sample pairs them); with fixed reference statistics only gen;
- ``paired_set_bootstrap``: the difference of two runs' Fréchet distances, same draws.

Defaults: ``DEFAULT_N_BOOT`` draws, ``DEFAULT_ALPHA``, ``DEFAULT_SEED`` (``hxbench.stats``).
Set-level draws are Fréchet distances (an eigendecomposition or SVD each, not a mean), so
they default to ``set_n_boot()`` = 100 ($HXBENCH_SET_BOOTSTRAP; 0 disables), capped so that
draws x cost per draw stays under $HXBENCH_SET_BOOTSTRAP_MAX_FLOPS (default 2e12, about a
minute on one CPU core); below ``MIN_SET_DRAWS`` affordable draws the interval is omitted
(None), never approximated. Cost per draw: with fewer feature rows r than dimensions d
(FID's 2048 over a few hundred frames) the row-space Fréchet distance (r x r products and
SVD, no d x d matrix), otherwise Gram matrices and two d x d eigendecompositions.
"""

from __future__ import annotations

import os
from typing import Iterable, Sequence

import numpy as np

from hxbench.stats import DEFAULT_ALPHA, DEFAULT_N_BOOT, DEFAULT_SEED
from hxbench.stats.frechet import FeatureStats, WeightedRows, frechet_distance, frechet_rows, weighted_rows

__all__ = ["DEFAULT_ALPHA", "DEFAULT_N_BOOT", "DEFAULT_SEED", "MIN_SET_DRAWS", "bootstrap_ci",
           "cluster_bootstrap_ratio", "paired_bootstrap", "paired_set_bootstrap", "percentile_interval",
           "resample_indices", "set_bootstrap_ci", "set_n_boot"]

MIN_SET_DRAWS = 20  # fewer set-level draws than this give no interval


def resample_indices(n: int, n_boot: int = DEFAULT_N_BOOT, seed: int = DEFAULT_SEED) -> np.ndarray:
    """(n_boot, n) int64 sample indices in [0, n), drawn with replacement; row b is draw b.
    One generator call, so a seed gives every bootstrap here the same draws."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def percentile_interval(draws: np.ndarray, alpha: float = DEFAULT_ALPHA) -> np.ndarray:
    """(2, ...) quantiles alpha / 2 and 1 - alpha / 2 of ``draws`` over its first axis."""
    return np.quantile(np.asarray(draws), [alpha / 2, 1 - alpha / 2], axis=0)


# -- per-sample statistics --------------------------------------------------------------------
def bootstrap_ci(values: Iterable[float], n_boot: int = DEFAULT_N_BOOT, alpha: float = DEFAULT_ALPHA,
                 seed: int = DEFAULT_SEED) -> tuple[float, float] | None:
    """Percentile CI of the mean of per-sample values; None for fewer than 2 values."""
    x = np.asarray(list(values), dtype=np.float64)
    if x.size < 2:
        return None
    lo, hi = percentile_interval(x[resample_indices(x.size, n_boot, seed)].mean(axis=1), alpha)
    return float(lo), float(hi)


def paired_bootstrap(base: np.ndarray, new: np.ndarray, n_boot: int = DEFAULT_N_BOOT,
                     alpha: float = DEFAULT_ALPHA, seed: int = DEFAULT_SEED) -> tuple[float, tuple[float, float]]:
    """(mean of ``new - base``, its percentile CI) over paired samples: pairing removes the
    between-sample variance both runs share. One pair: the interval is that difference."""
    d = np.asarray(new, np.float64) - np.asarray(base, np.float64)
    if d.size == 0:
        raise ValueError("no paired samples")
    if d.size == 1:
        return float(d[0]), (float(d[0]), float(d[0]))
    return float(d.mean()), bootstrap_ci(d, n_boot, alpha, seed)  # type: ignore[return-value]


def cluster_bootstrap_ratio(num: np.ndarray, den: np.ndarray, n_boot: int = DEFAULT_N_BOOT,
                            alpha: float = DEFAULT_ALPHA, seed: int = DEFAULT_SEED
                            ) -> tuple[float, float] | list[tuple[float, float]] | None:
    """Percentile CI of ``sum(num) / sum(den)`` resampling clusters (rows) with replacement.

    num: (C,) or (C, K) per-cluster sums; den: (C,) per-cluster counts. Returns (lo, hi), or
    K such pairs for 2-D ``num``; None with fewer than 2 clusters or no draw with sum(den) > 0
    (draws with sum(den) = 0 are dropped)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    if den.shape[0] < 2:
        return None
    idx = resample_indices(den.shape[0], n_boot, seed)
    d = den[idx].sum(axis=1)
    ok = d > 0
    if not ok.any():
        return None
    stats = num[idx].sum(axis=1)[ok] / (d[ok] if num.ndim == 1 else d[ok, None])
    lo, hi = percentile_interval(stats, alpha)
    if num.ndim == 1:
        return float(lo), float(hi)
    return list(zip(lo.tolist(), hi.tolist()))


# -- set statistics (Fréchet distances) --------------------------------------------------------
def set_n_boot() -> int:
    """Default number of set-level draws: $HXBENCH_SET_BOOTSTRAP or 100."""
    return int(os.environ.get("HXBENCH_SET_BOOTSTRAP", "100"))


def _draw_cost(blocks: Sequence[np.ndarray], dim: int, row_space: bool) -> int:
    """Flops of one Fréchet distance of a set like ``blocks`` (row space: paired ref rows)."""
    rows = sum(len(f.reshape(-1, dim)) for f in blocks)
    if row_space and rows < dim:  # row-space form: r x r products and SVD
        return 2 * rows * rows * dim
    return 2 * rows * dim * dim + 60 * dim ** 3  # Gram matrices + two d x d eigendecompositions (~30 d^3 each)


def _affordable(n_boot: int, per_draw: int) -> int:
    """``n_boot`` capped so that n_boot x per_draw flops stay under the budget."""
    budget = float(os.environ.get("HXBENCH_SET_BOOTSTRAP_MAX_FLOPS", "2e12"))
    return min(n_boot, int(budget // max(per_draw, 1)))


def _drawn(blocks: Sequence[np.ndarray], counts: np.ndarray, dim: int, ddof: int) -> WeightedRows | None:
    """Rows of the samples drawn ``counts`` times; None when too few for a covariance."""
    keep = counts > 0
    rows = weighted_rows([f for f, k in zip(blocks, keep) if k], counts[keep], dim, ddof)
    return rows if rows.denom > 0 else None


def _paired_fd(gen: Sequence[np.ndarray], ref: Sequence[np.ndarray], counts: np.ndarray, dim: int,
               ddof: int) -> float | None:
    g = _drawn(gen, counts, dim, ddof)
    r = _drawn(ref, counts, dim, ddof)
    return None if g is None or r is None else frechet_rows(g, r)


def set_bootstrap_ci(gen: Sequence[np.ndarray], ref: Sequence[np.ndarray] | FeatureStats, dim: int, ddof: int,
                     n_boot: int | None = None, alpha: float = DEFAULT_ALPHA,
                     seed: int = DEFAULT_SEED) -> list[float] | None:
    """[lo, hi] of the Fréchet distance of one run, resampling its samples.

    gen: per-sample (k_i, dim) feature blocks; ref: the matching per-sample blocks (resampled
    with the same indices) or fixed reference statistics. ddof: the metric's covariance
    denominator (1: FID, 0: StyleGAN-V FVD). None with < 2 samples, n_boot 0, too few
    affordable draws, or a draw with too few feature rows for a covariance."""
    n_boot = set_n_boot() if n_boot is None else n_boot
    fixed = isinstance(ref, FeatureStats)
    if n_boot <= 0 or len(gen) < 2:
        return None
    n_boot = _affordable(n_boot, _draw_cost(gen, dim, row_space=not fixed))
    if n_boot < MIN_SET_DRAWS:
        return None
    if fixed:
        mu_r, cov_r = ref.mean_cov(ddof)
    vals = []
    for idx in resample_indices(len(gen), n_boot, seed):
        counts = np.bincount(idx, minlength=len(gen))
        if fixed:
            g = _drawn(gen, counts, dim, ddof)
            v = None if g is None else frechet_distance(g.mean, g.cov(), mu_r, cov_r)
        else:
            v = _paired_fd(gen, ref, counts, dim, ddof)
        if v is None:
            return None
        vals.append(v)
    lo, hi = percentile_interval(vals, alpha)
    return [float(lo), float(hi)]


def paired_set_bootstrap(base: tuple[Sequence[np.ndarray], Sequence[np.ndarray]],
                         new: tuple[Sequence[np.ndarray], Sequence[np.ndarray]], dim: int, ddof: int,
                         n_boot: int | None = None, alpha: float = DEFAULT_ALPHA, seed: int = DEFAULT_SEED
                         ) -> tuple[float, float, tuple[float, float] | None]:
    """(FD of base, FD of new, CI of new - base) of two runs on the same samples.

    base, new: (gen blocks, ref blocks), per sample in the same order, each (k_i, dim). Every
    draw resamples both runs with the same indices. FDs are NaN and the CI None when the
    samples have too few feature rows for a covariance; the CI is also None when fewer than
    ``MIN_SET_DRAWS`` draws are affordable."""
    n = len(base[0])
    ones = np.ones(n, np.int64)
    fb, fn = (_paired_fd(*run, ones, dim, ddof) for run in (base, new))
    if fb is None or fn is None:
        return float("nan"), float("nan"), None
    n_boot = set_n_boot() if n_boot is None else n_boot
    if n_boot <= 0 or n < 2:
        return fb, fn, None
    n_boot = _affordable(n_boot, _draw_cost(base[0], dim, True) + _draw_cost(new[0], dim, True))
    if n_boot < MIN_SET_DRAWS:
        return fb, fn, None
    diffs = []
    for idx in resample_indices(n, n_boot, seed):
        counts = np.bincount(idx, minlength=n)
        vb, vn = _paired_fd(*base, counts, dim, ddof), _paired_fd(*new, counts, dim, ddof)
        if vb is None or vn is None:
            return fb, fn, None
        diffs.append(vn - vb)
    lo, hi = percentile_interval(diffs, alpha)
    return fb, fn, (float(lo), float(hi))
