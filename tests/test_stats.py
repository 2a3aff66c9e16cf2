"""hxbench.stats: bootstrap intervals (per-sample, paired, cluster, set, paired set) against
hand-written references, shared defaults, and the Fréchet distance and feature statistics."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from hxbench.stats import DEFAULT_ALPHA, DEFAULT_N_BOOT, DEFAULT_SEED
from hxbench.stats.bootstrap import (bootstrap_ci, cluster_bootstrap_ratio, paired_bootstrap,
                                     paired_set_bootstrap, set_bootstrap_ci)
from hxbench.stats.frechet import FeatureStats, frechet_distance, frechet_rows, weighted_rows

D = 6


# -- per-sample, paired, cluster ----------------------------------------------------------------
def test_bootstrap_ci_equals_reference_loop():
    """The per-sample CI scored runs print: 1000 draws of n indices from default_rng(0), in
    draw order, mean per draw, linear-interpolated 2.5 / 97.5 % quantiles; bit-identical."""
    x = np.random.default_rng(7).normal(0.6, 0.2, 37)
    rng = np.random.default_rng(0)
    means = np.empty(1000)
    for b in range(1000):
        means[b] = x[rng.integers(0, x.size, x.size)].mean()
    assert bootstrap_ci(x) == (float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975)))
    assert bootstrap_ci([1.0]) is None


def test_paired_bootstrap_math():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1, 200)
    diff, ci = paired_bootstrap(base, base + 0.5 + rng.normal(0, 0.1, 200), n_boot=1000, alpha=0.05)
    assert abs(diff - 0.5) < 0.03 and ci[0] < diff < ci[1] and ci[1] - ci[0] < 0.05  # pairing removes base noise
    diff, ci = paired_bootstrap(base, base + rng.normal(0, 0.1, 200))
    assert ci[0] < 0 < ci[1]


def test_paired_bootstrap_is_the_mean_ci_of_differences():
    rng = np.random.default_rng(2)
    base, new = rng.normal(size=30), rng.normal(size=30)
    assert paired_bootstrap(base, new) == (float((new - base).mean()), bootstrap_ci(new - base))
    assert paired_bootstrap([1.0], [3.0]) == (2.0, (2.0, 2.0))
    with pytest.raises(ValueError):
        paired_bootstrap([], [])


def test_cluster_bootstrap_ratio():
    num = np.array([2.0, 2.0, 2.0])
    den = np.array([4.0, 4.0, 4.0])
    assert cluster_bootstrap_ratio(num, den) == pytest.approx((0.5, 0.5))
    num = np.array([4.0, -4.0, 0.0, 2.0])
    den = np.array([4.0, 4.0, 4.0, 4.0])
    lo, hi = cluster_bootstrap_ratio(num, den, n_boot=2000)
    assert -1 <= lo < 2 / 16 < hi <= 1
    assert cluster_bootstrap_ratio(np.array([1.0]), np.array([1.0])) is None


def test_defaults_are_shared():
    """compare, scoring and the study all draw with the constants of hxbench.stats."""
    from hxbench.board.compare import compare_runs, set_bootstrap
    from hxbench.commands.compare import register as register_compare
    from hxbench.commands.study import register as register_study
    from hxbench.study.core import build_report
    from hxbench.study.report import compute
    import argparse

    assert (DEFAULT_N_BOOT, DEFAULT_ALPHA, DEFAULT_SEED) == (1000, 0.05, 0)
    for fn in (bootstrap_ci, paired_bootstrap, cluster_bootstrap_ratio, compare_runs, compute):
        p = inspect.signature(fn).parameters
        assert p["n_boot"].default == DEFAULT_N_BOOT and p["seed"].default == DEFAULT_SEED, fn
    assert inspect.signature(build_report).parameters["n_boot"].default == DEFAULT_N_BOOT
    for fn in (bootstrap_ci, paired_bootstrap, cluster_bootstrap_ratio, compare_runs, set_bootstrap_ci,
               paired_set_bootstrap, set_bootstrap):
        assert inspect.signature(fn).parameters["alpha"].default == DEFAULT_ALPHA, fn
    for fn in (compare_runs, set_bootstrap):  # set-level draws: the set default (None)
        p = inspect.signature(fn).parameters
        assert p["n_boot_set" if "n_boot_set" in p else "n_boot"].default is None
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    register_compare(sub)
    register_study(sub)
    args = parser.parse_args(["compare", "a", "b"])
    assert (args.n_boot, args.alpha, args.seed, args.n_boot_set) == (DEFAULT_N_BOOT, DEFAULT_ALPHA, DEFAULT_SEED,
                                                                     None)
    assert parser.parse_args(["study", "report", "s"]).n_boot == DEFAULT_N_BOOT


# -- Fréchet distance and feature statistics ----------------------------------------------------
def test_frechet_distance_matches_pytorch_fid():
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(0)
    d = 64
    a = rng.normal(size=(400, d)) @ rng.normal(size=(d, d)) * 0.3
    b = rng.normal(size=(500, d)) @ rng.normal(size=(d, d)) * 0.3 + 0.2
    for x, y in [(a, b), (a, a[::-1] + 1e-3)]:
        mu1, s1 = x.mean(0), np.cov(x, rowvar=False)
        mu2, s2 = y.mean(0), np.cov(y, rowvar=False)
        ours = frechet_distance(mu1, s1, mu2, s2)
        theirs = calculate_frechet_distance(mu1, s1, mu2, s2)
        assert abs(ours - theirs) <= 1e-6 * max(abs(theirs), 1e-3), (ours, theirs)


def test_feature_stats_equal_numpy_cov_and_merge():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(50, 8))
    whole = FeatureStats(8)
    whole.add(f)
    parts = [FeatureStats(8) for _ in range(3)]
    for p, chunk in zip(parts, np.array_split(f, 3)):
        p.add(chunk)
    parts[0].merge(parts[1])
    parts[0].merge(parts[2])
    for st in (whole, parts[0]):
        mu, cov = st.mean_cov(1)
        assert np.allclose(mu, f.mean(0), atol=1e-12)
        assert np.allclose(cov, np.cov(f, rowvar=False), atol=1e-12)
    assert np.allclose(whole.mean_cov(0)[1], np.cov(f, rowvar=False, bias=True), atol=1e-12)


@pytest.mark.parametrize("rows", [30, 200])
def test_row_space_frechet_equals_covariance_form(rows):
    d = 64
    rng = np.random.default_rng(rows)
    g = [rng.normal(0.3, 1.2, (rows // 3, d)) for _ in range(3)]
    r = [rng.normal(0, 1, (rows // 3, d)) for _ in range(3)]
    counts = np.array([2, 1, 3])
    # reference: repeat each sample's rows `count` times and use the covariance form
    x1 = np.concatenate([np.repeat(f, c, axis=0) for f, c in zip(g, counts)])
    x2 = np.concatenate([np.repeat(f, c, axis=0) for f, c in zip(r, counts)])
    ref = frechet_distance(x1.mean(0), np.cov(x1, rowvar=False), x2.mean(0), np.cov(x2, rowvar=False))
    got = frechet_rows(weighted_rows(g, counts, d, 1), weighted_rows(r, counts, d, 1))
    # With fewer rows than dimensions (rows=30) S1 S2 is singular and the covariance form's matrix
    # square root is accurate only to about sqrt(eps) * (tr S1 + tr S2) (measured 6e-9 of it, varying with
    # the BLAS thread count); the row-space form is exact to rounding. Bound: 1e-7 of that scale.
    scale = np.trace(np.cov(x1, rowvar=False)) + np.trace(np.cov(x2, rowvar=False))
    assert abs(got - ref) <= 1e-7 * scale


# -- set bootstraps ---------------------------------------------------------------------------
def _payloads(n, shift, seed=0, k=5):
    rng = np.random.default_rng(seed)
    return [{"gen": rng.normal(shift, 1, (k, D)).astype(np.float32),
             "ref": rng.normal(0, 1, (k, D)).astype(np.float32)} for _ in range(n)]


def _set_ci(pays, n_boot):
    return set_bootstrap_ci([p["gen"] for p in pays], [p["ref"] for p in pays], D, 1, n_boot)


def _fd(pays):
    g, r = FeatureStats(D), FeatureStats(D)
    for p in pays:
        g.add(p["gen"])
        r.add(p["ref"])
    return frechet_distance(*g.mean_cov(1), *r.mean_cov(1))


def test_ci_brackets_the_estimate_and_narrows_with_more_samples():
    widths = []
    for n in (8, 64):
        pays = _payloads(n, 1.0, seed=n)
        est = _fd(pays)
        lo, hi = _set_ci(pays, 200)
        assert lo < est < hi * 1.5  # the resampled distance is biased upward; the estimate is inside or near
        assert lo < hi
        widths.append(hi - lo)
    assert widths[1] < widths[0]
    # deterministic for a seed; a larger shift moves the interval up
    assert _set_ci(pays, 50) == _set_ci(pays, 50)
    lo2, _ = _set_ci(_payloads(64, 3.0, seed=64), 50)
    assert lo2 > hi


@pytest.mark.parametrize("fixed_ref", [False, True])
def test_set_bootstrap_equals_reference_loop(fixed_ref):
    """The FID / FVD interval scored runs print: per draw, n indices from default_rng(0)
    drawn in order, the drawn rows repeated and the covariance form; bit-identical draws, and
    values to float64 round-off of the two algebraically equal forms."""
    pays = _payloads(10, 0.5, seed=3)
    gen = [p["gen"] for p in pays]
    ref_stats = FeatureStats(D)
    ref_stats.add(np.random.default_rng(4).normal(size=(40, D)))
    rng = np.random.default_rng(0)
    vals = []
    for _ in range(60):
        idx = rng.integers(0, 10, 10)
        x = np.concatenate([gen[i] for i in idx]).astype(np.float64)
        if fixed_ref:
            mu_r, cov_r = ref_stats.mean_cov(1)
        else:
            y = np.concatenate([pays[i]["ref"] for i in idx]).astype(np.float64)
            mu_r, cov_r = y.mean(0), np.cov(y, rowvar=False)
        vals.append(frechet_distance(x.mean(0), np.cov(x, rowvar=False), mu_r, cov_r))
    expected = np.quantile(vals, [0.025, 0.975])
    got = set_bootstrap_ci(gen, ref_stats if fixed_ref else [p["ref"] for p in pays], D, 1, 60)
    assert np.allclose(got, expected, rtol=1e-9, atol=0)


def test_set_bootstrap_limits(monkeypatch):
    pays = _payloads(6, 0.5)
    assert _set_ci(pays[:1], 50) is None  # one sample: nothing to resample
    assert _set_ci(pays, 0) is None
    assert _set_ci(pays, 19) is None  # fewer than 20 draws: no interval
    monkeypatch.setenv("HXBENCH_SET_BOOTSTRAP", "0")
    assert _set_ci(pays, None) is None
    monkeypatch.setenv("HXBENCH_SET_BOOTSTRAP", "30")
    monkeypatch.setenv("HXBENCH_SET_BOOTSTRAP_MAX_FLOPS", "1e3")  # budget for no draw at all
    assert _set_ci(pays, None) is None
    monkeypatch.delenv("HXBENCH_SET_BOOTSTRAP_MAX_FLOPS")
    assert _set_ci(pays, None) == _set_ci(pays, 30)


@pytest.mark.parametrize("k", [3, 40])  # rows < dims (row-space SVD) and rows >= dims (covariances)
def test_paired_set_bootstrap_equals_covariance_form(k):
    """Row-space draws equal d x d covariance draws of the same resamples. Tolerance rtol 1e-6:
    the two forms are algebraically equal; in float64 they differ by round-off of the SVD /
    eigendecomposition and of BLAS summation order (thread count), ~1e-10 relative here, so
    1e-6 fails only on a real difference."""
    d, n = 32, 12
    rng = np.random.default_rng(k)
    refs = [rng.normal(0, 1, (k, d)) for _ in range(n)]
    base = ([rng.normal(0.2, 1, (k, d)) for _ in range(n)], refs)
    new = ([rng.normal(0.6, 1.1, (k, d)) for _ in range(n)], refs)

    def cov_fd(run, idx):
        x = np.concatenate([run[0][i] for i in idx])
        y = np.concatenate([run[1][i] for i in idx])
        return frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))

    draws = np.random.default_rng(0).integers(0, n, size=(40, n))
    diffs = [cov_fd(new, idx) - cov_fd(base, idx) for idx in draws]
    fb, fn, ci = paired_set_bootstrap(base, new, d, 1, n_boot=40)
    assert np.allclose([fb, fn], [cov_fd(base, range(n)), cov_fd(new, range(n))], rtol=1e-6, atol=0)
    assert np.allclose(ci, np.quantile(diffs, [0.025, 0.975]), rtol=1e-6, atol=0)
    assert 0 < ci[0] < fn - fb < ci[1]
    # the same run against itself: zero difference, zero-width interval
    assert paired_set_bootstrap(base, base, d, 1, n_boot=40) == (fb, fb, (0.0, 0.0))


def test_frechet_distance_of_a_set_with_itself_is_zero_not_negative():
    """Identical sets: rounding used to make the distance negative (-1e-4 at FID scale, printed
    as -0.0001); it is non-negative by definition, so it is clamped at 0, and what rounding leaves
    above 0 is tiny next to the traces (tr S = 64 here)."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 64))  # fewer rows than dimensions: the rounding-prone case
    mu, cov = x.mean(0), np.cov(x, rowvar=False)
    assert 0.0 <= frechet_distance(mu, cov, mu, cov) <= 1e-9
    rows = weighted_rows([x], np.array([1]), 64, 1)
    assert 0.0 <= frechet_rows(rows, rows) <= 1e-9
    # a shift by 1 in every dimension adds 64; the rest is the rank-deficient square root's rounding
    assert frechet_distance(mu, cov, mu + 1, cov) == pytest.approx(64.0, abs=1e-7 * 2 * np.trace(cov))
