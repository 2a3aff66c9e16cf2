"""Board schemas, entries and ranking.

A board is a folder ``<boards>/<name>/`` (the bundled ones: ``hxbench/resources/leaderboards``) with ``board.yaml`` and, for measured boards,
``entries/<entry>/`` result bundles (``hxbench submit --out ...``). The schema says
everything that determines the ranking; there are no hidden weights::

    name: hx-synth-lipsync          # = the folder name
    title: Lip sync on hx-synth
    kind: measured                  # measured | reported
    task: hx-synth-lipsync          # optional: entries must be scored on this task
    task_version: 1                 # optional: ... and this version of it
    manifest_revision: 0123abcd...  # optional: pin the dataset revision
    description: free text
    columns:                        # what the table shows, in this order
      - id: ssim                    # short id used below
        metric: ssim[rgb-255]       # metric key (name[variant]) as in results.json
        output: ssim                # the metric's output
        label: SSIM
        higher_is_better: true
    ranking:
      method: lexicographic         # lexicographic: by the first column, ties by the next ...
      columns: [ssim, psnr]         # mean_rank: mean of per-column ranks, each column weight 1
    plots:
      scatter: [[ssim, psnr]]       # metric-vs-metric scatter plots
      distributions: [ssim, psnr]   # per-sample strip plots

Reported boards (``kind: reported``) hold published numbers instead of entries, as
``tables`` with ``source``, ``caption``, ``columns`` (id, label, higher_is_better) and
``rows`` ({method, values: {column id: number or null}}); they are rendered as transcribed,
marked "reported, not reproduced", and never ranked.

Entries are ranked together only when comparable: the same task (and version), manifest
revision, and for each column's metric the same version and weight sha256s; a bundle that
fails ``verify`` is never shown. ``load_board`` raises ``BoardError`` listing every reason,
or (``exclude_incompatible=True``) drops those entries and keeps the reasons.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hxbench.errors import HxbenchError
from hxbench.eval.schema import RunResults, SampleRecord, SchemaError, load_samples

BOARD_KEYS = {"name", "title", "kind", "task", "task_version", "manifest_revision", "description",
              "columns", "ranking", "plots", "tables", "notes"}
COLUMN_KEYS = {"id", "metric", "output", "label", "higher_is_better", "format"}
RANK_METHODS = ("lexicographic", "mean_rank")


class BoardError(HxbenchError):
    def __init__(self, where: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{where}:\n  " + "\n  ".join(problems))


@dataclass
class Column:
    id: str
    label: str
    higher_is_better: bool
    metric: str | None = None
    output: str | None = None
    format: str = ".4g"


@dataclass
class Entry:
    name: str
    path: Path
    card: dict[str, Any]
    results: RunResults
    meta: dict[str, Any]
    records: list[SampleRecord]
    values: dict[str, float | None] = field(default_factory=dict)  # column id -> value
    ci: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    rank: int | None = None
    score: float | None = None  # mean rank (mean_rank method)

    def per_sample(self, col: Column) -> dict[str, float]:
        return {r.sample_id: r.values[col.output] for r in self.records
                if r.metric == col.metric and r.values is not None and col.output in r.values}


@dataclass
class Board:
    name: str
    title: str
    kind: str
    path: Path
    description: str = ""
    task: str | None = None
    task_version: int | None = None
    manifest_revision: str | None = None
    columns: list[Column] = field(default_factory=list)
    rank_method: str = "lexicographic"
    rank_columns: list[str] = field(default_factory=list)
    scatter: list[tuple[str, str]] = field(default_factory=list)
    distributions: list[str] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    notes: str = ""
    entries: list[Entry] = field(default_factory=list)
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (entry, reason)

    def column(self, cid: str) -> Column:
        return next(c for c in self.columns if c.id == cid)

    def ranking_text(self) -> str:
        cols = [f"{self.column(c).label} ({'higher' if self.column(c).higher_is_better else 'lower'} is better)"
                for c in self.rank_columns]
        if self.rank_method == "lexicographic":
            return ("Ranked by " + cols[0] + (", ties broken by " + ", then ".join(cols[1:]) if cols[1:] else "")
                    + ". Entries without a value rank last.")
        return ("Ranked by the mean of per-column ranks over " + ", ".join(cols)
                + " (each column weight 1; tied values share the mean rank; a missing value ranks last).")


def _parse_columns(raw: Any, where: str, measured: bool, problems: list[str]) -> list[Column]:
    cols: list[Column] = []
    if not isinstance(raw, list) or not raw:
        problems.append(f"{where}: columns must be a non-empty list")
        return cols
    for i, c in enumerate(raw):
        w = f"{where}: column {i + 1}"
        if not isinstance(c, dict):
            problems.append(f"{w}: must be a mapping")
            continue
        unknown = set(c) - COLUMN_KEYS
        if unknown:
            problems.append(f"{w}: unknown key(s) {sorted(unknown)}; allowed {sorted(COLUMN_KEYS)}")
        need = ["id", "label", "higher_is_better"] + (["metric", "output"] if measured else [])
        miss = [k for k in need if k not in c]
        if miss:
            problems.append(f"{w}: missing {miss}")
            continue
        if not isinstance(c["higher_is_better"], bool):
            problems.append(f"{w}: higher_is_better must be true or false")
            continue
        if c["id"] in {x.id for x in cols}:
            problems.append(f"{w}: duplicate id {c['id']!r}")
            continue
        cols.append(Column(str(c["id"]), str(c["label"]), c["higher_is_better"], c.get("metric"),
                           c.get("output"), c.get("format", ".4g")))
    return cols


def load_schema(board_dir: str | Path) -> Board:
    """Parse and check ``board.yaml`` strictly (unknown keys are errors)."""
    from hxbench.eval.tasks import _strict_yaml

    board_dir = Path(board_dir)
    path = board_dir / "board.yaml"
    if not path.is_file():
        raise BoardError(str(board_dir), ["board.yaml is missing"])
    data = _strict_yaml(path.read_text(), str(path))
    problems: list[str] = []
    if not isinstance(data, dict):
        raise BoardError(str(path), ["must be a YAML mapping"])
    unknown = set(data) - BOARD_KEYS
    if unknown:
        problems.append(f"unknown key(s) {sorted(unknown)}; allowed {sorted(BOARD_KEYS)}")
    kind = data.get("kind", "measured")
    if kind not in ("measured", "reported"):
        problems.append(f"kind must be measured or reported, got {kind!r}")
    if data.get("name") != board_dir.name:
        problems.append(f"name {data.get('name')!r} must equal the folder name {board_dir.name!r}")
    board = Board(name=board_dir.name, title=str(data.get("title") or board_dir.name), kind=kind, path=board_dir,
                  description=str(data.get("description") or ""), task=data.get("task"),
                  task_version=data.get("task_version"), manifest_revision=data.get("manifest_revision"),
                  notes=str(data.get("notes") or ""))
    if kind == "reported":
        tables = data.get("tables")
        if not isinstance(tables, list) or not tables:
            problems.append("a reported board needs tables: [...]")
            tables = []
        for t in tables:
            tw = f"table {t.get('id', '?')!r}" if isinstance(t, dict) else "table"
            if not isinstance(t, dict) or not {"id", "source", "columns", "rows"} <= set(t):
                problems.append(f"{tw}: needs id, source, columns, rows")
                continue
            if set(t) - {"id", "source", "caption", "notes", "columns", "rows"}:
                problems.append(f"{tw}: unknown key(s) {sorted(set(t) - {'id', 'source', 'caption', 'notes', 'columns', 'rows'})}")
            cols = _parse_columns(t["columns"], tw, False, problems)
            ids = {c.id for c in cols}
            for r in t["rows"]:
                if not isinstance(r, dict) or set(r) != {"method", "values"} or not isinstance(r.get("values"), dict):
                    problems.append(f"{tw}: each row is {{method, values}} only, got {r!r}")
                    continue
                bad = set(r["values"]) - ids
                if bad:
                    problems.append(f"{tw}: row {r['method']!r} has values for unknown column(s) {sorted(bad)}")
            board.tables.append({**t, "columns": cols})
        if problems:
            raise BoardError(str(path), problems)
        return board
    board.columns = _parse_columns(data.get("columns"), "columns", True, problems)
    ids = [c.id for c in board.columns]
    ranking = data.get("ranking") or {}
    if not isinstance(ranking, dict) or set(ranking) - {"method", "columns"}:
        problems.append("ranking must be {method: lexicographic|mean_rank, columns: [ids]}")
    else:
        board.rank_method = ranking.get("method", "lexicographic")
        board.rank_columns = list(ranking.get("columns") or ids[:1])
        if board.rank_method not in RANK_METHODS:
            problems.append(f"ranking.method must be one of {RANK_METHODS}, got {board.rank_method!r}")
        bad = [c for c in board.rank_columns if c not in ids]
        if bad:
            problems.append(f"ranking.columns {bad} are not column ids {ids}")
    plots = data.get("plots") or {}
    if not isinstance(plots, dict) or set(plots) - {"scatter", "distributions"}:
        problems.append("plots must be {scatter: [[id, id], ...], distributions: [ids]}")
    else:
        for pair in plots.get("scatter") or []:
            if not (isinstance(pair, list) and len(pair) == 2 and all(p in ids for p in pair)):
                problems.append(f"plots.scatter entry {pair!r} must be a pair of column ids")
            else:
                board.scatter.append((pair[0], pair[1]))
        board.distributions = list(plots.get("distributions") or [])
        bad = [c for c in board.distributions if c not in ids]
        if bad:
            problems.append(f"plots.distributions {bad} are not column ids")
    if problems:
        raise BoardError(str(path), problems)
    return board


def _load_entry(path: Path) -> Entry:
    import yaml

    results = RunResults.load(path)
    meta = json.loads((path / "bundle.json").read_text())
    card = yaml.safe_load((path / "model_card.yaml").read_text()) or {}
    return Entry(card.get("name") or path.name, path, card, results, meta, list(load_samples(path).values()))


def _entry_reasons(board: Board, e: Entry, ref: Entry | None) -> list[str]:
    reasons = []
    task = e.results.task or {}
    if board.task and task.get("name") != board.task:
        reasons.append(f"scored on task {task.get('name')!r}, the board is for {board.task!r}")
    if board.task_version is not None and task.get("version") != board.task_version:
        reasons.append(f"task version {task.get('version')} but the board needs {board.task_version}")
    rev = e.meta.get("manifest_revision")
    want = board.manifest_revision or (ref.meta.get("manifest_revision") if ref else None)
    if want and rev != want:
        reasons.append(f"manifest revision {rev}, the board's is {want}")
    for c in board.columns:
        m = e.results.metrics.get(c.metric)
        if m is None or not m.ok:
            reasons.append(f"has no {c.metric} (a different variant is a different metric)")
            continue
        if c.output not in m.outputs:
            reasons.append(f"{c.metric} has no output {c.output!r}")
            continue
        hib = m.outputs[c.output].higher_is_better
        if hib is not None and hib != c.higher_is_better:
            reasons.append(f"{c.metric}.{c.output}: results say higher_is_better={hib}, the schema says "
                           f"{c.higher_is_better}: fix the schema")
        if ref is not None:
            r = ref.results.metrics[c.metric]
            if r.version != m.version:
                reasons.append(f"{c.metric} version {m.version} differs from {ref.name}'s {r.version}")
            if r.weights != m.weights:
                reasons.append(f"{c.metric} weights differ from {ref.name}'s")
    return reasons


def load_board(board_dir: str | Path, exclude_incompatible: bool = False, verify: bool = True) -> Board:
    """Schema + verified, comparable entries, ranked."""
    from hxbench.board.bundle import verify_bundle

    board = load_schema(board_dir)
    if board.kind == "reported":
        return board
    entries_dir = board.path / "entries"
    dirs = sorted(p for p in entries_dir.iterdir() if p.is_dir()) if entries_dir.is_dir() else []
    problems: list[str] = []
    ref: Entry | None = None
    for d in dirs:
        if verify:
            rep = verify_bundle(d)
            if not rep.ok:
                reason = "bundle fails verification: " + "; ".join(rep.problems)
                (board.excluded.append((d.name, reason)) if exclude_incompatible
                 else problems.append(f"entry {d.name}: {reason}"))
                continue
        try:
            e = _load_entry(d)
        except (OSError, json.JSONDecodeError, SchemaError) as err:
            problems.append(f"entry {d.name}: unreadable ({err})")
            continue
        reasons = _entry_reasons(board, e, ref)
        if reasons:
            if exclude_incompatible:
                board.excluded.append((d.name, "; ".join(reasons)))
            else:
                problems += [f"entry {d.name}: {r}" for r in reasons]
            continue
        ref = ref or e
        for c in board.columns:
            row = e.results.metrics[c.metric].outputs[c.output]
            e.values[c.id] = None if math.isnan(row.value) else float(row.value)
            e.ci[c.id] = row.ci95
        board.entries.append(e)
    if problems:
        raise BoardError(f"board {board.name}: refusing to rank incompatible or unverified entries "
                         "(fix them, or build with --exclude-incompatible)", problems)
    rank_entries(board)
    return board


def _ranks(values: list[float | None], higher: bool) -> list[float]:
    """1 = best; ties share the mean rank; missing values rank after everything."""
    n = len(values)
    keyed = sorted(range(n), key=lambda i: (values[i] is None, -(values[i] or 0) if higher else (values[i] or 0)))
    ranks = [0.0] * n
    i = 0
    while i < n:
        j = i
        while j + 1 < n and values[keyed[j + 1]] == values[keyed[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[keyed[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def rank_entries(board: Board) -> None:
    """Order ``board.entries`` and set ``rank`` exactly as the schema's ranking says."""
    es = board.entries
    if not es:
        return
    cols = [board.column(c) for c in board.rank_columns]

    def lex_key(e: Entry):
        key = []
        for c in cols:
            v = e.values.get(c.id)
            key += [v is None, 0.0 if v is None else (-v if c.higher_is_better else v)]
        return key

    if board.rank_method == "mean_rank":
        per_col = [_ranks([e.values.get(c.id) for e in es], c.higher_is_better) for c in cols]
        for i, e in enumerate(es):
            e.score = sum(r[i] for r in per_col) / len(cols)
        es.sort(key=lambda e: [e.score] + lex_key(e) + [e.name])
        keyf = lambda e: e.score  # noqa: E731
    else:
        es.sort(key=lambda e: lex_key(e) + [e.name])
        keyf = lex_key
    for i, e in enumerate(es):
        e.rank = es[i - 1].rank if i and keyf(es[i - 1]) == keyf(e) else i + 1
