"""The results schema: old run directories load and are written back unchanged, scoring writes
the same layout, malformed or newer files fail naming the file and field, pandas views."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from hxbench.eval.results import RunStore
from hxbench.eval.schema import (SCHEMA_VERSION, RunResults, SampleRecord, SchemaError, load_frames,
                                 load_samples)
from hxbench.io import media
from tests.conftest import moving_square_video

V1 = Path(__file__).parent / "data" / "results_v1"  # written by the scoring code at 9409ecb


def _layout(obj):
    """The JSON structure without the values: keys in order, recursively."""
    if isinstance(obj, dict):
        return [(k, _layout(v)) for k, v in obj.items()]
    if isinstance(obj, list):
        return [_layout(v) for v in obj]
    return type(obj).__name__


@pytest.fixture(scope="module")
def scored_now(tmp_path_factory):
    """The fixture's recipe run through today's score(): three clips, one failing."""
    from hxbench.eval.inputs import from_paths
    from hxbench.eval.scoring import score

    tmp = tmp_path_factory.mktemp("schema")
    rng = np.random.default_rng(0)
    for i in range(3):
        ref = moving_square_video(6, 32, seed=i)
        gen = np.clip(ref.astype(int) + rng.integers(-20, 20, ref.shape), 0, 255).astype(np.uint8)
        media.write_video(tmp / "ref" / f"s{i}.mp4", ref, 25)
        media.write_video(tmp / "gen" / f"s{i}.mp4", gen[:, :16, :16] if i == 2 else gen, 25)
    results = score(from_paths(tmp / "gen", tmp / "ref"), ["ssim", "psnr", "id_sim[arcface-r100]"],
                    run_dir=tmp / "run", progress=False, task={"name": "toy", "version": 1},
                    dataset={"manifest": "toy.jsonl", "revision": "abc123", "n_samples": 3, "shard": "0/1"},
                    model={"name": "noisy"})
    return results, tmp / "run"


def test_v1_files_load_and_write_back_byte_for_byte():
    text = (V1 / "results.json").read_text()
    results = RunResults.load(V1)
    assert results.schema_version == 1 and results.n_samples == 3
    ssim = results.metrics["ssim[rgb-255]"]
    assert ssim.ok and ssim.n_failed == 1 and ssim.failures[0].sample_id == "s2"
    assert ssim.outputs["ssim"].n == 2 and ssim.outputs["ssim"].higher_is_better is True
    assert not results.metrics["id_sim[arcface-r100]"].ok
    assert "weights fetch arcface-r100" in results.metrics["id_sim[arcface-r100]"].fix
    assert json.dumps(results.to_json(), indent=2) + "\n" == text
    lines = (V1 / "samples.jsonl").read_text().splitlines()
    assert [json.dumps(SampleRecord.from_json(json.loads(x), "line").to_json(), sort_keys=True)
            for x in lines] == lines


def test_score_returns_run_results_in_the_v1_layout(scored_now):
    results, run_dir = scored_now
    assert isinstance(results, RunResults) and results.schema_version == SCHEMA_VERSION
    assert RunResults.load(run_dir) == results
    now, v1 = json.loads((run_dir / "results.json").read_text()), json.loads((V1 / "results.json").read_text())
    for doc in (now, v1):  # machine-dependent values, not layout
        doc["environment"] = {}
    assert _layout(now) == _layout(v1)
    # Strings, counts and failures as the code at 9409ecb wrote them. The float values are not
    # compared with v1's: they came from videos that libx264 encoded with automatic threads, which
    # gives different bytes from run to run, so those inputs cannot be re-created; instead every
    # stored value must be what the metric computes on today's (deterministic) inputs, and each
    # aggregate the mean of its per-sample values (float64: 1e-12 relative covers the sum order).
    assert _numbers_close(_floats_blank(now["metrics"]), _floats_blank(v1["metrics"]))
    now_records = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    v1_records = [json.loads(x) for x in (V1 / "samples.jsonl").read_text().splitlines()]
    assert [(r["sample_id"], r["metric"], r.get("error")) for r in now_records] == \
        [(r["sample_id"], r["metric"], r.get("error")) for r in v1_records]
    from hxbench.io.media import Clip
    from hxbench.metrics.base import SampleData, build_metric

    tmp = run_dir.parent
    for key in ("ssim[rgb-255]", "psnr[rgb-255]"):
        name = key.split("[")[0]
        values = []
        for r in now_records:
            if r["metric"] != key or "values" not in r:
                continue
            sid = r["sample_id"]
            direct = build_metric(key).update(SampleData(
                sid, gen=Clip(source=str(tmp / "gen" / f"{sid}.mp4"), kind="video"),
                ref=Clip(source=str(tmp / "ref" / f"{sid}.mp4"), kind="video"))).values[name]
            assert r["values"][name] == pytest.approx(direct, rel=1e-12)
            values.append(direct)
        assert len(values) == 2
        assert now["metrics"][key]["outputs"][name]["value"] == pytest.approx(np.mean(values), rel=1e-12)


def _floats_blank(obj):
    """``obj`` with every float replaced by 0.0 (structure, strings and ints kept)."""
    if isinstance(obj, float):
        return 0.0
    if isinstance(obj, dict):
        return {k: _floats_blank(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_floats_blank(v) for v in obj]
    return obj


def _numbers_close(a, b, rel: float = 1e-9) -> bool:
    """Equal structure and strings; floats equal to ``rel``."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_numbers_close(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_numbers_close(x, y, rel) for x, y in zip(a, b))
    return a == b


