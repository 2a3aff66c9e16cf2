"""Load test (slow): 50 concurrent simulated raters on loopback for at most 60 s; every
acknowledged vote is in the database exactly once (see bench/load_study.py)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

pytest.importorskip("flask")
pytest.importorskip("waitress")

BENCH = Path(__file__).resolve().parent.parent / "bench" / "load_study.py"


def _bench():
    spec = importlib.util.spec_from_file_location("load_study", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _check(res: dict) -> None:
    assert res["votes_in_db"] > 0
    assert res["lost"] == 0
    assert res["duplicated"] == 0
    assert res["phantom"] == 0
    assert res["client_errors"] == []
    assert res["votes_acknowledged"] == res["votes_in_db"]
    assert res["wall_s"] <= 60 + 45  # bounded: deadline plus the final in-flight requests


@pytest.mark.slow
def test_load_50_raters_sqlite(tmp_path):
    res = _bench().run_load(tmp_path, n_raters=50, duration=60.0, n_samples=40)
    _check(res)


@pytest.mark.slow
def test_load_50_raters_postgres(tmp_path):
    if not os.environ.get("HXBENCH_TEST_POSTGRES"):
        pytest.skip("set HXBENCH_TEST_POSTGRES=1 to run the PostgreSQL load test")
    from hxbench.study.testing import postgres_server

    with postgres_server(tmp_path / "pg") as pg:
        res = _bench().run_load(tmp_path, n_raters=50, duration=60.0, n_samples=40,
                                db_url=pg.new_database())
    _check(res)
