"""`hxbench data`: the MoChaBench registry, import of every layout, partial and bad copies,
derived manifests, the MoChaBench output layout, per-category results.

Tiny fakes of the published layouts are built here (the GitHub repository's ``benchmark/``
tree and the Hugging Face dataset's parquet rows); their pinned hashes are patched to the
fakes' own, except where a test checks the real pins. The tests on the real subset in
``../shared/data/mochabench`` skip when it is absent (CI has it)."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED

from hxbench.data import DataError, base, data_root, fetch_data, import_data, status
from hxbench.data import mochabench as mb
from hxbench.io import media
from hxbench.paths import sha256_file

# ../shared/data/mochabench beside the clone (as in CI); HXBENCH_TEST_MOCHABENCH names another copy
REAL = Path(os.environ.get("HXBENCH_TEST_MOCHABENCH") or SHARED / "data" / "mochabench")
needs_real = pytest.mark.skipif(not (REAL / "benchmark.csv").is_file(),
                                reason=f"the MoChaBench subset is not at {REAL}")

# three contexts with files (two monologue categories and one dialogue), one listed without
CONTEXTS = [
    (1, "1p_closeup_facingcamera", "1_man_guitar", '"A close-up of a man, speaking."'),
    (2, "2p_1clip_1talk", "7_woman_office_pointing", "A woman in an office points and speaks."),
    (1, "2p_2clip_2talk", "1_woman_man_in_room", "Two video clips. Person1 speaks, then Person2."),
    (3, "1p_emotion", "3_woman_sad", "A sad woman speaks."),  # in the CSV only: a partial copy
]


def _write_csv(path: Path, rows) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(mb.CSV_COLUMNS)
        w.writerows(rows)


def _media(root: Path, cat: str, ctx: str, seconds: float = 1.0, audio: bool = True) -> None:
    t = np.arange(int(16000 * seconds)) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    for sub, name in (("speeches", f"{ctx}_speech.wav"), ("audios", f"{ctx}.wav")):
        if sub == "audios" and not audio:
            continue
        (root / sub / cat).mkdir(parents=True, exist_ok=True)
        media.write_wav(root / sub / cat / name, tone)
    from PIL import Image

    (root / "first-frames-from-mocha-generation" / cat).mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((32, 48, 3), 128, np.uint8)).save(root / "first-frames-from-mocha-generation" / cat / f"{ctx}.png")


def fake_clone(root: Path) -> Path:
    """A GitHub clone: benchmark/benchmark.csv and benchmark/<type>/<category>/..."""
    bench = root / "benchmark"
    bench.mkdir(parents=True)
    _write_csv(bench / "benchmark.csv", CONTEXTS)
    for _, cat, ctx, _ in CONTEXTS[:3]:
        _media(bench, cat, ctx)
    (root / "mocha-generation").mkdir()  # other folders of the repository are not data
    return root


@pytest.fixture
def fake_pins(monkeypatch):
    """Pin whatever the fakes hold (the real pins are for the real files)."""
    pins: dict[str, tuple[str, int]] = {}
    monkeypatch.setitem(base._PIN_CACHE, "mochabench", pins)

    def pin(root: Path, prefix: str = "") -> None:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                rel = prefix + p.relative_to(root).as_posix()
                pins[rel] = (sha256_file(p), p.stat().st_size)
    return pin


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HXBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_import_github_clone_partial_copy_and_manifests(tmp_path, home, fake_pins):
    clone = fake_clone(tmp_path / "MoChaBench")
    fake_pins(clone / "benchmark", "benchmark/")
    record = import_data("mochabench", clone)
    assert record["layout"] == "github"
    assert (record["n_contexts"], record["n_contexts_total"]) == (3, 4)  # partial: counted, accepted
    assert record["categories"]["1p_emotion"] == {"present": 0, "total": 1}
    assert all(f["pinned"] for f in record["files"].values())
    assert record["manifests"] == {"mochabench": 2, "mochabench_dialogue": 1}
    root = data_root("mochabench")
    assert not (root / "mocha-generation").exists()
    lines = [json.loads(x) for x in (root / "mochabench.jsonl").read_text().splitlines()]
    assert [x["sample_id"] for x in lines] == ["1p_closeup_facingcamera/1_man_guitar",
                                               "2p_1clip_1talk/7_woman_office_pointing"]
    first = lines[0]
    assert first["text"] == "A close-up of a man, speaking."  # MoChaBench's extra quotes removed
    assert first["driving_audio"] == "benchmark/speeches/1p_closeup_facingcamera/1_man_guitar_speech.wav"
    assert first["reference_image"].endswith("first-frames-from-mocha-generation/1p_closeup_facingcamera/1_man_guitar.png")
    assert first["meta"]["full_audio"] == "benchmark/audios/1p_closeup_facingcamera/1_man_guitar.wav"
    assert first["expected"]["duration_tolerance"] == mb.DURATION_TOLERANCE_S
    for line in lines:  # every input the manifest names exists
        assert (root / line["driving_audio"]).is_file() and (root / line["reference_image"]).is_file()
    row = status(["mochabench"])[0]
    assert row["state"] == "partial" and row["contexts"] == 3 and row["changed"] == []
    from hxbench.cli import main

    assert main(["data", "status", "--files"]) == 0
    assert "hxbench data fetch mochabench" in row["fix"]
    # a file changed after import is reported by status
    (root / first["driving_audio"]).write_bytes(b"RIFF")
    assert status(["mochabench"])[0]["state"] == "modified"


def test_import_the_benchmark_folder_alone(tmp_path, home, fake_pins):
    clone = fake_clone(tmp_path / "MoChaBench")
    fake_pins(clone / "benchmark", "benchmark/")
    record = import_data("mochabench", clone / "benchmark")
    assert record["layout"] == "github-benchmark" and record["n_contexts"] == 3


def _hf_rows(clone: Path) -> list[dict]:
    rows = []
    for idx, cat, ctx, prompt in CONTEXTS[:3]:
        b = clone / "benchmark"
        rows.append({"idx_in_category": idx, "category": cat, "context_id": ctx, "prompt": prompt,
                     "speech": {"bytes": (b / "speeches" / cat / f"{ctx}_speech.wav").read_bytes(), "path": "x.wav"},
                     "audio": {"bytes": (b / "audios" / cat / f"{ctx}.wav").read_bytes(), "path": "y.wav"},
                     "first-frame-from-mocha-generation": {
                         "bytes": (b / "first-frames-from-mocha-generation" / cat / f"{ctx}.png").read_bytes(),
                         "path": "z.png"}})
    return rows


def _write_parquet(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)


def test_import_the_hugging_face_layout(tmp_path, home, fake_pins, monkeypatch):
    """A snapshot of the HF dataset: parquet shards (written by pyarrow, a test dependency)
    whose rows embed the media as the datasets library's Audio / Image structs {bytes, path}."""
    clone = fake_clone(tmp_path / "MoChaBench")
    fake_pins(clone / "benchmark", "benchmark/")
    snap = tmp_path / "hf"
    (snap / "data").mkdir(parents=True)
    (snap / "README.md").write_text("---\nlicense: apache-2.0\n---\n# MoChaBench\n")
    rows = _hf_rows(clone)
    # two shards, as the published dataset has (test-00000-of-00002, test-00001-of-00002)
    _write_parquet(snap / "data" / "test-00000-of-00002.parquet", rows[:1])
    _write_parquet(snap / "data" / "test-00001-of-00002.parquet", rows[1:])
    record = import_data("mochabench", snap)
    assert record["layout"] == "huggingface" and record["n_contexts"] == 3
    assert record["manifests"]["mochabench"] == 2
    # the embedded bytes equal the pinned files here, so they count as pinned
    assert record["files"]["benchmark/speeches/2p_1clip_1talk/7_woman_office_pointing_speech.wav"]["pinned"]


