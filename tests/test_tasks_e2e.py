"""Every task end to end on hx-synth tiny: ground truth (folder: adapter) vs the still-image
baseline through `hxbench run`, then `hxbench report`; slow (synth build + face mesh + I3D)."""

import json

import pytest

pytestmark = pytest.mark.slow

# (task, metrics used here (a fast subset of the task's list), metric/output that must separate them)
CASES = [
    ("listen_to_command", ["command_accuracy[face-mesh]", "ssim[rgb-255]"],
     ("command_accuracy[face-mesh]", "command_accuracy")),
    ("lip_sync", ["av_sync[mouth-energy]", "ssim[rgb-255]"], ("av_sync[mouth-energy]", "av_corr")),
    ("multi_person", ["driving_accuracy[mouth-std-0.4s]"], ("driving_accuracy[mouth-std-0.4s]", "da_balanced")),
    ("full_body", ["fvd[styleganv-16f]", "ssim[rgb-255]"], ("fvd[styleganv-16f]", "fvd")),
]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    import hxbench.synth as synth

    root = tmp_path_factory.mktemp("synth")
    synth.build(root, "tiny", 0, progress=False,
                protocols=("lip_sync", "listen_to_command", "multi_person", "full_body"))
    return root


@pytest.mark.parametrize("task, metrics, separating", CASES, ids=[c[0] for c in CASES])
def test_ground_truth_beats_still_image(data, tmp_path, task, metrics, separating, capsys):
    from hxbench.cli import main
    from hxbench.eval.tasks import get_task
    from hxbench.eval.tasks_data import ground_truth_outputs

    spec = get_task(task)
    assert set(metrics) <= set(spec.metrics) or task == "lip_sync"
    gt = ground_truth_outputs(spec.manifest_path(data), tmp_path / "gt")
    values = {}
    for name, model in (("gt", f"folder:{gt}"), ("still", "still-image")):
        run = tmp_path / name
        assert main(["run", "--task", task, "--model", model, "--data", str(data), "--run-dir", str(run),
                     "--metrics", *metrics, "--json"]) == 0
        assert main(["report", str(run), "--out", str(run / "report.html")]) == 0
        res = json.loads((run / "results.json").read_text())
        assert res["task"]["name"] == task and res["task"]["version"] == spec.version
        recs = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
        assert {r["metric"] for r in recs} == set(metrics)
        assert "<table" in (run / "report.html").read_text()
        key, out = separating
        values[name] = res["metrics"][key]["outputs"][out]["value"]
    key, out = separating
    if out == "fvd":
        assert values["gt"] < 1.0 < 50 < values["still"]
    else:
        assert values["gt"] > values["still"] + 0.2, values
