"""MoChaBench (MoCha, Wei et al. 2025; Apache-2.0) as a data source.

220 contexts in 8 categories (``benchmark/benchmark.csv``: ``idx_in_category, category,
context_id, prompt``); per context a denoised speech track
(``benchmark/speeches/<category>/<context_id>_speech.wav``, what lip sync is scored against),
the full audio (``benchmark/audios/<category>/<context_id>.wav``) and the first frame of
MoCha's generation (``benchmark/first-frames-from-mocha-generation/<category>/<context_id>.png``).
``eval-viescore/`` holds the outputs of four published models on 20 contexts and their human
ratings.

The canonical layout under ``$HXBENCH_HOME/data/mochabench`` is the GitHub repository's, at
the pinned commit. Accepted copies:

- ``github``: a clone (``benchmark/benchmark.csv`` ...; ``eval-viescore/`` when present);
- ``github-benchmark``: the ``benchmark/`` folder alone (``benchmark.csv``, ``speeches/`` ...);
- ``github-subset``: ``benchmark.csv`` beside ``benchmark/`` and the example outputs in
  ``example_results/<model>/<NN>.mp4`` (+ ``example_results_contexts.csv``), the layout of a
  partial copy such as ``../shared/data/mochabench``;
- ``huggingface``: a snapshot of the Hugging Face dataset CongWei1230/MoChaBench, read as
  parquet shards whose rows hold ``category``, ``context_id``, ``prompt`` and the speech, audio
  and first frame as ``{bytes, path}`` (needs ``pyarrow``). The files it embeds are written
  in the canonical layout; where their bytes equal the pinned GitHub files they count as
  pinned, otherwise their sha256 is recorded at import.

Two tasks are derived (``manifests``): ``mochabench`` (the English single-character
categories and ``2p_1clip_1talk``, MoChaBench's "Single-Character Monologue (English)") and
``mochabench_dialogue`` (``2p_2clip_2talk``). ``1p_generalize_chinese`` (4 contexts) is in
neither aggregate of MoChaBench's leaderboard, nor in a task here.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any

from hxbench.data.base import DataError, DataSource, pins_of, register_data

REVISION = "043908df5e5f607555ea41b4aaeb4022f412421e"
CATEGORIES = ("1p_camera_movement", "1p_closeup_facingcamera", "1p_emotion", "1p_generalize_chinese",
              "1p_mediumshot_actioncontrol", "1p_protrait", "2p_1clip_1talk", "2p_2clip_2talk")
# MoChaBench's leaderboard groups (run_syncnet_pipeline_on_your_own_model_results.py)
MONOLOGUE = ("1p_camera_movement", "1p_closeup_facingcamera", "1p_emotion", "1p_mediumshot_actioncontrol",
             "1p_protrait", "2p_1clip_1talk")
DIALOGUE = ("2p_2clip_2talk",)
TASK_CATEGORIES = {"mochabench": MONOLOGUE, "mochabench_dialogue": DIALOGUE}
# Video models generate a fixed number of frames (MoCha: 125 at 24 fps = 5.21 s for 5.3 s of
# speech); MoChaBench's scripts check no duration. Outputs within this of the speech are accepted.
DURATION_TOLERANCE_S = 0.5
CSV_COLUMNS = ["idx_in_category", "category", "context_id", "prompt"]
SPEECH = "benchmark/speeches/{category}/{context_id}_speech.wav"
AUDIO = "benchmark/audios/{category}/{context_id}.wav"
FRAME = "benchmark/first-frames-from-mocha-generation/{category}/{context_id}.png"
EXAMPLES = "eval-viescore/example_results"
CONTEXTS_CSV = "example_results_contexts.csv"  # NN -> category, context_id (not in the repository)
_MEDIA_DIRS = ("speeches", "audios", "first-frames-from-mocha-generation")


# -- layouts ------------------------------------------------------------------------------------
def _files_under(root: Path, prefix: str) -> dict[str, Path]:
    return {f"{prefix}{p.relative_to(root).as_posix()}": p for p in sorted(root.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)}


def collect(path: Path) -> tuple[str, dict[str, Path]]:
    """(layout, canonical relative path -> file) of a local copy; DataError for a folder in no
    known layout, naming what it expected."""
    path = Path(path)
    if path.is_file():
        raise DataError(f"{path}: give the folder of a MoChaBench copy (a clone, its benchmark/ folder "
                        "or a Hugging Face snapshot), not a file")
    if (path / "benchmark" / "benchmark.csv").is_file():
        layout, files = "github", {}
        for sub in _MEDIA_DIRS:
            if (path / "benchmark" / sub).is_dir():
                files.update(_files_under(path / "benchmark" / sub, f"benchmark/{sub}/"))
        files["benchmark/benchmark.csv"] = path / "benchmark" / "benchmark.csv"
        if (path / "eval-viescore").is_dir():
            files.update({k: v for k, v in _files_under(path / "eval-viescore", "eval-viescore/").items()
                          if not k.endswith(".py")})
    elif (path / "benchmark.csv").is_file() and any((path / sub).is_dir() for sub in _MEDIA_DIRS):
        layout, files = "github-benchmark", {}
        for sub in _MEDIA_DIRS:
            if (path / sub).is_dir():
                files.update(_files_under(path / sub, f"benchmark/{sub}/"))
        files["benchmark/benchmark.csv"] = path / "benchmark.csv"
    elif (path / "benchmark.csv").is_file() and (path / "benchmark").is_dir():
        layout, files = "github-subset", {}
        for sub in _MEDIA_DIRS:
            if (path / "benchmark" / sub).is_dir():
                files.update(_files_under(path / "benchmark" / sub, f"benchmark/{sub}/"))
        files["benchmark/benchmark.csv"] = path / "benchmark.csv"
        if (path / "example_results").is_dir():
            files.update(_files_under(path / "example_results", f"{EXAMPLES}/"))
        for p in sorted(path.iterdir()):
            if p.is_file() and p.name == CONTEXTS_CSV:
                files[CONTEXTS_CSV] = p
            elif p.is_file() and p.suffix in (".csv", ".txt") and p.name not in ("benchmark.csv",) \
                    and not p.name.startswith("example_results_"):
                files[f"eval-viescore/{p.name}"] = p  # ratings and rubrics
            elif p.is_file() and p.name == "LICENSE":
                files["LICENSE"] = p
    elif list(path.glob("**/*.parquet")):
        return "huggingface", _from_parquet(path)
    else:
        found = ", ".join(sorted(p.name for p in path.iterdir())[:8]) or "nothing"
        raise DataError(f"{path}: not a MoChaBench copy in a known layout: expected benchmark/benchmark.csv "
                        f"(a clone), benchmark.csv beside speeches/ (its benchmark/ folder), or the Hugging Face "
                        f"dataset's parquet files; found {found}")
    pins = pins_of("mochabench")
    for rel, p in files.items():
        if rel.startswith("benchmark/") and rel not in pins:
            raise DataError(f"{p}: not a file of MoChaBench at {REVISION[:7]} ({rel}): a renamed file, a wrong "
                            "layout or another revision")
    return layout, files


def _from_parquet(path: Path) -> dict[str, Path]:
    """The rows of the Hugging Face dataset's parquet shards, written as files in the canonical
    layout (a temporary folder, removed when the process ends)."""
    rows: list[dict[str, Any]] = []
    for shard in sorted(path.glob("**/*.parquet")):
        rows += _parquet_rows(shard)
    return files_from_rows(rows, where=str(path))


def _parquet_rows(shard: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"{shard}: reading the Hugging Face layout (parquet) needs pyarrow: pip install pyarrow; "
                        "or import a clone of github.com/congwei1230/MoChaBench") from None
    try:
        return pq.read_table(shard).to_pylist()
    except Exception as err:  # noqa: BLE001 (pyarrow raises many kinds)
        raise DataError(f"{shard}: not a readable parquet file ({err})") from None


def _column(row: dict[str, Any], *words: str, exclude: tuple[str, ...] = ()) -> Any:
    for key, value in row.items():
        k = key.lower()
        if any(w in k for w in words) and not any(x in k for x in exclude):
            return value
    return None


def files_from_rows(rows: list[dict[str, Any]], where: str) -> dict[str, Path]:
    """Hugging Face rows -> canonical files in a temporary folder. A media cell is
    ``{"bytes": ..., "path": ...}`` (the datasets library's Audio / Image encoding) or raw bytes."""
    import atexit
    import shutil

    tmp = Path(tempfile.mkdtemp(prefix="hxbench-mochabench-hf-"))
    atexit.register(shutil.rmtree, tmp, True)
    files: dict[str, Path] = {}
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    counters: dict[str, int] = {}
    for i, row in enumerate(rows):
        cat, ctx, prompt = row.get("category"), row.get("context_id"), row.get("prompt")
        if not cat or not ctx:
            raise DataError(f"{where}: row {i} has no category or context_id (columns: {sorted(row)})")
        counters[cat] = counters.get(cat, 0) + 1
        idx = row.get("idx_in_category") or counters[cat]
        writer.writerow([idx, cat, ctx, prompt if prompt is not None else ""])
        cells = {SPEECH: _column(row, "speech"), AUDIO: _column(row, "audio", exclude=("speech",)),
                 FRAME: _column(row, "frame", "image")}
        for pattern, cell in cells.items():
            data = cell.get("bytes") if isinstance(cell, dict) else cell
            if data:
                rel = pattern.format(category=cat, context_id=ctx)
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                (tmp / rel).write_bytes(data)
                files[rel] = tmp / rel
    (tmp / "benchmark").mkdir(parents=True, exist_ok=True)
    (tmp / "benchmark" / "benchmark.csv").write_text(table.getvalue())
    files["benchmark/benchmark.csv"] = tmp / "benchmark" / "benchmark.csv"
    return files


# -- checks -------------------------------------------------------------------------------------
def read_contexts(csv_path: Path, where: str | None = None) -> list[dict[str, Any]]:
    """The rows of benchmark.csv, checked: the four columns, a known category, a context id
    and a prompt on every row, no duplicate. The prompt loses the extra quotes MoChaBench's
    file wraps it in (``\"\"\"A close-up ...\"\"\"`` reads as ``"A close-up ..."``)."""
    where = where or str(csv_path)
    try:
        text = Path(csv_path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{where}: unreadable ({err})") from None
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or [f.strip() for f in reader.fieldnames] != CSV_COLUMNS:
        raise DataError(f"{where}: expected the columns {','.join(CSV_COLUMNS)}, found {reader.fieldnames}")
    rows, seen = [], set()
    for row in reader:
        line = reader.line_num
        cat, ctx = (row.get("category") or "").strip(), (row.get("context_id") or "").strip()
        prompt = (row.get("prompt") or "").strip()
        if len(prompt) >= 2 and prompt[0] == prompt[-1] == '"':
            prompt = prompt[1:-1].strip()
        if cat not in CATEGORIES:
            raise DataError(f"{where}:{line}: unknown category {cat!r}; MoChaBench's are {', '.join(CATEGORIES)}")
        if not ctx or "/" in ctx or ctx.startswith("."):
            raise DataError(f"{where}:{line}: row without a valid context_id ({ctx!r})")
        if not prompt:
            raise DataError(f"{where}:{line}: context {cat}/{ctx} has no prompt")
        if (cat, ctx) in seen:
            raise DataError(f"{where}:{line}: context {cat}/{ctx} appears twice")
        seen.add((cat, ctx))
        try:
            idx = int(row.get("idx_in_category") or 0)
        except ValueError:
            raise DataError(f"{where}:{line}: idx_in_category {row.get('idx_in_category')!r} is not a number") from None
        rows.append({"idx_in_category": idx, "category": cat, "context_id": ctx, "prompt": prompt})
    if not rows:
        raise DataError(f"{where}: no contexts")
    return rows


def check(source: Path, files: dict[str, Path]) -> dict[str, Any]:
    """Contexts of a copy: every row of benchmark.csv whose speech is there counts; a context
    with some of its files but not its speech or first frame is an error naming the missing
    file; a media file that matches no row is an error; files whose sha256 is not pinned
    are decoded (a corrupt speech track or image is named). Returns the summary recorded."""
    from hxbench.errors import MediaError
    from hxbench.io import media
    from hxbench.paths import cached_sha256

    rows = read_contexts(files["benchmark/benchmark.csv"])
    known = set()
    per_cat: dict[str, list[int]] = {}
    n_present, no_audio = 0, []
    pins = pins_of("mochabench")
    for r in rows:
        rels = {k: pat.format(**r) for k, pat in (("speech", SPEECH), ("audio", AUDIO), ("frame", FRAME))}
        known.update(rels.values())
        have = {k: rel in files for k, rel in rels.items()}
        counts = per_cat.setdefault(r["category"], [0, 0])
        counts[1] += 1
        if not any(have.values()):
            continue
        ctx = f"{r['category']}/{r['context_id']}"
        if not have["speech"]:
            raise DataError(f"{source}: context {ctx} has files but its speech track is missing "
                            f"({rels['speech']}); the speech is what lip sync is scored against")
        if not have["frame"]:
            raise DataError(f"{source}: context {ctx}: its first frame is missing ({rels['frame']})")
        if not have["audio"]:
            no_audio.append(ctx)
        for kind in ("speech", "audio", "frame"):
            rel = rels[kind]
            if have[kind] and (rel not in pins or cached_sha256(files[rel]) != pins[rel][0]):
                try:
                    media.read_image(files[rel]) if kind == "frame" else media.read_audio(files[rel])
                except MediaError as err:
                    raise DataError(f"{files[rel]}: {kind} of context {ctx} is unreadable ({err.problem})") from None
        n_present += 1
        counts[0] += 1
    for rel, path in files.items():
        if rel.startswith("benchmark/") and rel != "benchmark/benchmark.csv" and rel not in known:
            raise DataError(f"{path}: matches no context of benchmark.csv ({rel})")
    if n_present == 0:
        raise DataError(f"{source}: benchmark.csv lists {len(rows)} contexts but no speech track of any is here "
                        f"(expected e.g. {SPEECH.format(**rows[0])})")
    examples: dict[str, int] = {}
    for rel in files:
        if rel.startswith(f"{EXAMPLES}/") and rel.endswith(".mp4"):
            model = rel.split("/")[2]
            examples[model] = examples.get(model, 0) + 1
    return {"n_contexts": n_present, "n_contexts_total": len(rows),
            "categories": {c: {"present": v[0], "total": v[1]} for c, v in sorted(per_cat.items())},
            "contexts_without_full_audio": no_audio, "example_outputs": examples}


# -- manifests ----------------------------------------------------------------------------------
def sample_for(row: dict[str, Any], root: Path) -> dict[str, Any]:
    rels = {k: pat.format(**row) for k, pat in (("speech", SPEECH), ("audio", AUDIO), ("frame", FRAME))}
    meta = {"category": row["category"], "context_id": row["context_id"], "idx_in_category": row["idx_in_category"],
            "source": f"mochabench@{REVISION[:7]}"}
    if (root / rels["audio"]).is_file():
        meta["full_audio"] = rels["audio"]
    return {"sample_id": f"{row['category']}/{row['context_id']}", "text": row["prompt"],
            "driving_audio": rels["speech"], "reference_image": rels["frame"],
            "expected": {"kind": "video", "duration_tolerance": DURATION_TOLERANCE_S}, "meta": meta}


def manifests(root: Path) -> dict[str, int]:
    """Write ``<root>/<task>.jsonl`` for each task with contexts in this copy (a task with none
    gets no file: using it says so); returns task -> number of samples."""
    from hxbench.io.manifest import Sample, write_manifest

    rows = read_contexts(root / "benchmark" / "benchmark.csv")
    present = [r for r in rows if (root / SPEECH.format(**r)).is_file()]
    out = {}
    for task, cats in TASK_CATEGORIES.items():
        path = root / f"{task}.jsonl"
        samples = [Sample.from_dict(sample_for(r, root), f"{task} manifest")
                   for r in sorted(present, key=lambda r: (r["category"], r["idx_in_category"], r["context_id"]))
                   if r["category"] in cats]
        if samples:
            write_manifest(path, samples)
        elif path.exists():
            path.unlink()
        out[task] = len(samples)
    return out


def fetch_paths(with_examples: bool) -> list[str]:
    return [rel for rel in pins_of("mochabench")
            if rel.startswith("benchmark/") or (with_examples and rel.startswith("eval-viescore/"))]


# -- the published models' example outputs ------------------------------------------------------
def example_models(root: Path) -> list[str]:
    folder = Path(root) / EXAMPLES
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def example_contexts(path: Path | None = None) -> dict[str, tuple[str, str]]:
    """``example_results_contexts.csv``: NN -> (category, context_id). Without the file (a
    GitHub clone has none), the mapping shipped with the registry (the same 20 rows, matched on
    the examples' prompt text)."""
    if path is None or not Path(path).is_file():
        import json as _json

        from hxbench.paths import resource_dir

        shipped = _json.loads((resource_dir("data") / "mochabench.json").read_text()).get("example_contexts")
        if path is not None and Path(path).name != CONTEXTS_CSV or not shipped:
            raise DataError(f"{path}: no such contexts CSV (example,category,context_id)")
        return {k: (v[0], v[1]) for k, v in shipped.items()}
    out = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != ["example", "category", "context_id"]:
            raise DataError(f"{path}: expected the columns example,category,context_id, found {reader.fieldnames}")
        for row in reader:
            if not row["example"] or not row["category"] or not row["context_id"]:
                raise DataError(f"{path}:{reader.line_num}: incomplete row {row}")
            out[row["example"].strip()] = (row["category"].strip(), row["context_id"].strip())
    return out


def stage_examples(root: Path, model: str, out: Path, contexts_csv: Path | None = None,
                   copy: bool = False) -> list[Path]:
    """Put one published model's example outputs (``eval-viescore/example_results/<model>/NN.mp4``)
    into MoChaBench's own layout ``<out>/<category>/<context_id>.mp4`` through
    ``example_results_contexts.csv`` (symbolic links unless ``copy``); returns the files."""
    import os
    import shutil

    root = Path(root)
    folder = root / EXAMPLES / model
    if not folder.is_dir():
        raise DataError(f"{folder}: no example outputs of {model!r}; the copy has: "
                        f"{', '.join(example_models(root)) or 'none'}")
    mapping = example_contexts(Path(contexts_csv) if contexts_csv else root / CONTEXTS_CSV)
    videos = sorted(folder.glob("*.mp4"))
    unknown = [v.name for v in videos if v.stem not in mapping]
    if unknown:
        raise DataError(f"{folder}: {', '.join(unknown)} not in the contexts CSV")
    staged = []
    for v in videos:
        cat, ctx = mapping[v.stem]
        dst = Path(out) / cat / f"{ctx}.mp4"
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_symlink() or dst.exists():
            dst.unlink()
        if copy:
            shutil.copyfile(v, dst)
        else:
            os.symlink(v.resolve(), dst)
        staged.append(dst)
    return staged


def published_numbers() -> dict[str, Any]:
    """MoChaBench's published model-level Sync-C / Sync-D (its README at the pinned commit)."""
    return json.loads(json.dumps(PUBLISHED))


PUBLISHED = {
    "source": f"https://github.com/congwei1230/MoChaBench/blob/{REVISION}/README.md (MoChaBench Leaderboard)",
    "protocol": "SyncNetPipeline (S3FD + SyncNet v2) against the denoised speech; Sync-Conf. / Sync-Dist.",
    "single_character_english": {"MoCha": [6.333, 8.185], "Hallo3": [4.866, 8.963], "SadTalker": [4.727, 9.239],
                                 "AniPortrait": [1.740, 11.383]},
    "dialogue_english": {"MoCha": [4.951, 8.601]},
}


MOCHABENCH = register_data(DataSource(
    name="mochabench",
    description="MoChaBench (MoCha, Wei et al. 2025): 220 talking-character contexts in 8 categories "
                "(prompt, denoised speech, full audio, first frame)",
    license="Apache-2.0",
    homepage="https://github.com/congwei1230/MoChaBench",
    repository="congwei1230/MoChaBench",
    revision=REVISION,
    download_url="https://raw.githubusercontent.com/congwei1230/MoChaBench/{revision}/{path}",
    hf_dataset="CongWei1230/MoChaBench",
    tasks=tuple(TASK_CATEGORIES),
    collect=collect, check=check, manifests=manifests, fetch_paths=fetch_paths,
))