def test_hugging_face_rows_that_differ_from_the_pins_are_recorded_not_refused(tmp_path, home, fake_pins, monkeypatch):
    clone = fake_clone(tmp_path / "MoChaBench")
    fake_pins(clone / "benchmark", "benchmark/")
    rows = _hf_rows(clone)
    from PIL import Image
    import io

    buf = io.BytesIO()
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(buf, format="PNG")  # re-encoded image
    rows[0]["first-frame-from-mocha-generation"]["bytes"] = buf.getvalue()
    snap = tmp_path / "hf"
    (snap / "data").mkdir(parents=True)
    _write_parquet(snap / "data" / "test.parquet", rows)
    record = import_data("mochabench", snap)
    rel = "benchmark/first-frames-from-mocha-generation/1p_closeup_facingcamera/1_man_guitar.png"
    assert record["files"][rel]["pinned"] is False  # recorded at first import
    # a corrupt embedded speech track is named
    rows[1]["speech"]["bytes"] = b"not a wav"
    _write_parquet(snap / "data" / "test.parquet", rows)
    with pytest.raises(DataError, match="7_woman_office_pointing_speech.wav.*unreadable"):
        import_data("mochabench", snap)


def test_missing_speech_file_is_named(tmp_path, home, fake_pins):
    clone = fake_clone(tmp_path / "MoChaBench")
    fake_pins(clone / "benchmark", "benchmark/")
    (clone / "benchmark/speeches/2p_1clip_1talk/7_woman_office_pointing_speech.wav").unlink()
    with pytest.raises(DataError, match=r"2p_1clip_1talk/7_woman_office_pointing.*speech track is missing.*"
                                        r"7_woman_office_pointing_speech\.wav"):
        import_data("mochabench", clone)
    assert not data_root("mochabench").exists()  # nothing half-installed


