"""The study database: SQLAlchemy Core over SQLite (WAL mode, the default) or PostgreSQL.

Schema (after all migrations)::

    hx_schema (version)                      applied migration level
    study     (key PK, value)                config JSON, admin token hash
    raters    (id PK, name, token_hash, created, last_seen)
    videos    (id PK, run, sample_id, path)  opaque ids: the only files the server serves
    items     (id PK, rater_id, position, kind, sample_id, runs, video_ids, check_kind,
               UNIQUE (rater_id, position))
    votes     (item_id PK, rater_id, answer, created, elapsed_ms)

``votes.item_id`` is the primary key: an item has at most one vote, so a retried POST can
never be counted twice (the second insert fails the key and is answered "already recorded").
Each vote commits (SQLite ``synchronous=FULL``) before the server shows the next item.

Migrations are numbered functions applied in order inside one transaction each; the level
is stored in ``hx_schema``. Tokens are stored as SHA-256 hashes and compared with
``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path
from typing import Any, Callable

from hxbench.study.plan import StudyError


def _sa():
    try:
        import sqlalchemy
    except ImportError as err:  # pragma: no cover - declared dependency
        raise StudyError("the user study needs SQLAlchemy: .venv/bin/pip install 'sqlalchemy>=2'") from err
    return sqlalchemy


# -- tokens ---------------------------------------------------------------------------------------
def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(24)  # 192 random bits


def rater_token(rater_id: int, secret: str) -> str:
    return f"{rater_id}-{secret}"


def split_rater_token(token: str) -> tuple[int, str] | None:
    rid, sep, secret = token.partition("-")
    if not sep or not rid.isdigit() or len(rid) > 9 or not 16 <= len(secret) <= 128:
        return None
    return int(rid), secret


def secret_matches(secret: str, stored_hash: str | None) -> bool:
    """Constant-time comparison of a presented secret against its stored hash."""
    if not stored_hash:
        return False
    return hmac.compare_digest(hash_secret(secret).encode(), stored_hash.encode())


# -- engine ---------------------------------------------------------------------------------------
def normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str):
    sa = _sa()
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                                  pool_size=20, max_overflow=40)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if url.startswith("postgresql"):
        return sa.create_engine(url, pool_size=20, max_overflow=40, pool_pre_ping=True)
    raise StudyError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://...")


# -- migrations -----------------------------------------------------------------------------------
def _m1(conn) -> None:  # noqa: ANN001
    sa = _sa()
    for ddl in (
        "CREATE TABLE study (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE raters (id INTEGER PRIMARY KEY, name VARCHAR(128) NOT NULL, "
        "token_hash VARCHAR(64) NOT NULL, created DOUBLE PRECISION NOT NULL)",
        "CREATE TABLE videos (id VARCHAR(64) PRIMARY KEY, run VARCHAR(128) NOT NULL, "
        "sample_id VARCHAR(512) NOT NULL, path TEXT NOT NULL)",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, rater_id INTEGER NOT NULL REFERENCES raters(id), "
        "position INTEGER NOT NULL, kind VARCHAR(16) NOT NULL, sample_id VARCHAR(512) NOT NULL, "
        "runs TEXT NOT NULL, video_ids TEXT NOT NULL, check_kind VARCHAR(16), "
        "UNIQUE (rater_id, position))",
        "CREATE TABLE votes (item_id INTEGER PRIMARY KEY REFERENCES items(id), "
        "rater_id INTEGER NOT NULL REFERENCES raters(id), answer TEXT NOT NULL, "
        "created DOUBLE PRECISION NOT NULL, elapsed_ms INTEGER)",
    ):
        conn.execute(sa.text(ddl))


def _m2(conn) -> None:  # noqa: ANN001
    sa = _sa()
    conn.execute(sa.text("ALTER TABLE raters ADD COLUMN last_seen DOUBLE PRECISION"))
    conn.execute(sa.text("CREATE INDEX ix_votes_rater ON votes (rater_id)"))
    conn.execute(sa.text("CREATE INDEX ix_items_rater ON items (rater_id)"))


MIGRATIONS: list[tuple[int, Callable]] = [(1, _m1), (2, _m2)]
SCHEMA_LEVEL = MIGRATIONS[-1][0]


def schema_level(engine) -> int:  # noqa: ANN001
    sa = _sa()
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("hx_schema"):
            return 0
        return int(conn.execute(sa.text("SELECT MAX(version) FROM hx_schema")).scalar() or 0)


def migrate(engine, target: int | None = None) -> int:  # noqa: ANN001
    """Apply pending migrations up to ``target`` (default: all). Returns the new level."""
    sa = _sa()
    target = SCHEMA_LEVEL if target is None else target
    with engine.begin() as conn:
        if not sa.inspect(conn).has_table("hx_schema"):
            conn.execute(sa.text("CREATE TABLE hx_schema (version INTEGER NOT NULL)"))
    level = schema_level(engine)
    if level > SCHEMA_LEVEL:
        raise StudyError(f"the study database is at schema level {level}, newer than this "
                         f"hxbench ({SCHEMA_LEVEL}); upgrade hxbench")
    for version, fn in MIGRATIONS:
        if level < version <= target:
            with engine.begin() as conn:
                fn(conn)
                conn.execute(sa.text("INSERT INTO hx_schema (version) VALUES (:v)"), {"v": version})
            level = version
    return level


# -- the store ------------------------------------------------------------------------------------
class StudyDB:
    """All database access of the study (thread-safe: one pooled connection per call)."""

    def __init__(self, url: str, migrate_now: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if migrate_now:
            migrate(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def _q(self, sql: str, **params: Any):
        sa = _sa()
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).mappings().all()

    # creation ------------------------------------------------------------------------------------
    def is_initialised(self) -> bool:
        return bool(self._q("SELECT key FROM study WHERE key = 'config'"))

    def init_study(self, config: dict, admin_hash: str, raters: list[tuple[int, str, str]],
                   videos: list[tuple[str, str, str, str]], items: list[dict]) -> None:
        sa = _sa()
        now = time.time()
        with self.engine.begin() as conn:
            if conn.execute(sa.text("SELECT key FROM study WHERE key = 'config'")).first():
                raise StudyError(f"{self.url}: this database already holds a study")
            conn.execute(sa.text("INSERT INTO study (key, value) VALUES (:k, :v)"),
                         [{"k": "config", "v": json.dumps(config)}, {"k": "admin_hash", "v": admin_hash}])
            conn.execute(sa.text("INSERT INTO raters (id, name, token_hash, created) "
                                 "VALUES (:id, :name, :h, :c)"),
                         [{"id": i, "name": n, "h": h, "c": now} for i, n, h in raters])
            conn.execute(sa.text("INSERT INTO videos (id, run, sample_id, path) VALUES (:id, :run, :s, :p)"),
                         [{"id": i, "run": r, "s": s, "p": p} for i, r, s, p in videos])
            conn.execute(sa.text(
                "INSERT INTO items (id, rater_id, position, kind, sample_id, runs, video_ids, check_kind) "
                "VALUES (:id, :rater_id, :position, :kind, :sample_id, :runs, :video_ids, :check_kind)"),
                [dict(it, runs=json.dumps(it["runs"]), video_ids=json.dumps(it["video_ids"]))
                 for it in items])

    # reads ---------------------------------------------------------------------------------------
    def config(self) -> dict:
        rows = self._q("SELECT value FROM study WHERE key = 'config'")
        if not rows:
            raise StudyError(f"{self.url}: no study in this database (run `hxbench study create`)")
        return json.loads(rows[0]["value"])

    def admin_hash(self) -> str | None:
        rows = self._q("SELECT value FROM study WHERE key = 'admin_hash'")
        return rows[0]["value"] if rows else None

    def rater(self, rater_id: int) -> dict | None:
        rows = self._q("SELECT id, name, token_hash FROM raters WHERE id = :id", id=rater_id)
        return dict(rows[0]) if rows else None

    def authenticate_rater(self, token: str) -> dict | None:
        parsed = split_rater_token(token)
        if parsed is None:
            return None
        rater = self.rater(parsed[0])
        # compare even for an unknown rater id, so both paths cost the same
        ok = secret_matches(parsed[1], rater["token_hash"] if rater else "0" * 64)
        return rater if ok and rater else None

    def authenticate_admin(self, token: str) -> bool:
        return secret_matches(token or "", self.admin_hash())

    @staticmethod
    def _item(row) -> dict:  # noqa: ANN001
        d = dict(row)
        d["runs"] = json.loads(d["runs"])
        d["video_ids"] = json.loads(d["video_ids"])
        return d

    def item(self, item_id: int) -> dict | None:
        rows = self._q("SELECT * FROM items WHERE id = :id", id=item_id)
        return self._item(rows[0]) if rows else None

    def next_item(self, rater_id: int) -> dict | None:
        rows = self._q("SELECT i.* FROM items i LEFT JOIN votes v ON v.item_id = i.id "
                       "WHERE i.rater_id = :r AND v.item_id IS NULL ORDER BY i.position LIMIT 1",
                       r=rater_id)
        return self._item(rows[0]) if rows else None

    def progress(self, rater_id: int) -> tuple[int, int]:
        rows = self._q("SELECT COUNT(i.id) AS total, COUNT(v.item_id) AS done FROM items i "
                       "LEFT JOIN votes v ON v.item_id = i.id WHERE i.rater_id = :r", r=rater_id)
        return int(rows[0]["done"]), int(rows[0]["total"])

    def vote(self, item_id: int) -> dict | None:
        rows = self._q("SELECT * FROM votes WHERE item_id = :id", id=item_id)
        if not rows:
            return None
        d = dict(rows[0])
        d["answer"] = json.loads(d["answer"])
        return d

    def video_path_for_rater(self, rater_id: int, video_id: str) -> str | None:
        """The file of ``video_id`` if it belongs to one of this rater's items, else None."""
        rows = self._q("SELECT video_ids FROM items WHERE rater_id = :r", r=rater_id)
        if not any(video_id in json.loads(r["video_ids"]) for r in rows):
            return None
        rows = self._q("SELECT path FROM videos WHERE id = :id", id=video_id)
        return rows[0]["path"] if rows else None

    def video_path(self, video_id: str) -> str | None:
        rows = self._q("SELECT path FROM videos WHERE id = :id", id=video_id)
        return rows[0]["path"] if rows else None

    def raters(self) -> list[dict]:
        return [dict(r) for r in self._q("SELECT id, name, created, last_seen FROM raters ORDER BY id")]

    def export(self) -> list[dict]:
        """Every item with its vote (None if not voted yet), for the report and the export."""
        rows = self._q(
            "SELECT i.id AS item_id, i.rater_id, r.name AS rater, i.position, i.kind, i.sample_id, "
            "i.runs, i.check_kind, v.answer, v.created, v.elapsed_ms FROM items i "
            "JOIN raters r ON r.id = i.rater_id LEFT JOIN votes v ON v.item_id = i.id "
            "ORDER BY i.rater_id, i.position")
        out = []
        for row in rows:
            d = dict(row)
            d["runs"] = json.loads(d["runs"])
            d["answer"] = json.loads(d["answer"]) if d["answer"] is not None else None
            out.append(d)
        return out

    def counts(self) -> dict[str, int]:
        rows = self._q("SELECT (SELECT COUNT(*) FROM items) AS items, (SELECT COUNT(*) FROM votes) "
                       "AS votes, (SELECT COUNT(DISTINCT item_id) FROM votes) AS distinct_items")
        return {k: int(v) for k, v in rows[0].items()}

    # writes --------------------------------------------------------------------------------------
    def record_vote(self, item_id: int, rater_id: int, answer: dict, elapsed_ms: int | None) -> str:
        """Insert the vote; ``"created"``, or ``"duplicate"`` if the item already has one
        (a retried POST: the first vote stands and nothing is counted twice)."""
        sa = _sa()
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO votes (item_id, rater_id, answer, created, elapsed_ms) "
                                     "VALUES (:i, :r, :a, :c, :e)"),
                             {"i": item_id, "r": rater_id, "a": json.dumps(answer, sort_keys=True),
                              "c": time.time(), "e": elapsed_ms})
        except sa.exc.IntegrityError:
            return "duplicate"
        return "created"

    def touch_rater(self, rater_id: int) -> None:
        sa = _sa()
        with self.engine.begin() as conn:
            conn.execute(sa.text("UPDATE raters SET last_seen = :t WHERE id = :id"),
                         {"t": time.time(), "id": rater_id})


def sqlite_url(path: str | Path) -> str:
    return "sqlite:///" + str(Path(path).resolve())
