"""Engine construction. Called from the composition root; never at import time."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool


# Execution option: on SQLite, this connection's transactions start with BEGIN IMMEDIATE.
IMMEDIATE = "sqlite_immediate"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def build_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for `url`: SQLite in WAL mode with foreign keys on, or PostgreSQL via psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql" or parsed.drivername == "postgres":
        parsed = parsed.set(drivername="postgresql+psycopg")
    # No SQL error or echo line ever shows bound values: they can be tokens or people's data.
    kwargs: dict = {"echo": echo, "hide_parameters": True}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if parsed.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool
    else:
        kwargs["pool_pre_ping"] = True
    engine = sa.create_engine(parsed, **kwargs)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # SQLAlchemy's recipe for pysqlite: let SQLAlchemy emit BEGIN itself, so DDL (an
    # import's index rebuild, migrations) is inside the transaction and rolls back too.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # WAL lets the bot read while the scheduler or an import writes.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn) -> None:
    # BEGIN IMMEDIATE takes the write lock at once (waiting up to busy_timeout for it). A
    # plain BEGIN that reads and then writes fails at once with "database is locked" if
    # another connection committed in between: WAL cannot upgrade a stale snapshot.
    immediate = conn.get_execution_options().get(IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[sa.Connection]:
    """`engine.begin()` for a transaction that reads and then writes: on SQLite it starts
    with BEGIN IMMEDIATE, so a write committed by another connection between its read and
    its write waits its turn instead of failing with "database is locked"."""
    with engine.connect() as conn:
        conn.execution_options(**{IMMEDIATE: True})
        with conn.begin():
            yield conn


def is_locked(exc: BaseException) -> bool:
    """SQLite's "database is locked" / "database is busy": a writer held the lock too long."""
    text = str(getattr(exc, "orig", exc))
    return "database is locked" in text or "database is busy" in text
