"""Helpers for the study tests and the load benchmark: tiny runs, a throwaway PostgreSQL
server (Debian's ``postgresql`` package: initdb / pg_ctl on a loopback port in a temp dir),
and a waitress server in a background thread."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np


def make_run(folder: Path, samples: list[str], shade: int, size: int = 64, fps: float = 10.0,
             seconds: float = 1.0, outputs_subdir: bool = False) -> Path:
    """A run folder of tiny videos (size x size, ``seconds`` long) named <sample_id>.mp4."""
    from hxbench.io.media import write_video

    target = folder / "outputs" if outputs_subdir else folder
    n = max(int(round(fps * seconds)), 2)
    for k, s in enumerate(samples):
        t = np.arange(n)[:, None, None, None]
        yy, xx = np.mgrid[0:size, 0:size]
        frames = np.zeros((n, size, size, 3), dtype=np.uint8)
        frames[..., 0] = (shade + 3 * t[..., 0] + xx) % 256
        frames[..., 1] = (shade * 2 + 7 * k + yy) % 256
        frames[..., 2] = shade
        write_video(target / f"{s}.mp4", frames, fps=fps, preset="ultrafast")
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    cands = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return cands[-1] if cands else None


class PostgresServer:
    def __init__(self, port: int, user: str) -> None:
        self.port = port
        self.user = user

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def new_database(self) -> str:
        """A fresh empty database; returns its URL."""
        import psycopg

        name = "hx_" + uuid.uuid4().hex[:12]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def postgres_server(workdir: Path) -> Iterator[PostgresServer]:
    """Start a throwaway PostgreSQL cluster (trust auth, 127.0.0.1 only, fsync off) in
    ``workdir``; stopped and removed on exit. Runs as the ``postgres`` user when root."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install -y postgresql")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    data, sock = workdir / "pgdata", workdir / "sock"
    sock.mkdir(exist_ok=True)
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        prefix = ["runuser", "-u", "postgres", "--"]
        os.chmod(workdir, 0o777)
        for parent in list(workdir.parents)[:-1]:
            try:
                os.chmod(parent, os.stat(parent).st_mode | 0o011)  # let postgres traverse
            except OSError:
                pass
        shutil.chown(sock, "postgres")
    port = free_port()
    user = "hxbench"
    subprocess.run(prefix + [initdb, "-D", str(data), "-A", "trust", "-U", user, "--no-sync",
                             "-E", "UTF8"], check=True, capture_output=True)
    opts = (f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=on -c max_connections=200 -c full_page_writes=off")
    subprocess.run(prefix + [pg_ctl, "-D", str(data), "-o", opts, "-l", str(workdir / "pg.log"),
                             "-w", "-t", "60", "start"], check=True, capture_output=True)
    try:
        yield PostgresServer(port, user)
    finally:
        subprocess.run(prefix + [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def serve_in_thread(study_dir: Path, db_url: str | None = None, threads: int = 16):
    """Run the study server on 127.0.0.1:<free port> in a daemon thread; yields the base URL."""
    from hxbench.study.app import make_server

    server = make_server(study_dir, host="127.0.0.1", port=0, db_url=db_url, threads=threads)
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    base = f"http://127.0.0.1:{server.effective_port}"
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", server.effective_port), timeout=1):
                break
        except OSError:
            time.sleep(0.05)
    try:
        yield base
    finally:
        server.close()
        th.join(timeout=5)
        server.hxbench_store.close()