def test_csv_row_without_prompt_is_named(tmp_path, home, fake_pins):
    clone = fake_clone(tmp_path / "MoChaBench")
    rows = [list(r) for r in CONTEXTS]
    rows[1][3] = "  "
    _write_csv(clone / "benchmark" / "benchmark.csv", rows)
    fake_pins(clone / "benchmark", "benchmark/")
    with pytest.raises(DataError, match=r"benchmark\.csv:3: context 2p_1clip_1talk/7_woman_office_pointing has no prompt"):
        import_data("mochabench", clone)


def test_corrupt_file_fails_against_the_real_pins(tmp_path, home):
    """With the real pinned hashes (MoChaBench at 043908d), a file with other bytes is named."""
    bench = tmp_path / "copy" / "benchmark"
    bench.mkdir(parents=True)
    _write_csv(bench / "benchmark.csv", CONTEXTS)
    with pytest.raises(DataError, match=r"benchmark\.csv: sha256 .* differs from mochabench at 043908d"):
        import_data("mochabench", bench.parent)


def test_a_file_of_no_context_or_revision_and_a_wrong_layout(tmp_path, home, fake_pins):
    clone = fake_clone(tmp_path / "MoChaBench")
    (clone / "benchmark/speeches/1p_emotion").mkdir(parents=True)
    media.write_wav(clone / "benchmark/speeches/1p_emotion/99_renamed_speech.wav", np.zeros(1600, np.float32))
    fake_pins(clone / "benchmark", "benchmark/")
    with pytest.raises(DataError, match="99_renamed_speech.wav: matches no context of benchmark.csv"):
        import_data("mochabench", clone)
    base._PIN_CACHE["mochabench"].pop("benchmark/speeches/1p_emotion/99_renamed_speech.wav")
    with pytest.raises(DataError, match="99_renamed_speech.wav: not a file of MoChaBench at 043908d"):
        import_data("mochabench", clone)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "videos").mkdir()
    with pytest.raises(DataError, match="not a MoChaBench copy in a known layout.*found videos"):
        import_data("mochabench", tmp_path / "other")


