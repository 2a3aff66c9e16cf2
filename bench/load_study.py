"""Load test of the user-study server on loopback: N concurrent simulated raters vote for at
most D seconds; then the votes are counted in the database.

    .venv/bin/python bench/load_study.py                      # 50 raters, <= 60 s, SQLite
    .venv/bin/python bench/load_study.py --postgres           # throwaway PostgreSQL server
    .venv/bin/python bench/load_study.py --raters 10 --duration 10 --json out.json

The server runs as a separate process (`hxbench study serve`, waitress, 32 threads) on
127.0.0.1. Each simulated rater keeps one HTTP/1.1 connection, fetches its next item
(`GET /r/<token>/next.json`), posts a vote (`POST /r/<token>/vote`, JSON answer) and, for
10 % of votes, posts the same vote again (a client retry) - plus 5 % of votes are "lost
responses": the client drops the connection after sending and retries on a new one. The
run is bounded: it stops when every rater has finished its items or at the deadline.

Counted afterwards in the database: lost = votes acknowledged to a client but absent from
the database; duplicated = database rows beyond one per item, plus items that were answered
"created" more than once. Both must be 0 (the script exits 1 otherwise).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hxbench.study.core import create_study, open_db  # noqa: E402
from hxbench.study.plan import parse_run_args  # noqa: E402
from hxbench.study.testing import free_port, make_run, postgres_server  # noqa: E402


class Rater(threading.Thread):
    def __init__(self, port: int, token: str, deadline: float, seed: int) -> None:
        super().__init__(daemon=True)
        self.port, self.token, self.deadline = port, token, deadline
        self.rng = random.Random(seed)
        self.acked: dict[int, list[str]] = {}  # item id -> statuses received
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.finished = False
        self.conn = None

    def _conn(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        return self.conn

    def _request(self, method: str, path: str, body: str | None = None, drop: bool = False):
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in range(3):
            conn = self._conn()
            try:
                t0 = time.perf_counter()
                conn.request(method, path, body=body, headers=headers)
                if drop:  # the response is lost: close without reading, then retry
                    conn.close()
                    self.conn = None
                    drop = False
                    time.sleep(0.01)
                    continue
                resp = conn.getresponse()
                data = resp.read()
                self.latencies.append(time.perf_counter() - t0)
                return resp.status, json.loads(data or b"null")
            except (OSError, http.client.HTTPException) as err:
                conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                self.errors.append(f"retry after {type(err).__name__}")
        raise RuntimeError("unreachable")

    def answer(self, item: dict) -> dict:
        if item["kind"] == "choice":
            return {"choice": str(self.rng.randrange(len(item["videos"])))}
        a = {"pref": self.rng.choice(["left", "same", "right"])}
        if self.rng.random() < 0.3:
            a["defect_left"] = self.rng.choice(["LSI", "MU", "ID"])
        return a

    def run(self) -> None:
        try:
            while time.time() < self.deadline:
                status, nxt = self._request("GET", f"/r/{self.token}/next.json")
                if status != 200:
                    self.errors.append(f"next.json {status}")
                    return
                item = nxt["item"]
                if item is None:
                    self.finished = True
                    return
                body = urllib.parse.urlencode({"item_id": item["id"], "elapsed_ms": 1000,
                                               **self.answer(item)})
                drop = self.rng.random() < 0.05
                status, res = self._request("POST", f"/r/{self.token}/vote", body, drop=drop)
                if status != 200:
                    self.errors.append(f"vote {status} {res}")
                    continue
                self.acked.setdefault(item["id"], []).append(res["status"])
                if self.rng.random() < 0.10:  # a client retry of the same POST
                    status, res = self._request("POST", f"/r/{self.token}/vote", body)
                    if status == 200:
                        self.acked[item["id"]].append(res["status"])
                time.sleep(self.rng.uniform(0, 0.01))  # think time
        except Exception as err:  # noqa: BLE001
            self.errors.append(f"{type(err).__name__}: {err}")
        finally:
            if self.conn is not None:
                self.conn.close()


def run_load(workdir: Path, n_raters: int = 50, duration: float = 60.0, n_samples: int = 40,
             db_url: str | None = None, threads: int = 32) -> dict:
    runs_root = workdir / "runs"
    names = ["A", "B", "C"]
    for k, n in enumerate(names):
        make_run(runs_root / n, [f"s{i:02d}" for i in range(n_samples)], shade=40 + 70 * k,
                 size=32, fps=5)
    study = workdir / "study"
    summary = create_study(study, parse_run_args([f"{n}={runs_root / n}" for n in names]),
                           "pairwise", n_raters, db_url=db_url, n_checks=2, seed=1)
    port = free_port()
    cmd = [sys.executable, "-m", "hxbench", "study", "serve", str(study), "--port", str(port),
           "--threads", str(threads)] + (["--db", db_url] if db_url else [])
    log_path = workdir / "server.log"
    log = open(log_path, "w")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, cwd=str(ROOT))
    try:
        t_start = time.time()
        while "serving" not in log_path.read_text():
            if server.poll() is not None or time.time() - t_start > 60:
                raise RuntimeError(f"server did not start: {log_path.read_text()}")
            time.sleep(0.1)
        t0 = time.time()
        deadline = t0 + duration
        raters = [Rater(port, link["token"], deadline, seed=i) for i, link in enumerate(summary["links"])]
        for r in raters:
            r.start()
        for r in raters:
            r.join(timeout=max(deadline - time.time(), 0) + 40)
        wall = time.time() - t0
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    store = open_db(study, db_url)
    try:
        counts = store.counts()
        in_db = {r["item_id"] for r in store.export() if r["answer"] is not None}
    finally:
        store.close()
    acked = {i for r in raters for i in r.acked}
    created_twice = sum(1 for r in raters for st in r.acked.values() if st.count("created") > 1)
    lat = sorted(x for r in raters for x in r.latencies)
    result = {
        "raters": n_raters, "duration_limit_s": duration, "wall_s": round(wall, 2),
        "database": "postgresql" if db_url else "sqlite (WAL)",
        "items_planned": counts["items"], "raters_finished": sum(r.finished for r in raters),
        "votes_acknowledged": len(acked), "votes_in_db": counts["votes"],
        "responses": sum(len(st) for r in raters for st in r.acked.values()),
        "duplicate_responses": sum(st.count("duplicate") for r in raters for st in r.acked.values()),
        "lost": len(acked - in_db),
        "duplicated": (counts["votes"] - counts["distinct_items"]) + created_twice,
        "phantom": len(in_db - acked),
        "votes_per_s": round(counts["votes"] / wall, 1) if wall else None,
        "latency_ms": {"p50": round(1000 * statistics.median(lat), 1) if lat else None,
                       "p95": round(1000 * lat[int(0.95 * (len(lat) - 1))], 1) if lat else None,
                       "p99": round(1000 * lat[int(0.99 * (len(lat) - 1))], 1) if lat else None},
        "client_errors": [e for r in raters for e in r.errors if not e.startswith("retry")][:10],
        "client_retries": sum(e.startswith("retry") for r in raters for e in r.errors),
    }
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raters", type=int, default=50)
    ap.add_argument("--duration", type=float, default=60.0, help="hard limit in seconds")
    ap.add_argument("--samples", type=int, default=40, help="samples per run (3 runs: 3 pairs each)")
    ap.add_argument("--threads", type=int, default=32, help="server threads")
    ap.add_argument("--postgres", action="store_true", help="use a throwaway PostgreSQL server")
    ap.add_argument("--json", default=None, help="write the result here too")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hx_load_") as tmp:
        tmp = Path(tmp)
        if args.postgres:
            with postgres_server(tmp / "pg") as pg:
                res = run_load(tmp, args.raters, args.duration, args.samples, pg.new_database(),
                               args.threads)
        else:
            res = run_load(tmp, args.raters, args.duration, args.samples, None, args.threads)
    print(json.dumps(res, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    ok = res["lost"] == 0 and res["duplicated"] == 0 and res["phantom"] == 0 and not res["client_errors"]
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
