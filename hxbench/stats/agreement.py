"""Rank statistics for metric validity: AUC of two sets of scores, Spearman correlation, and
agreement of a metric with human ratings (MoChaBench's per-example method and pooled), each
with a percentile bootstrap interval from ``bootstrap.resample_indices`` (the unit resampled is
the sample, or the example for per-example statistics).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hxbench.stats import DEFAULT_ALPHA, DEFAULT_N_BOOT, DEFAULT_SEED
from hxbench.stats.bootstrap import percentile_interval, resample_indices


def auc(neg: Sequence[float], pos: Sequence[float]) -> float:
    """P(pos > neg) + P(pos == neg) / 2 over all pairs (Mann-Whitney AUC); NaN if a side is
    empty. ``inf`` values are allowed (a refused sample scored as infinitely bad)."""
    a = np.asarray(neg, np.float64).reshape(-1)
    b = np.asarray(pos, np.float64).reshape(-1)
    if a.size == 0 or b.size == 0:
        return float("nan")
    gt = (b[:, None] > a[None, :]).mean()
    eq = (b[:, None] == a[None, :]).mean()
    return float(gt + 0.5 * eq)


def paired_auc_ci(neg: Sequence[float], pos: Sequence[float], n_boot: int = DEFAULT_N_BOOT,
                  alpha: float = DEFAULT_ALPHA, seed: int = DEFAULT_SEED) -> tuple[float, float] | None:
    """Percentile CI of ``auc(neg, pos)`` where neg[i] and pos[i] belong to sample i (clean and
    perturbed): each draw resamples samples and takes both values of each. None for < 2."""
    a = np.asarray(neg, np.float64).reshape(-1)
    b = np.asarray(pos, np.float64).reshape(-1)
    if a.size != b.size:
        raise ValueError("paired_auc_ci needs one value of each kind per sample")
    if a.size < 2:
        return None
    draws = [auc(a[idx], b[idx]) for idx in resample_indices(a.size, n_boot, seed)]
    lo, hi = percentile_interval(np.asarray(draws), alpha)
    return float(lo), float(hi)


def rankdata(x: Sequence[float]) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (scipy's ``rankdata(method='average')``)."""
    x = np.asarray(x, np.float64).reshape(-1)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), np.float64)
    xs = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and xs[j + 1] == xs[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho (Pearson correlation of average ranks, as scipy's ``spearmanr``); NaN when
    either side is constant or fewer than 2 pairs."""
    x = np.asarray(x, np.float64).reshape(-1)
    y = np.asarray(y, np.float64).reshape(-1)
    if len(x) != len(y):
        raise ValueError("spearman needs two sequences of the same length")
    if len(x) < 2:
        return float("nan")
    rx, ry = rankdata(x), rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / den) if den > 0 else float("nan")


def per_example_spearman(human: np.ndarray, other: np.ndarray) -> np.ndarray:
    """(E,) Spearman rho per example (row) between ``human`` (E, M) and ``other`` (E, M) ratings
    of the same M systems; NaN for an example where either row is constant (MoChaBench's
    ``compute_alignment.py`` computes rho only when both human and rater vary)."""
    human = np.asarray(human, np.float64)
    other = np.asarray(other, np.float64)
    out = np.full(human.shape[0], np.nan)
    for e in range(human.shape[0]):
        h, o = human[e], other[e]
        ok = np.isfinite(h) & np.isfinite(o)
        if ok.sum() >= 2 and len(set(h[ok])) > 1 and len(set(o[ok])) > 1:
            out[e] = spearman(h[ok], o[ok])
    return out


def alignment(human: np.ndarray, other: np.ndarray, n_boot: int = DEFAULT_N_BOOT, alpha: float = DEFAULT_ALPHA,
              seed: int = DEFAULT_SEED) -> dict[str, object]:
    """Agreement of a rater (a metric oriented so that higher is better, or GPT-4o) with human
    ratings: ``human`` and ``other`` are (E, M) tables (example x system).

    - ``rho_example``: the mean over examples of the per-example Spearman rho across the M
      systems, examples with a constant row left out (MoChaBench's ``compute_alignment``),
      ``n_example`` of them; ``ci_example``: its bootstrap CI over examples;
    - ``rho_pooled``: Spearman rho over all E x M (example, system) cells pooled, with its CI
      (examples resampled with all their cells).
    """
    human = np.asarray(human, np.float64)
    other = np.asarray(other, np.float64)
    if human.shape != other.shape or human.ndim != 2:
        raise ValueError(f"human {human.shape} and rater {other.shape} must be equal (examples, systems) tables")
    per = per_example_spearman(human, other)
    ok = np.isfinite(per)
    rho_ex = float(per[ok].mean()) if ok.any() else float("nan")

    def pooled(rows: np.ndarray) -> float:
        h, o = human[rows].reshape(-1), other[rows].reshape(-1)
        keep = np.isfinite(h) & np.isfinite(o)
        return spearman(h[keep], o[keep])

    idx_all = np.arange(human.shape[0])
    ci_ex = ci_pool = None
    if human.shape[0] >= 2:
        draws = resample_indices(human.shape[0], n_boot, seed)
        ex = [np.nanmean(per[d]) if np.isfinite(per[d]).any() else np.nan for d in draws]
        ex = np.asarray(ex)[np.isfinite(ex)]
        if ex.size:
            ci_ex = tuple(float(v) for v in percentile_interval(ex, alpha))
        po = np.asarray([pooled(d) for d in draws])
        po = po[np.isfinite(po)]
        if po.size:
            ci_pool = tuple(float(v) for v in percentile_interval(po, alpha))
    return {"rho_example": rho_ex, "n_example": int(ok.sum()), "ci_example": ci_ex,
            "rho_pooled": pooled(idx_all), "ci_pooled": ci_pool, "per_example": per.tolist()}