def test_fetch_downloads_verifies_and_imports(tmp_path, home, fake_pins):
    """fetch against a file:// stand-in of the repository at the pinned revision."""
    remote = fake_clone(tmp_path / "remote")
    fake_pins(remote / "benchmark", "benchmark/")
    record = fetch_data("mochabench", base_url=f"file://{remote}/{{path}}")
    assert record["n_contexts"] == 3 and record["layout"] == "github"
    # a download whose bytes differ from the pin is refused, naming the file
    (remote / "benchmark/audios/1p_closeup_facingcamera/1_man_guitar.wav").write_bytes(b"RIFFxxxx")
    shutil.rmtree(data_root("mochabench"))
    with pytest.raises(DataError, match="1_man_guitar.wav: sha256 .* differs from the pinned"):
        fetch_data("mochabench", base_url=f"file://{remote}/{{path}}")


def test_dialogue_task_without_contexts_says_so(tmp_path, home, fake_pins, monkeypatch):
    import argparse

    from hxbench.commands._common import resolve_manifest

    monkeypatch.delenv("HXBENCH_DATA", raising=False)
    args = argparse.Namespace(task="mochabench_dialogue", manifest=None, data=None)
    with pytest.raises(DataError, match="hxbench data import mochabench"):
        resolve_manifest(args)  # nothing imported
    clone = fake_clone(tmp_path / "MoChaBench")
    shutil.rmtree(clone / "benchmark" / "speeches" / "2p_2clip_2talk")
    shutil.rmtree(clone / "benchmark" / "audios" / "2p_2clip_2talk")
    shutil.rmtree(clone / "benchmark" / "first-frames-from-mocha-generation" / "2p_2clip_2talk")
    fake_pins(clone / "benchmark", "benchmark/")
    import_data("mochabench", clone)
    with pytest.raises(DataError, match="2 of 4 contexts.*holds no context of this task"):
        resolve_manifest(args)
    manifest, task = resolve_manifest(argparse.Namespace(task="mochabench", manifest=None, data=None))
    assert len(manifest) == 2 and task.main_metric == "sync[mochabench]"


def test_outputs_in_mochabench_layout_are_matched_by_id(tmp_path, home, fake_pins):
    from hxbench.eval.validate import validate_outputs, validate_submission
    from hxbench.io.manifest import load_manifest

    clone = fake_clone(tmp_path / "MoChaBench")
    fake_pins(clone / "benchmark", "benchmark/")
    import_data("mochabench", clone)
    manifest = load_manifest(data_root("mochabench") / "mochabench.jsonl")
    out = tmp_path / "outputs"
    frames = np.full((25, 32, 32, 3), 100, np.uint8)
    (out / "1p_closeup_facingcamera").mkdir(parents=True)
    media.write_video(out / "1p_closeup_facingcamera" / "1_man_guitar.mp4", frames, 25)  # 1.0 s, speech 1.0 s
    problems = validate_outputs(manifest, out)
    assert [(p.kind, p.message) for p in problems] == [
        ("missing", "expected output 2p_1clip_1talk/7_woman_office_pointing.mp4 is missing")]
    (out / "2p_1clip_1talk").mkdir()
    media.write_video(out / "2p_1clip_1talk" / "7_woman_office_pointing.mp4", frames[:10], 30)  # 0.33 s for 1 s of speech: too short
    (out / "2p_1clip_1talk" / "notes.txt").write_text("x")  # a stray file in a used category
    (out / "2p_2clip_2talk").mkdir()  # another task's category: not this task's business
    media.write_video(out / "2p_2clip_2talk" / "1_woman_man_in_room.mp4", frames, 24)
    kinds = sorted((p.kind, p.message.split(" ")[0]) for p in validate_submission(manifest, out))
    assert kinds == [("duration", "2p_1clip_1talk/7_woman_office_pointing.mp4"), ("extra", "2p_1clip_1talk/notes.txt")]
    (out / "2p_1clip_1talk" / "notes.txt").unlink()
    media.write_video(out / "2p_1clip_1talk" / "7_woman_office_pointing.mp4", frames[:21], 24)  # 0.875 s, 30 -> 24 fps
    assert validate_submission(manifest, out) == []  # any fps and size; duration within 0.5 s


