"""Creating and opening a study directory.

A study directory holds::

    study.json        configuration: protocol, runs, matched / missing samples, database URL
    study.db          the SQLite vote database (unless --db points at PostgreSQL)
    checks/           the deliberately broken attention-check videos
    links.txt         one access link per rater and the admin token (mode 0600)
    report.json       written by `hxbench study report`
    report.html       the self-contained HTML report
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

import hxbench
from hxbench.stats import DEFAULT_N_BOOT
from hxbench.study import db as dbm
from hxbench.study.plan import BROKEN, PlanItem, Run, StudyError, broken_sources, build_plan, \
    match_samples, write_broken_video

QUESTIONS_PAIRWISE = ("preference", "defects")
DEFECTS = ("LSI", "MU", "ID")


def study_file(study_dir: str | Path) -> Path:
    return Path(study_dir) / "study.json"


def load_study_json(study_dir: str | Path) -> dict:
    path = study_file(study_dir)
    if not path.is_file():
        raise StudyError(f"{study_dir}: not a study directory (no study.json); "
                         "create one with `hxbench study create`")
    return json.loads(path.read_text())


def resolve_db_url(study_dir: str | Path, override: str | None = None) -> str:
    if override:
        return override
    if os.environ.get("HXBENCH_STUDY_DB"):
        return os.environ["HXBENCH_STUDY_DB"]
    cfg = load_study_json(study_dir)
    return cfg.get("db_url") or dbm.sqlite_url(Path(study_dir) / "study.db")


def open_db(study_dir: str | Path, override: str | None = None) -> dbm.StudyDB:
    return dbm.StudyDB(resolve_db_url(study_dir, override))


def create_study(study_dir: str | Path, runs: list[Run], protocol: str, n_raters: int,
                 db_url: str | None = None, overlap: int | None = None, n_checks: int = 2,
                 seed: int | None = None, da: bool = False, base_url: str = "http://127.0.0.1:8000",
                 rater_names: list[str] | None = None) -> dict:
    """Build the plan, write broken check videos, fill the database. Returns a summary with
    one link per rater and the admin token (these are shown once and stored only hashed in
    the database; ``links.txt`` keeps a private copy)."""
    study_dir = Path(study_dir)
    if study_file(study_dir).exists():
        raise StudyError(f"{study_dir} already holds a study (study.json exists)")
    study_dir.mkdir(parents=True, exist_ok=True)
    seed = secrets.randbelow(2**31) if seed is None else seed
    samples, missing = match_samples(runs)
    if not samples:
        raise StudyError("the runs have no sample_id in common: "
                         + "; ".join(f"{r.name}: {len(r.videos)} videos" for r in runs))
    names = [r.name for r in runs]
    n_check_samples = min(3, len(samples))
    plan = build_plan(names, samples, protocol, n_raters, overlap=overlap, n_checks=n_checks,
                      seed=seed, check_samples=samples[:n_check_samples])
    by_name = {r.name: r for r in runs}

    # opaque video ids: the URL reveals neither the model nor the file
    videos: dict[tuple[str, str], str] = {}
    rows: list[tuple[str, str, str, str]] = []

    def vid(run: str, sample: str, path: Path) -> str:
        key = (run, sample)
        if key not in videos:
            videos[key] = secrets.token_hex(12)
            rows.append((videos[key], run, sample, str(path)))
        return videos[key]

    for src_run, sample in sorted(broken_sources(plan)):
        dst = study_dir / "checks" / src_run / f"{sample}.mp4"
        write_broken_video(by_name[src_run].videos[sample], dst, seed=seed)
        vid(f"{BROKEN}{src_run}", sample, dst.resolve())
    items = []
    for n, it in enumerate(plan, start=1):
        ids = []
        for j, run in enumerate(it.runs):
            if run == BROKEN:
                src = it.source[j]
                ids.append(videos[(f"{BROKEN}{src}", it.sample_id)])
            else:
                ids.append(vid(run, it.sample_id, by_name[run].videos[it.sample_id]))
        items.append({"id": n, "rater_id": it.rater + 1, "position": it.position, "kind": it.kind,
                      "sample_id": it.sample_id, "runs": it.runs, "video_ids": ids,
                      "check_kind": it.check})

    rater_names = rater_names or [f"rater{i + 1:02d}" for i in range(n_raters)]
    if len(rater_names) != n_raters:
        raise StudyError(f"{len(rater_names)} rater names for {n_raters} raters")
    secrets_ = [dbm.new_secret() for _ in range(n_raters)]
    admin = dbm.new_secret()
    url = db_url or dbm.sqlite_url(study_dir / "study.db")
    config = {
        "hxbench_version": hxbench.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "protocol": protocol,
        "runs": {r.name: str(r.root) for r in runs},
        "samples": samples,
        "missing": missing,
        "n_raters": n_raters,
        "overlap": overlap or n_raters,
        "n_checks": n_checks,
        "seed": seed,
        "questions": {"defects": list(DEFECTS) if protocol == "pairwise" else [], "da": bool(da)},
    }
    store = dbm.StudyDB(url)
    try:
        store.init_study(config, dbm.hash_secret(admin),
                         [(i + 1, rater_names[i], dbm.hash_secret(s)) for i, s in enumerate(secrets_)],
                         rows, items)
    finally:
        store.close()
    cfg_file = dict(config, db_url=None if db_url is None else _redact(db_url))
    tmp = study_file(study_dir).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(cfg_file, indent=2) + "\n")
    tmp.replace(study_file(study_dir))
    base = base_url.rstrip("/")
    links = [{"rater": rater_names[i], "token": dbm.rater_token(i + 1, s),
              "url": f"{base}/r/{dbm.rater_token(i + 1, s)}"} for i, s in enumerate(secrets_)]
    summary = {"study_dir": str(study_dir), "protocol": protocol, "samples": len(samples),
               "missing": missing, "items": len(items), "links": links, "admin_token": admin,
               "admin_url": f"{base}/admin?token={admin}"}
    links_path = study_dir / "links.txt"
    fd = os.open(links_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"# admin token (results and export): {admin}\n# admin page: {summary['admin_url']}\n")
        for link in links:
            f.write(f"{link['rater']}\t{link['url']}\n")
    return summary


def _redact(url: str) -> str:
    """Keep a PostgreSQL URL without its password in study.json (pass --db again or set
    HXBENCH_STUDY_DB to serve / report); SQLite URLs are kept as they are."""
    if url.startswith("sqlite"):
        return url
    scheme, _, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if at and ":" in creds:
        return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
    return url


def build_report(study_dir: str | Path, db_url: str | None = None, into: str | Path | None = None,
                 n_boot: int = DEFAULT_N_BOOT, max_check_fail: float = 0.5) -> dict:
    """Compute the report, write ``report.json`` and ``report.html`` into the study directory
    and, with ``into``, ``study.json`` beside that run's ``results.json``."""
    from hxbench.eval.results import write_json
    from hxbench.study.report import compute, render_html

    study_dir = Path(study_dir)
    store = open_db(study_dir, db_url)
    try:
        cfg = store.config()
        rows = store.export()
    finally:
        store.close()
    runs = list(cfg["runs"])
    report = {
        "kind": "hxbench-user-study",
        "hxbench_version": hxbench.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "study": {"protocol": cfg["protocol"], "runs": runs, "run_paths": cfg["runs"],
                  "n_samples": len(cfg["samples"]), "missing": cfg["missing"],
                  "n_raters": cfg["n_raters"], "overlap": cfg["overlap"], "created": cfg["created"],
                  "study_dir": str(study_dir.resolve())},
        **compute(rows, runs, cfg["protocol"], n_boot=n_boot, seed=int(cfg.get("seed", 0)),
                  max_check_fail=max_check_fail),
    }
    write_json(study_dir / "report.json", report)
    (study_dir / "report.html").write_text(render_html(report))
    if into is not None:
        into = Path(into)
        if not into.is_dir():
            raise StudyError(f"--into {into}: not a directory")
        write_json(into / "study.json", report)
    return report


__all__ = ["create_study", "open_db", "load_study_json", "resolve_db_url", "PlanItem", "DEFECTS"]
