"""Bootstrap CIs for set-level metrics: sets resampled from per-sample payloads."""

import numpy as np
import pytest

from hxbench.stats.bootstrap import set_bootstrap_ci
from hxbench.metrics._setstats import SetFeatureMetric
from hxbench.metrics.base import LOWER, SampleData, register_metric
from hxbench.registry import METRICS
from hxbench.eval.scoring import SampleSource, score

D = 6


class ToySet(SetFeatureMetric):
    """A set metric whose 'network' is the identity on pre-made features (no weights)."""

    name = "toyset_for_bootstrap_test"
    variants = ("v",)
    outputs = {"fd": LOWER}
    feature_dim = D
    ddof = 1
    output = "fd"

    use_ref_cache = False

    def iter_inputs(self, clip, sample):
        import torch

        yield torch.as_tensor(np.asarray(clip, np.float32))

    def forward(self, x):
        return x.numpy()


if "toyset_for_bootstrap_test" not in METRICS:
    register_metric(ToySet)


def _payloads(n, shift, seed=0, k=5):
    rng = np.random.default_rng(seed)
    return [{"gen": rng.normal(shift, 1, (k, D)).astype(np.float32),
             "ref": rng.normal(0, 1, (k, D)).astype(np.float32)} for _ in range(n)]


def test_ci_brackets_the_estimate_and_narrows_with_more_samples():
    m = ToySet()
    widths = []
    for n in (8, 64):
        pays = _payloads(n, 1.0, seed=n)
        m.reset()
        for p in pays:
            m.replay(type("S", (), {"payload": p, "values": {}})())
        est = m.compute()["fd"].value
        lo, hi = set_bootstrap_ci(m, pays, n_boot=200)
        assert lo < est < hi * 1.5  # the resampled distance is biased upward; the estimate is inside or near
        assert lo < hi
        widths.append(hi - lo)
    assert widths[1] < widths[0]
    # deterministic for a seed; a larger shift moves the interval up
    assert set_bootstrap_ci(m, pays, n_boot=50) == set_bootstrap_ci(m, pays, n_boot=50)
    lo2, _ = set_bootstrap_ci(m, _payloads(64, 3.0, seed=64), n_boot=50)
    assert lo2 > hi


def test_scoring_reports_set_ci_from_stored_payloads(tmp_path):
    rng = np.random.default_rng(3)
    sources = []
    for i in range(10):
        g, r = rng.normal(0.5, 1, (4, D)).astype(np.float32), rng.normal(0, 1, (4, D)).astype(np.float32)
        sources.append(SampleSource(f"s{i}", lambda g=g, r=r, i=i: SampleData(f"s{i}", gen=g, ref=r)))
    res = score(sources, ["toyset_for_bootstrap_test"], run_dir=tmp_path / "run", progress=False)
    row = res.metrics["toyset_for_bootstrap_test[v]"].outputs["fd"]
    assert row.ci95 is not None and row.ci95[0] < row.ci95[1]
    # resume: the CI is recomputed from the stored payloads, identically
    res2 = score(sources, ["toyset_for_bootstrap_test"], run_dir=tmp_path / "run", progress=False)
    assert res2.n_reused_records == 10
    assert res2.metrics["toyset_for_bootstrap_test[v]"].outputs["fd"].ci95 == row.ci95
    # without a run directory there are no stored payloads: no interval, never a made-up one
    res3 = score(sources, ["toyset_for_bootstrap_test"], progress=False)
    assert res3.metrics["toyset_for_bootstrap_test[v]"].outputs["fd"].ci95 is None


@pytest.mark.parametrize("rows", [30, 200])
def test_row_space_frechet_equals_covariance_form(rows):
    from hxbench.stats.bootstrap import _centered, frechet_rows
    from hxbench.metrics._setstats import frechet_distance

    d = 64
    rng = np.random.default_rng(rows)
    g = [rng.normal(0.3, 1.2, (rows // 3, d)) for _ in range(3)]
    r = [rng.normal(0, 1, (rows // 3, d)) for _ in range(3)]
    counts = np.array([2, 1, 3])
    mu1, a1, d1 = _centered(g, counts, d, 1)
    mu2, a2, d2 = _centered(r, counts, d, 1)
    # reference: repeat each sample's rows `count` times and use the covariance form
    x1 = np.concatenate([np.repeat(f, c, axis=0) for f, c in zip(g, counts)])
    x2 = np.concatenate([np.repeat(f, c, axis=0) for f, c in zip(r, counts)])
    ref = frechet_distance(x1.mean(0), np.cov(x1, rowvar=False), x2.mean(0), np.cov(x2, rowvar=False))
    assert np.isclose(frechet_rows(mu1, a1, d1, mu2, a2, d2), ref, rtol=1e-8)
