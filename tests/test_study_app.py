"""User study: plan, database (SQLite, and PostgreSQL when HXBENCH_TEST_POSTGRES is set),
tokens, input validation, idempotent votes, resume, report and CLI."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("flask")
pytest.importorskip("sqlalchemy")
pytest.importorskip("waitress")

from hxbench.cli import main  # noqa: E402
from hxbench.study import db as dbm  # noqa: E402
from hxbench.study.app import create_app  # noqa: E402
from hxbench.study.core import build_report, create_study, load_study_json, open_db  # noqa: E402
from hxbench.study.plan import BROKEN, StudyError, build_plan, match_samples, parse_run_args  # noqa: E402
from hxbench.study.testing import make_run, postgres_server  # noqa: E402


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg(tmp_path_factory):
    if not os.environ.get("HXBENCH_TEST_POSTGRES"):
        yield None
        return
    with postgres_server(tmp_path_factory.mktemp("pg")) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, pg):
    if request.param == "sqlite":
        return None  # the default: study.db in the study directory
    if pg is None:
        pytest.skip("PostgreSQL suite runs only with HXBENCH_TEST_POSTGRES=1 "
                    "(starts a throwaway server with Debian's postgresql)")
    return pg.new_database()


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    make_run(root / "A", ["s1", "s2", "s3"], shade=40)
    make_run(root / "B", ["s1", "s2", "s3", "s4"], shade=120, outputs_subdir=True)
    make_run(root / "C", ["s1", "s2", "s3"], shade=200)
    return root


def run_specs(runs_dir: Path, names=("A", "B")) -> list[str]:
    return [f"{n}={runs_dir / n}" for n in names]


def new_study(tmp_path, runs_dir, db_url, names=("A", "B"), **kw):
    runs = parse_run_args(run_specs(runs_dir, names))
    kw.setdefault("protocol", "pairwise")
    kw.setdefault("n_raters", 2)
    kw.setdefault("seed", 7)
    summary = create_study(tmp_path / "study", runs, kw.pop("protocol"), kw.pop("n_raters"),
                           db_url=db_url, **kw)
    store = open_db(tmp_path / "study", db_url)
    app = create_app(store, tmp_path / "study")
    app.testing = True
    return summary, store, app


def tok(summary, i):
    return summary["links"][i]["token"]


def vote_json(client, token, item_id, **form):
    return client.post(f"/r/{token}/vote", data={"item_id": str(item_id), **form},
                       headers={"Accept": "application/json"})


def ideal_answer(item, favour="A"):
    """Deterministic rater: prefers ``favour``; passes every attention check."""
    runs = item["runs"]
    if item["kind"] == "choice":
        if favour in runs:
            return {"choice": str(runs.index(favour))}
        return {"choice": str(next(i for i, r in enumerate(runs) if r != BROKEN))}
    if item["check_kind"] == "identical":
        return {"pref": "same"}
    if BROKEN in runs:
        return {"pref": "right" if runs[0] == BROKEN else "left"}
    if favour in runs:
        return {"pref": "left" if runs[0] == favour else "right",
                "defect_left" if runs[0] != favour else "defect_right": "MU"}
    return {"pref": "same"}


# -- plan -------------------------------------------------------------------------------------------
def test_plan_balanced_and_deterministic():
    runs, samples = ["A", "B", "C"], ["s1", "s2", "s3", "s4"]
    plan = build_plan(runs, samples, "pairwise", n_raters=4, overlap=2, n_checks=2, seed=3)
    assert plan == build_plan(runs, samples, "pairwise", n_raters=4, overlap=2, n_checks=2, seed=3)
    real = [it for it in plan if not it.check]
    per_comp = Counter((it.sample_id, tuple(sorted(it.runs))) for it in real)
    assert len(per_comp) == 4 * 3 and set(per_comp.values()) == {2}  # every comparison twice
    load = Counter(it.rater for it in real)
    assert max(load.values()) - min(load.values()) <= 1  # 24 judgements over 4 raters: 6 each
    for comp in per_comp:  # left/right balanced within each comparison
        lefts = [it.runs[0] for it in real if (it.sample_id, tuple(sorted(it.runs))) == comp]
        assert len(set(lefts)) == 2
    for r in range(4):
        mine = sorted((it for it in plan if it.rater == r), key=lambda it: it.position)
        assert [it.position for it in mine] == list(range(len(mine)))
        checks = [it for it in mine if it.check]
        assert sorted(c.check for c in checks) == ["broken", "identical"]
        assert mine[0].check is None
        ident = next(c for c in checks if c.check == "identical")
        assert ident.runs[0] == ident.runs[1]
        broken = next(c for c in checks if c.check == "broken")
        assert BROKEN in broken.runs and any(r_ != BROKEN for r_ in broken.runs)


def test_plan_best_choice_rotation():
    runs = ["A", "B", "C"]
    plan = build_plan(runs, ["s1", "s2"], "best-choice", n_raters=3, n_checks=1, seed=1)
    real = [it for it in plan if not it.check]
    for s in ("s1", "s2"):  # Latin rotation: each run takes each screen slot once over 3 raters
        shown = [it.runs for it in real if it.sample_id == s]
        assert len(shown) == 3
        for slot in range(3):
            assert sorted(r[slot] for r in shown) == runs
    assert all(sum(r == BROKEN for r in it.runs) == 1 for it in plan if it.check)
    with pytest.raises(StudyError):
        build_plan(runs, ["s1"], "ranking", n_raters=1)
    with pytest.raises(StudyError):
        build_plan(runs, ["s1"], "pairwise", n_raters=2, overlap=3)


def test_runs_matched_by_sample_id(runs_dir):
    runs = parse_run_args(run_specs(runs_dir, ("A", "B", "C")))
    assert runs[1].root.name == "outputs"  # RUN_DIR/outputs/ is used when present
    samples, missing = match_samples(runs)
    assert samples == ["s1", "s2", "s3"]
    assert missing == {"A": ["s4"], "C": ["s4"]}
    with pytest.raises(StudyError):
        parse_run_args([f"A={runs_dir / 'A'}"])
    with pytest.raises(StudyError):
        parse_run_args([f"../x={runs_dir / 'A'}", f"B={runs_dir / 'B'}"])


# -- database ---------------------------------------------------------------------------------------
def test_migrations_upgrade_keeps_data(tmp_path, db_url):
    url = db_url or dbm.sqlite_url(tmp_path / "m.db")
    engine = dbm.make_engine(url)
    assert dbm.migrate(engine, target=1) == 1
    import sqlalchemy as sa

    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO raters (id, name, token_hash, created) VALUES (1, 'r', 'h', 0)"))
    assert dbm.schema_level(engine) == 1
    assert dbm.migrate(engine) == dbm.SCHEMA_LEVEL == 2
    assert dbm.migrate(engine) == 2  # idempotent
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT name, last_seen FROM raters")).one()
    assert row == ("r", None)
    engine.dispose()


def test_create_study_writes_plan_and_checks(tmp_path, runs_dir, db_url):
    summary, store, _ = new_study(tmp_path, runs_dir, db_url, names=("A", "B", "C"), n_raters=3)
    cfg = load_study_json(tmp_path / "study")
    assert cfg["samples"] == ["s1", "s2", "s3"] and cfg["missing"] == {"A": ["s4"], "C": ["s4"]}
    # 3 samples x 3 pairs, judged by all 3 raters, + 2 checks each
    assert summary["items"] == 3 * 3 * 3 + 3 * 2 == store.counts()["items"]
    assert len({link["token"] for link in summary["links"]}) == 3
    broken = list((tmp_path / "study" / "checks").rglob("*.mp4"))
    assert broken
    from hxbench.io.media import read_video

    b = broken[0]
    src = runs_dir / b.parent.name / (f"outputs/{b.name}" if b.parent.name == "B" else b.name)
    diff = abs(read_video(b).astype(int) - read_video(src).astype(int)).mean()
    assert diff > 20  # deliberately broken
    assert (tmp_path / "study" / "links.txt").stat().st_mode & 0o077 == 0
    if store.url.startswith("sqlite"):
        import sqlalchemy as sa

        with store.engine.connect() as conn:
            assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
    with pytest.raises(StudyError):  # a second study in the same directory
        create_study(tmp_path / "study", parse_run_args(run_specs(runs_dir)), "pairwise", 1)
    store.close()


# -- tokens, access and validation ------------------------------------------------------------------
def test_tokens_and_per_rater_access(tmp_path, runs_dir, db_url):
    summary, store, app = new_study(tmp_path, runs_dir, db_url, n_raters=2, overlap=1)
    c = app.test_client()
    t1, t2 = tok(summary, 0), tok(summary, 1)
    assert c.get(f"/r/{t1}").status_code == 200
    rid, secret = dbm.split_rater_token(t1)
    wrong = secret[:-1] + ("y" if secret.endswith("x") else "x")  # never the secret itself
    assert c.get(f"/r/{rid}-{wrong}").status_code == 404  # wrong secret
    assert c.get(f"/r/{2}-{secret}").status_code == 404  # rater 1's secret for rater 2
    assert c.get("/r/nonsense").status_code == 404
    item2 = store.next_item(2)
    r = vote_json(c, t1, item2["id"], pref="left")  # rater 1 votes on rater 2's item
    assert r.status_code == 403
    assert store.vote(item2["id"]) is None
    # videos: only those of the rater's own items; opaque ids only; no path traversal
    own = store.next_item(1)["video_ids"][0]
    resp = c.get(f"/r/{t1}/video/{own}", headers={"Range": "bytes=0-99"})
    assert resp.status_code == 206 and len(resp.data) == 100 and resp.mimetype == "video/mp4"
    mine = {v for it in store.export() if it["rater_id"] == 1 for v in store.item(it["item_id"])["video_ids"]}
    theirs = {v for it in store.export() if it["rater_id"] == 2
              for v in store.item(it["item_id"])["video_ids"]} - mine
    assert theirs, "overlap=1 should give rater 2 videos rater 1 never sees"
    assert c.get(f"/r/{t1}/video/{next(iter(theirs))}").status_code == 404
    assert c.get(f"/r/{t2}/video/{next(iter(theirs))}").status_code == 200
    for bad in ("..%2f..%2fstudy.json", "../../study.json", "%2e%2e%2fstudy.db", "/etc/passwd",
                own[:-1] + "/", *([own.upper()] if own.upper() != own else [])):
        assert c.get(f"/r/{t1}/video/{bad}").status_code == 404, bad
    # admin: results and export need the admin token
    assert c.get("/admin").status_code == 403
    assert c.get("/admin?token=" + summary["admin_token"][:-2]).status_code == 403
    assert c.get(f"/admin?token={t1}").status_code == 403
    assert c.get("/admin/export.json").status_code == 403
    assert c.get("/admin/export.csv", headers={"Authorization": f"Bearer {t2}"}).status_code == 403
    assert c.get(f"/admin?token={summary['admin_token']}").status_code == 200
    r = c.get("/admin/export.json", headers={"Authorization": f"Bearer {summary['admin_token']}"})
    assert r.status_code == 200 and len(r.get_json()["items"]) == summary["items"]
    store.close()


def test_admin_page_shows_progress_and_export_links(tmp_path, runs_dir, db_url):
    summary, store, app = new_study(tmp_path, runs_dir, db_url, n_raters=2, overlap=1)
    c = app.test_client()
    item = store.next_item(1)
    assert vote_json(c, tok(summary, 0), item["id"], pref="left").status_code == 200
    admin = summary["admin_token"]
    page = c.get("/admin", headers={"Authorization": f"Bearer {admin}"}).get_data(as_text=True)
    assert page.count("<!doctype html>") == 1 and "<meta name='generator' content='hxbench'>" in page
    progress = page.split("<table id='progress'>", 1)[1].split("</table>", 1)[0]
    assert progress.count("<tr>") == 1 + 2  # header, one row per rater
    assert "<td>rater01</td><td>1</td>" in progress and "<td>rater02</td><td>0</td>" in progress
    assert page.index("Rater progress") < page.index("Pairwise preference (GSB)")
    links = re.findall(r"href='(/admin/export\.(?:json|csv)\?token=[^']+)'", page)
    assert len(links) == 2 and all(c.get(u).status_code == 200 for u in links)
    store.close()


def test_input_validation(tmp_path, runs_dir, db_url):
    summary, store, app = new_study(tmp_path, runs_dir, db_url, n_raters=1, da=True)
    c = app.test_client()
    t = tok(summary, 0)
    item = store.next_item(1)
    good = {"pref": "left", "da_persons_left": "2", "da_correct_left": "1",
            "da_persons_right": "2", "da_correct_right": "2"}
    for bad in ({**good, "pref": "up"}, {k: v for k, v in good.items() if k != "pref"},
                {**good, "defect_left": "XX"}, {**good, "da_correct_left": "3"},
                {**good, "da_persons_right": "0"}, {**good, "da_persons_right": "-1"},
                {**good, "da_correct_left": "1e9"}):
        r = vote_json(c, t, item["id"], **bad)
        assert r.status_code == 400, bad
    assert vote_json(c, t, "abc", **good).status_code == 400
    assert vote_json(c, t, 10**12, **good).status_code == 400
    assert store.counts()["votes"] == 0
    # form posts (no JSON) with an error go back to the item with the message
    r = c.post(f"/r/{t}/vote", data={"item_id": str(item["id"]), "pref": "nope"})
    assert r.status_code == 303 and "error=" in r.headers["Location"]
    assert "choose left, same or right" in c.get(r.headers["Location"]).get_data(as_text=True)
    r = c.post(f"/r/{t}/vote", data={"item_id": "1", "pref": "x" * 20000})
    assert r.status_code == 413  # body size limit
    r = vote_json(c, t, item["id"], **good, defect_right=["LSI", "ID"])
    assert r.status_code == 200 and r.get_json()["status"] == "created"
    assert store.vote(item["id"])["answer"] == {"pref": "left", "defects": {"left": [], "right": ["LSI", "ID"]},
                                                "da": {"left": [1, 2], "right": [2, 2]}}
    store.close()


def test_vote_is_idempotent(tmp_path, runs_dir, db_url):
    summary, store, app = new_study(tmp_path, runs_dir, db_url, n_raters=1)
    c = app.test_client()
    t = tok(summary, 0)
    item = store.next_item(1)
    assert vote_json(c, t, item["id"], pref="left").get_json()["status"] == "created"
    again = vote_json(c, t, item["id"], pref="left")  # a retried POST
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    late = c.post(f"/r/{t}/vote", data={"item_id": str(item["id"]), "pref": "right"})
    assert late.status_code == 303  # form resubmission goes on to the next item
    counts = store.counts()
    assert counts["votes"] == 1 == counts["distinct_items"]
    assert store.vote(item["id"])["answer"]["pref"] == "left"  # the first vote stands
    assert store.next_item(1)["id"] != item["id"]
    store.close()


def test_resume_half_finished_session(tmp_path, runs_dir, db_url):
    summary, store, app = new_study(tmp_path, runs_dir, db_url, n_raters=2)
    t = tok(summary, 0)
    c = app.test_client()
    total = store.progress(1)[1]
    half = total // 2
    answered = []
    for _ in range(half):
        item = store.next_item(1)
        r = c.post(f"/r/{t}/vote", data={"item_id": str(item["id"]), **ideal_answer(item)})
        assert r.status_code == 303 and r.headers["Location"].endswith(f"/r/{t}")
        answered.append(item["id"])
    # the browser is closed; a new session (fresh client, a reopened server) continues
    store.close()
    store2 = open_db(tmp_path / "study", db_url)
    app2 = create_app(store2)
    c2 = app2.test_client()
    page = c2.get(f"/r/{t}").get_data(as_text=True)
    nxt = store2.next_item(1)
    assert nxt["id"] not in answered
    assert f'name="item_id" value="{nxt["id"]}"' in page
    assert f"{half} / {total} answered" in page
    positions = {it["item_id"]: it["position"] for it in store2.export()}
    assert positions[nxt["id"]] == half  # the first unanswered in the rater's order
    assert c2.get(f"/r/{t}/next.json").get_json()["done"] == half
    for _ in range(total - half):
        item = store2.next_item(1)
        vote_json(c2, t, item["id"], **ideal_answer(item))
    assert "All done" in c2.get(f"/r/{t}").get_data(as_text=True)
    assert store2.progress(1) == (total, total) and store2.progress(2) == (0, total)
    store2.close()


# -- report and CLI -------------------------------------------------------------------------------
def test_report_end_to_end_via_cli(tmp_path, runs_dir, db_url, capsys):
    study = tmp_path / "study"
    args = ["study", "create", "--runs", *run_specs(runs_dir, ("A", "B", "C")), "--raters", "2",
            "--out", str(study), "--seed", "5", "--json"]
    if db_url:
        args += ["--db", db_url]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    store = open_db(study, db_url)
    app = create_app(store)
    c = app.test_client()
    for i in range(2):
        t = tok(summary, i)
        while (item := store.next_item(i + 1)) is not None:
            assert vote_json(c, t, item["id"], **ideal_answer(item, favour="A")).status_code == 200
    store.close()
    run_dir = tmp_path / "runA_results"
    run_dir.mkdir()
    db_args = ["--db", db_url] if db_url else []
    assert main(["study", "report", str(study), "--into", str(run_dir), "--n-boot", "200", *db_args]) == 0
    out = capsys.readouterr().out
    assert "GSB A vs B: +1.000" in out
    rep = json.loads((study / "report.json").read_text())
    assert rep == json.loads((run_dir / "study.json").read_text())
    pairs = {(p["a"], p["b"]): p for p in rep["pairwise"]["pairs"]}
    # A always preferred (2 raters x 3 samples per pair); B vs C always "same"
    assert pairs[("A", "B")]["gsb"] == 1.0 and pairs[("A", "B")]["n"] == 6
    assert pairs[("A", "B")]["gsb_ci95"] == [1.0, 1.0]
    assert pairs[("A", "C")]["gsb"] == 1.0 and pairs[("B", "C")]["gsb"] == 0.0
    assert pairs[("B", "C")]["ties"] == 6
    # the loser of each A comparison was flagged MU: B and C in 6 of 12 showings, A never
    assert rep["pairwise"]["defect_rates"]["A"]["MU"] == 0.0
    assert rep["pairwise"]["defect_rates"]["B"]["MU"] == pytest.approx(0.5)
    assert rep["attention"]["failed"] == 0 and rep["votes"]["excluded_raters"] == []
    assert rep["agreement"]["preference"] == pytest.approx(1.0)
    assert rep["ranking"]["order"][0] == "A"
    assert rep["study"]["missing"] == {"A": ["s4"], "C": ["s4"]}
    html = (study / "report.html").read_text()
    assert "<svg" in html and "GSB" in html
    assert main(["study", "export", str(study), "--format", "csv", *db_args]) == 0
    csv_text = capsys.readouterr().out
    assert len(csv_text.strip().splitlines()) == 1 + summary["items"]
    assert main(["study", "export", str(study), "--format", "json", "-o", str(tmp_path / "e.json"),
                 *db_args]) == 0
    assert len(json.loads((tmp_path / "e.json").read_text())["items"]) == summary["items"]


def test_best_choice_report(tmp_path, runs_dir, db_url):
    summary, store, app = new_study(tmp_path, runs_dir, db_url, names=("A", "B", "C"),
                                    protocol="best-choice", n_raters=3, n_checks=1)
    c = app.test_client()
    for i in range(3):
        t = tok(summary, i)
        while (item := store.next_item(i + 1)) is not None:
            # rater 1 and 2 choose A, rater 3 chooses B: Top-1 A = 2/3, B = 1/3, C = 0
            favour = "B" if i == 2 else "A"
            page = c.get(f"/r/{t}").get_data(as_text=True)
            assert 'id="choice_2"' in page and "pref_left" not in page
            assert vote_json(c, t, item["id"], **ideal_answer(item, favour)).status_code == 200
    rep = build_report(tmp_path / "study", db_url=db_url, n_boot=100)
    top1 = rep["best_choice"]["top1"]
    assert top1["A"] == pytest.approx(2 / 3) and top1["B"] == pytest.approx(1 / 3) and top1["C"] == 0
    assert rep["best_choice"]["n"] == 9
    assert rep["ranking"]["order"] == ["A", "B", "C"]
    store.close()
