"""Task registry: every bundled task (hxbench/resources/tasks) loads and is version-locked; bad YAMLs are rejected."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import hxbench.eval.tasks as tasks
from hxbench.errors import ManifestError
from hxbench.io.manifest import Expected, Sample, load_manifest, write_manifest
from hxbench.eval.tasks import TASKS_DIR, get_task, load_task_file

ALL = sorted(p.parent.name for p in TASKS_DIR.glob("*/task.yaml"))

GOOD = """name: demo
version: 1
description: d
dataset: hx-synth-tiny
split: test
manifest: demo/test.jsonl
output: video
metrics:
  - ssim[rgb-255]
  - psnr
main_metric: ssim[rgb-255]
"""


def _write(tmp_path, text, name="demo"):
    path = tmp_path / name / "task.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_every_task_loads_and_has_a_readme():
    expected = {"lip_sync", "listen_to_command", "multi_person", "full_body", "audio_qa_text",
                "audio_qa_speech", "audio_qa_spoken"}
    assert expected <= set(ALL)
    for name in ALL:
        spec = get_task(name)
        assert spec.main_metric in spec.metrics
        assert (TASKS_DIR / name / "README.md").read_text().strip()


def test_every_released_task_is_in_the_version_lock():
    lock = json.loads((TASKS_DIR / "VERSIONS.json").read_text())
    for name in ALL:
        text = (TASKS_DIR / name / "task.yaml").read_bytes()
        spec = get_task(name)
        assert lock[name][str(spec.version)] == hashlib.sha256(text).hexdigest(), (
            f"{name}: record the hash of v{spec.version} in tasks/VERSIONS.json")


def test_good_file_loads(tmp_path):
    spec = load_task_file(_write(tmp_path, GOOD))
    assert spec.metrics == ["ssim[rgb-255]", "psnr"] and spec.version == 1


@pytest.mark.parametrize("text, message", [
    (GOOD + "colour: blue\n", "unknown key(s) ['colour']"),
    (GOOD + "version: 2\n", "duplicate key 'version'"),
    (GOOD.replace("  - psnr\n", "  - ssimm\n"), "ssimm"),  # unknown metric, with a suggestion
    (GOOD.replace("  - psnr\n", "  - psnr[rgb-1]\n"), "has no variant 'rgb-1'"),
    (GOOD.replace("metrics:\n  - ssim[rgb-255]\n  - psnr\n", ""), "missing key(s) ['metrics']"),
    (GOOD.replace("main_metric: ssim[rgb-255]", "main_metric: fid[pytorch-fid]"), "not among its metrics"),
    (GOOD.replace("version: 1", "version: one"), "version must be a positive integer"),
    (GOOD.replace("output: video", "output: hologram"), "output must be"),
    (GOOD.replace("name: demo", "name: other"), "must equal its folder name"),
    (GOOD + "converter: qa_text\n", "go together"),
    (GOOD + "converter: qa_nonsense\nsource_manifest: a.jsonl\n", "unknown converter"),
    ("- a\n- b\n", "flat mapping"),
])
def test_bad_files_are_rejected_with_a_clear_message(tmp_path, text, message):
    with pytest.raises(ManifestError) as err:
        load_task_file(_write(tmp_path, text))
    assert message in str(err.value)
    assert "task.yaml" in str(err.value)  # names the file


def test_unknown_metric_suggests_the_close_name(tmp_path):
    with pytest.raises(ManifestError, match="ssim"):
        load_task_file(_write(tmp_path, GOOD.replace("  - psnr\n", "  - ssimm\n")))


def test_edit_without_version_bump_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setattr(tasks, "TASKS_DIR", tmp_path)
    path = _write(tmp_path, GOOD)
    (tmp_path / "VERSIONS.json").write_text(json.dumps(
        {"demo": {"1": hashlib.sha256(GOOD.encode()).hexdigest()}}))
    load_task_file(path)  # the released text loads
    path.write_text(GOOD.replace("description: d", "description: changed"))
    with pytest.raises(ManifestError, match="changed after release; bump its version"):
        load_task_file(path)
    path.write_text(GOOD.replace("description: d", "description: changed").replace("version: 1", "version: 2"))
    assert load_task_file(path).version == 2  # a bumped, not yet released version loads


def _qa_source(tmp_path):
    samples = [Sample("q1", question="What is the capital city of France?", question_audio="media/q1.wav",
                      answers=["Paris", "Paris city"], reference_image="images/a.png",
                      expected=Expected(kind="speech"), meta={"category": "geography"})]
    return write_manifest(tmp_path / "data" / "audio_qa" / "test.jsonl", samples)


def test_audio_qa_manifests_are_derived_for_t_and_s2t(tmp_path):
    _qa_source(tmp_path)
    root = tmp_path / "data"
    t = load_manifest(get_task("audio_qa_text").manifest_path(root)).samples[0]
    s = load_manifest(get_task("audio_qa_speech").manifest_path(root)).samples[0]
    ss = load_manifest(get_task("audio_qa_spoken").manifest_path(root)).samples[0]
    assert t.question and t.question_audio is None and t.expected.kind == "text"
    assert s.question is None and s.question_audio == "media/q1.wav" and s.expected.kind == "text"
    assert s.meta["question_text"] == "What is the capital city of France?"  # not a model input
    assert ss.question is None and ss.expected.kind == "speech"
    assert t.answers == s.answers == ["Paris", "Paris city"]
    assert t.meta["question_modality"] == "text" and s.meta["question_modality"] == "speech"
    # derived next to the source (relative media paths keep working) and reused when current
    path = get_task("audio_qa_text").manifest_path(root)
    assert path.parent == root / "audio_qa"
    mtime = path.stat().st_mtime_ns
    assert get_task("audio_qa_text").manifest_path(root).stat().st_mtime_ns == mtime


def test_derived_manifest_falls_back_when_the_dataset_is_read_only(tmp_path, monkeypatch):
    import hxbench.eval.tasks_data as td

    src = _qa_source(tmp_path)
    real_write = td._write

    def write(path, samples, media_root):
        if path.parent == src.path.parent:
            raise PermissionError(13, "read-only", str(path))
        return real_write(path, samples, media_root)

    monkeypatch.setattr(td, "_write", write)
    path = get_task("audio_qa_text").manifest_path(tmp_path / "data")
    assert path.is_file() and not path.is_relative_to(src.path.parent)
    sample = load_manifest(path).samples[0]
    assert Path(sample.reference_image).is_absolute()
    assert sample.reference_image == str((src.path.parent / "images" / "a.png").resolve())