def test_a_newer_schema_version_is_refused_naming_the_file(tmp_path):
    doc = json.loads((V1 / "results.json").read_text())
    doc["schema_version"] = SCHEMA_VERSION + 1
    (tmp_path / "results.json").write_text(json.dumps(doc))
    with pytest.raises(SchemaError, match=rf"{tmp_path / 'results.json'}: schema_version 2 is newer"):
        RunResults.load(tmp_path)


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["metrics"]["ssim[rgb-255]"]["outputs"]["ssim"].update(n="2"),
     r"metrics\.ssim\[rgb-255\]\.outputs\.ssim\.n: expected int"),
    (lambda d: d["metrics"]["psnr[rgb-255]"].pop("version"), r"metrics\.psnr\[rgb-255\]: missing field 'version'"),
    (lambda d: d["metrics"]["psnr[rgb-255]"].update(status="maybe"), r"\.status: expected 'ok' or 'unavailable'"),
    (lambda d: d.update(surprise=1), r"unknown field\(s\) \['surprise'\]"),
    (lambda d: d["metrics"]["ssim[rgb-255]"]["outputs"]["ssim"].update(ci95=[1]), r"ci95: expected \[low, high\]"),
])
def test_malformed_results_name_the_field(tmp_path, edit, field):
    doc = json.loads((V1 / "results.json").read_text())
    edit(doc)
    (tmp_path / "results.json").write_text(json.dumps(doc))
    with pytest.raises(SchemaError, match=field) as err:
        RunResults.load(tmp_path)
    assert str(tmp_path / "results.json") in str(err.value)


def test_malformed_samples_name_the_line(tmp_path):
    shutil.copy(V1 / "samples.jsonl", tmp_path / "samples.jsonl")
    with open(tmp_path / "samples.jsonl", "a") as f:
        f.write(json.dumps({"sample_id": "s9", "metric": "ssim[rgb-255]", "metric_version": "1"}) + "\n")
    with pytest.raises(SchemaError, match=r"samples\.jsonl:7: a record has either 'values' or 'error'"):
        load_samples(tmp_path)
    with pytest.raises(SchemaError, match=r"samples\.jsonl:7"):
        RunStore(tmp_path)


def test_frames_of_a_run_directory(tmp_path):
    shutil.copytree(V1, tmp_path / "run")
    with open(tmp_path / "run" / "samples.jsonl", "a") as f:  # a stale record of an older metric version
        f.write(json.dumps(SampleRecord("s9", "ssim[rgb-255]", "0", values={"ssim": 0.1}).to_json()) + "\n")
    samples, metrics = load_frames(tmp_path / "run")
    assert len(samples) == 6 and "s9" not in set(samples.sample_id)  # 2 metrics x (2 values + 1 error)
    ok = samples[samples.error.isna()]
    assert sorted(ok.output) == ["psnr", "psnr", "ssim", "ssim"]
    failed = samples[samples.error.notna()]
    assert list(failed.sample_id) == ["s2", "s2"] and failed.value.isna().all()
    results = RunResults.load(tmp_path / "run")
    # the aggregates are the means of the per-sample rows
    for key, out in (("ssim[rgb-255]", "ssim"), ("psnr[rgb-255]", "psnr")):
        mean = ok[(ok.metric == key) & (ok.output == out)].value.mean()
        assert math.isclose(mean, results.metrics[key].outputs[out].value, rel_tol=1e-12)
    assert list(metrics.metric) == ["ssim[rgb-255]", "psnr[rgb-255]", "id_sim[arcface-r100]"]
    row = metrics.iloc[0]
    assert (row.output, row.n, row.status) == ("ssim", 2, "ok")
    assert (row.ci95_low, row.ci95_high) == results.metrics["ssim[rgb-255]"].outputs["ssim"].ci95
    assert metrics.iloc[2].status == "unavailable" and "arcface-r100" in metrics.iloc[2].reason
    assert results.samples_frame(tmp_path / "run").equals(samples)
