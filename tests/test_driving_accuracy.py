"""driving_accuracy: per (person, 0.4 s window), mouth motion vs speaking labels."""

import json

import numpy as np
import pytest

from hxbench.errors import SampleError
from hxbench.metrics.driving_accuracy import driving_accuracy

T = 100  # 10 windows of 10 frames


def _labels():
    lab = np.zeros((T, 2), bool)
    lab[0:40, 0] = True   # person 0 talks first
    lab[50:90, 1] = True  # then person 1
    return lab


def _mouth(talking: np.ndarray, seed=0):
    rng = np.random.default_rng(seed)
    base = 0.02 + rng.normal(0, 0.003, talking.shape)
    t = np.arange(len(talking))[:, None]
    return base + talking * (0.1 + 0.08 * np.sin(2 * np.pi * t / 6))


def test_right_person_talking_scores_one():
    lab = _labels()
    out = driving_accuracy(_mouth(lab), lab)
    assert out == {"da": 1.0, "da_balanced": 1.0, "n_windows": 20.0}


def test_still_video_scores_the_silent_share_and_half_balanced():
    lab = _labels()
    out = driving_accuracy(_mouth(np.zeros_like(lab)), lab)
    assert out["da"] == pytest.approx(12 / 20)  # 8 speaking pairs missed, 12 silent pairs right
    assert out["da_balanced"] == 0.5


def test_wrong_person_talking_scores_zero_and_everyone_talking_half():
    lab = _labels()
    swapped = driving_accuracy(_mouth(lab[:, ::-1]), lab)
    assert swapped["da"] < 0.25
    everyone = driving_accuracy(_mouth(np.ones_like(lab)), lab)
    assert everyone["da_balanced"] == 0.5


def test_ambiguous_windows_are_skipped_and_lost_faces_are_not_driven():
    lab = _labels()
    lab[40:45, 0] = True  # window 4 of person 0 is half speaking: skipped
    assert driving_accuracy(_mouth(lab), lab)["n_windows"] == 19.0
    mouth = _mouth(lab)
    mouth[0:40, 0] = np.nan  # face lost while talking
    assert driving_accuracy(mouth, lab)["da"] < 1.0
    with pytest.raises(SampleError):
        driving_accuracy(_mouth(lab)[:5], lab[:5])  # no complete window


@pytest.mark.slow
def test_multi_person_ground_truth_vs_still(tmp_path):
    """hx-synth tiny multi_person: ground-truth video vs the still-image baseline through
    `hxbench run` (folder: adapter and still-image), with results, samples and the report."""
    import hxbench.synth as synth
    from hxbench.cli import main
    from hxbench.eval.tasks_data import ground_truth_outputs

    data = tmp_path / "data"
    synth.build(data, "tiny", 0, progress=False, protocols=("multi_person",))
    gt = ground_truth_outputs(data / "multi_person" / "test.jsonl", tmp_path / "gt")
    res = {}
    for name, model in (("gt", f"folder:{gt}"), ("still", "still-image")):
        run = tmp_path / name
        assert main(["run", "--task", "multi_person", "--model", model, "--data", str(data), "--run-dir",
                     str(run), "--metrics", "driving_accuracy[mouth-std-0.4s]", "--json"]) == 0
        assert main(["report", str(run), "--out", str(run / "report.html")]) == 0
        assert (run / "samples.jsonl").is_file() and list(run.glob("*.html"))
        res[name] = json.loads((run / "results.json").read_text())["metrics"]["driving_accuracy[mouth-std-0.4s]"]["outputs"]
    assert res["gt"]["da_balanced"]["value"] >= 0.85
    assert res["still"]["da_balanced"]["value"] == 0.5