def test_stage_examples_through_the_contexts_csv(tmp_path, home, fake_pins):
    clone = fake_clone(tmp_path / "MoChaBench")
    ex = clone / "eval-viescore" / "example_results" / "ModelX"
    ex.mkdir(parents=True)
    media.write_video(ex / "01.mp4", np.zeros((5, 16, 16, 3), np.uint8), 25)
    fake_pins(clone / "benchmark", "benchmark/")
    record = import_data("mochabench", clone)
    assert record["example_outputs"] == {"ModelX": 1}
    csv_path = tmp_path / "contexts.csv"
    csv_path.write_text("example,category,context_id\n01,2p_1clip_1talk,7_woman_office_pointing\n")
    staged = mb.stage_examples(data_root("mochabench"), "ModelX", tmp_path / "out", csv_path)
    assert staged == [tmp_path / "out" / "2p_1clip_1talk" / "7_woman_office_pointing.mp4"]
    assert staged[0].is_symlink() and os.path.getsize(staged[0]) > 0
    with pytest.raises(DataError, match="no example outputs of 'Nope'; the copy has: ModelX"):
        mb.stage_examples(data_root("mochabench"), "Nope", tmp_path / "out", csv_path)


def test_group_rows_and_table_are_per_category(tmp_path, capsys):
    """Per-category aggregation: the mean over each category's scored samples, failures counted."""
    from hxbench.board.report import render_report
    from hxbench.commands._common import print_group_table
    from hxbench.eval.groups import group_rows
    from hxbench.eval.inputs import SampleSource
    from hxbench.eval.schema import load_samples
    from hxbench.eval.scoring import score
    from hxbench.errors import SampleError
    from hxbench.metrics.base import PerSampleMetric, SampleData

    values = {"a/1": 1.0, "a/2": 3.0, "b/1": 10.0, "b/2": None}

    class Fake(PerSampleMetric):
        name, version, variants, outputs, requires = "fake", "1", ("v",), {"x": "higher"}, ()

        def score_sample(self, sample: SampleData):
            v = values[sample.sample_id]
            if v is None:
                raise SampleError("no face found")
            return {"x": v}

    sources = [SampleSource(sid, lambda sid=sid: SampleData(sample_id=sid)) for sid in values]
    run_dir = tmp_path / "run"
    results = score(sources, ["fake[v]"], run_dir=run_dir, progress=False, metrics=[Fake()])
    rows = {(r.group, r.output): r for r in group_rows(results, load_samples(run_dir).values())}
    assert (rows[("a", "x")].value, rows[("a", "x")].n, rows[("a", "x")].n_failed) == (2.0, 2, 0)
    assert (rows[("b", "x")].value, rows[("b", "x")].n, rows[("b", "x")].n_failed) == (10.0, 1, 1)
    assert results.metrics["fake[v]"].outputs["x"].value == pytest.approx(14 / 3)  # overall: all samples
    print_group_table(results, run_dir)
    text = capsys.readouterr().out
    assert "per category" in text and "fake[v]" in text
    page = render_report([run_dir])
    assert "Per category" in page and "10.0" in page


# -- the real subset (../shared/data/mochabench: 20 contexts, four models' outputs) -------------
MODELS = ("MoCha", "hallo3", "SadTalker", "aniportrait-square")


@pytest.fixture(scope="module")
def real_home(tmp_path_factory):
    """The real subset imported once into a private home (3 s: 94 MB copied and hashed)."""
    if not (REAL / "benchmark.csv").is_file():
        pytest.skip(f"the MoChaBench subset is not at {REAL}")
    home = tmp_path_factory.mktemp("real-home")
    old = os.environ.get("HXBENCH_HOME")
    if old and (Path(old) / "weights").is_dir():  # the session home's (linked) weights: NIQE, face mesh ...
        (home / "weights").symlink_to(Path(old) / "weights")
    os.environ["HXBENCH_HOME"] = str(home)
    record = import_data("mochabench", REAL)
    yield home, record
    os.environ["HXBENCH_HOME"] = old if old is not None else ""


