"""Scoring reports the set-level bootstrap CI of a set metric from its stored per-sample
payloads (the set bootstrap itself: tests/test_stats.py)."""

import numpy as np

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


def test_metric_passes_its_features_ddof_and_reference_to_the_set_bootstrap():
    from hxbench.stats.bootstrap import set_bootstrap_ci
    from hxbench.stats.frechet import FeatureStats

    rng = np.random.default_rng(5)
    gen = [rng.normal(0.5, 1, (4, D)).astype(np.float32) for _ in range(10)]
    ref = [rng.normal(0, 1, (4, D)).astype(np.float32) for _ in range(10)]
    m = ToySet()
    pays = [{"gen": g, "ref": r} for g, r in zip(gen, ref)]
    assert m.bootstrap_ci("fd", pays + [None], n_boot=30) == set_bootstrap_ci(gen, ref, D, 1, 30)
    assert m.bootstrap_ci("fd", pays[:-1] + [{"gen": gen[-1]}], n_boot=30) is None  # a ref is missing
    assert m.bootstrap_ci("other", pays, n_boot=30) is None and m.bootstrap_ci("fd", None) is None
    stats = FeatureStats(D)
    stats.add(np.concatenate(ref))
    m.set_reference(stats)  # fixed reference: only gen is resampled
    got = m.bootstrap_ci("fd", [{"gen": g} for g in gen], n_boot=30)
    assert got == set_bootstrap_ci(gen, stats, D, 1, 30) and got != set_bootstrap_ci(gen, ref, D, 1, 30)