@needs_real
def test_import_the_real_subset(real_home):
    home, record = real_home
    assert record["layout"] == "github-subset"
    assert (record["n_contexts"], record["n_contexts_total"]) == (20, 220)
    assert record["categories"]["2p_1clip_1talk"] == {"present": 6, "total": 30}
    # every benchmark file and every example output equals MoChaBench at 043908d
    unpinned = sorted(rel for rel, f in record["files"].items() if not f["pinned"])
    assert unpinned == ["LICENSE", "example_results_contexts.csv"]
    assert record["example_outputs"] == {m: 20 for m in MODELS}
    assert record["manifests"] == {"mochabench": 20, "mochabench_dialogue": 0}


@needs_real
def test_a_real_mp4_with_edit_list_preroll_is_not_corrupt():
    """MoCha's 14.mp4 holds 155 packets, 4 of them pre-roll at pts < 0 that its edit list cuts:
    151 frames decode, which is the whole video (ffmpeg counts the same)."""
    path = REAL / "example_results" / "MoCha" / "14.mp4"
    info = media.probe(path)
    assert info.n_frames == 151
    assert media.check_decodes(path, info.n_frames) == 151


@needs_real
@pytest.mark.slow
def test_the_four_models_outputs_validate_in_mochabench_layout(real_home, tmp_path):
    """Each published model's 20 videos (24/25/30 fps, 512-1952 px, AAC or MP3), staged
    through example_results_contexts.csv, pass `hxbench validate --task mochabench` (~40 s)."""
    from hxbench.cli import main

    home, _ = real_home
    os.environ["HXBENCH_HOME"] = str(home)
    for model in MODELS:
        out = tmp_path / model
        assert main(["data", "examples", "mochabench", "--model", model, "--out", str(out)]) == 0
        assert len(list(out.glob("*/*.mp4"))) == 20
        assert main(["validate", "--task", "mochabench", "--outputs", str(out)]) == 0, model


@needs_real
@pytest.mark.slow
def test_one_real_video_scores_end_to_end(real_home, tmp_path, capsys):
    """One real AniPortrait video (512x512, 30 fps) scored through `hxbench score` with the
    offline metrics; the close-up has no hands, which fails hkc with that reason (~30 s)."""
    from hxbench.cli import main
    from hxbench.eval.schema import RunResults, load_samples

    home, _ = real_home
    os.environ["HXBENCH_HOME"] = str(home)
    root = data_root("mochabench")
    line = next(x for x in (root / "mochabench.jsonl").read_text().splitlines()
                if '"1p_closeup_facingcamera/10_woman_doctor"' in x)
    (tmp_path / "one.jsonl").write_text(line + "\n")
    manifest = tmp_path / "one.jsonl"
    # media paths are relative to the manifest's folder: keep it beside the data
    shutil.copy(manifest, root / "one.jsonl")
    out = tmp_path / "out"
    assert main(["data", "examples", "mochabench", "--model", "aniportrait-square", "--out", str(out)]) == 0
    for p in list(out.glob("*/*.mp4")):
        if p.relative_to(out).as_posix() != "1p_closeup_facingcamera/10_woman_doctor.mp4":
            p.unlink()
    run = tmp_path / "run"
    rc = main(["score", "--manifest", str(root / "one.jsonl"), "--outputs", str(out), "--run-dir", str(run),
               "--metrics", "av_sync[mouth-energy]", "iqa[niqe-1fps]", "hkc[mediapipe]"])
    assert rc == 0
    results = RunResults.load(run)
    assert results.metrics["av_sync[mouth-energy]"].outputs["av_corr"].n == 1
    assert 0 < results.metrics["iqa[niqe-1fps]"].outputs["niqe"].value < 100
    recs = load_samples(run)
    assert "hand" in recs[("1p_closeup_facingcamera/10_woman_doctor", "hkc[mediapipe]")].error
    assert "per category" in capsys.readouterr().out


def test_demo_without_mochabench_data_prints_the_command(tmp_path, home, capsys):
    from hxbench.commands.demo import _real_videos

    assert _real_videos(tmp_path / "demo", 20, "cpu") == []
    assert "hxbench data import mochabench ../shared/data/mochabench" in capsys.readouterr().err


@needs_real
@pytest.mark.slow
def test_demo_real_video_part_scores_the_four_models(real_home, tmp_path, capsys):
    """The demo's real-video part on one context per model (~2 min): four runs, one report
    section with the per-category table."""
    from hxbench.commands.demo import _real_videos
    from hxbench.eval.schema import RunResults
    from hxbench.weights import is_available

    home, _ = real_home
    os.environ["HXBENCH_HOME"] = str(home)
    sections = _real_videos(tmp_path / "demo", 1, "cpu")
    assert len(sections) == 1 and "Per category" in sections[0]
    for model in MODELS:
        results = RunResults.load(tmp_path / "demo" / "runs" / "mochabench" / model)
        assert results.n_samples == 1
        assert results.metrics["iqa[niqe-1fps]"].ok
        if not is_available("syncnet_v2"):
            assert "hxbench weights" in results.metrics["sync[mochabench]"].fix  # unavailable, with the fix
    assert "real videos, 1 of 220 contexts" in capsys.readouterr().out


def test_av_sync_turns_finds_the_cut_and_names_the_turn(tmp_path):
    """The turn boundary is the cut nearest the middle; a one-shot video, or a turn without a
    face, fails the sample with that reason."""
    from hxbench.errors import SampleError
    from hxbench.metrics.av_sync_turns import AVSyncTurns, turn_boundary
    from hxbench.metrics.base import SampleData

    assert turn_boundary([], 100) is None and turn_boundary([10, 55, 90], 100) == 55
    t = np.arange(16000 * 2) / 16000
    wav = tmp_path / "speech.wav"
    media.write_wav(wav, (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32))
    one = np.full((50, 64, 64, 3), 90, np.uint8)
    two = one.copy()
    two[25:] = 220  # a hard cut at frame 25 (1.0 s)
    metric = AVSyncTurns()
    for name, frames, match in (("one", one, "no cut between two clips"), ("two", two, r"turn 1 \(frames 0-24\)")):
        media.write_video(tmp_path / f"{name}.mp4", frames, 25, crf=0)
        sample = SampleData(sample_id=f"2p_2clip_2talk/{name}", gen=media.clip_from_video(tmp_path / f"{name}.mp4"),
                            audio_path=str(wav))
        with pytest.raises(SampleError, match=match):
            metric.score_sample(sample)


def test_generation_writes_the_mochabench_layout(tmp_path, home, fake_pins):
    """`hxbench run` on a MoChaBench task: a model's outputs land in <category>/<context_id>.mp4
    and the model sees the prompt, the speech, the first frame and the full audio."""
    from hxbench.adapters.base import load_adapter
    from hxbench.eval.runner import generate, generation_input
    from hxbench.eval.validate import validate_outputs
    from hxbench.io.manifest import load_manifest

    clone = fake_clone(tmp_path / "MoChaBench")
    fake_pins(clone / "benchmark", "benchmark/")
    import_data("mochabench", clone)
    manifest = load_manifest(data_root("mochabench") / "mochabench.jsonl")
    inp = generation_input(manifest, manifest.samples[0], "mochabench")
    assert inp.text == "A close-up of a man, speaking." and inp.reference_image.shape == (32, 48, 3)
    assert inp.driving_audio.shape == inp.extra["full_audio"].shape == (16000,)
    out = tmp_path / "out"
    assert generate(load_adapter("still-image"), manifest, out, task="mochabench", progress=False) == 2
    assert (out / "2p_1clip_1talk" / "7_woman_office_pointing.mp4").is_file()
    assert validate_outputs(manifest, out) == []


def test_a_corrupt_parquet_shard_is_named(tmp_path, home, fake_pins):
    snap = tmp_path / "hf"
    (snap / "data").mkdir(parents=True)
    (snap / "data" / "test-00000-of-00001.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(DataError, match=r"test-00000-of-00001\.parquet: not a readable parquet file"):
        import_data("mochabench", snap)
