"""SQLite: merging a staged import into the book in short transactions, all or nothing.

SQLite has one writer at a time. An import written in one transaction held that lock for
as long as it ran (seconds to minutes), and every chat write (event claims, visits,
deliveries) waited behind it, past Slack's 3 s and WeCom's 5 s. So an import is first
staged in TEMP tables (a separate file: no lock on the book), validated to the last row,
then merged in transactions of about `TARGET_SECONDS`, with a pause between them in which
waiting writers get the lock (SQLite's busy handler polls every 50-100 ms).

All or nothing still holds: a bad row stops the import before anything is merged, and
merged rows stay invisible until the last transaction. The lease row in `import_merges`
records the orders watermark (readers skip orders above it: `storage.settled`) and the
accounts watermark; the last merge transaction deletes it. If the importer dies, the row
stays, its orders stay hidden, and the next import (`acquire`) deletes them. Imports
take the lease one at a time, so rows above the watermark are this import's own.
"""
from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from storage.engine import IMMEDIATE, is_locked
from storage.importing.errors import ImportFailed, RowError
from storage.models import Account, ImportMerge, Order

LEASE = "book"
LEASE_SECONDS = 120  # a holder renews at every transaction; a silent one is presumed dead
TARGET_SECONDS = 0.2  # how long one merge transaction should hold the write lock
PAUSE_SECONDS = 0.1  # between transactions: longer than the busy handler's 100 ms poll
FIRST_CHUNK = 2_000
LOCK_ATTEMPTS = 10  # of busy_timeout (30 s) each: 5 minutes of a database held by another
Waiting = Callable[[str], None]


@dataclass(frozen=True)
class Lease:
    holder: str
    orders_after: int
    accounts_after: int


class LeaseLost(RuntimeError):
    """Another import presumed this one dead and removed its rows."""


def begin_immediate(conn: Connection, what: str = "the import") -> sa.Transaction:
    """A transaction holding SQLite's write lock from BEGIN; retried while another writer
    holds the database, failing with a clear message only after LOCK_ATTEMPTS waits."""
    conn.execution_options(**{IMMEDIATE: True})
    try:
        for attempt in range(1, LOCK_ATTEMPTS + 1):
            try:
                return conn.begin()
            except sa.exc.OperationalError as exc:
                conn.rollback()  # the failed BEGIN left SQLAlchemy's transaction open
                if not is_locked(exc) or attempt == LOCK_ATTEMPTS:
                    raise ImportFailed("database", [RowError(0, None, (
                        f"another program kept the database locked for minutes, so {what} "
                        "could not write; nothing was imported. Run it again; if it keeps "
                        "happening, stop whatever holds the database"))]) from None
    finally:
        conn.execution_options(**{IMMEDIATE: False})


@contextmanager
def immediate(conn: Connection, what: str = "the import") -> Iterator[Connection]:
    """`begin_immediate` as a block: committed at its end, rolled back on an exception."""
    with begin_immediate(conn, what):
        yield conn


def acquire(conn: Connection, waiting: Waiting | None = None) -> Lease:
    """Take the merge lease: wait for a live holder, undo a dead one's merge first."""
    holder = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    told = False
    while True:
        with immediate(conn) as c:
            row = c.execute(sa.select(ImportMerge).where(ImportMerge.name == LEASE)).first()
            if row is None:
                lease = Lease(holder, _max_id(c, Order), _max_id(c, Account))
                c.execute(sa.insert(ImportMerge).values(
                    name=LEASE, holder=holder, orders_after=lease.orders_after,
                    accounts_after=lease.accounts_after, expires_at=_expiry()))
                return lease
        if abandoned(row.holder, row.expires_at):
            undo(conn, Lease(row.holder, row.orders_after, row.accounts_after))
            continue
        if waiting and not told:
            waiting(f"waiting for another import ({row.holder}) to finish merging")
            told = True
        time.sleep(0.5)


def wait_until_free(conn: Connection, waiting: Waiting | None = None) -> None:
    """Block until no merge is under way (undoing a dead one's). For imports written in one
    transaction: the caller checks again inside its own, see `no_merge_under_way`."""
    lease = acquire(conn, waiting)
    release(conn, lease)


def no_merge_under_way(conn: Connection) -> bool:
    return conn.execute(sa.select(sa.func.count()).select_from(ImportMerge)).scalar_one() == 0


def renew(conn: Connection, lease: Lease) -> None:
    """Inside a merge transaction: extend the lease, or stop if it was taken over."""
    taken = conn.execute(sa.update(ImportMerge).where(
        ImportMerge.name == LEASE, ImportMerge.holder == lease.holder)
        .values(expires_at=_expiry())).rowcount
    if not taken:
        raise LeaseLost("another import presumed this one dead and undid its rows")


def release(conn: Connection, lease: Lease) -> None:
    with immediate(conn) as c:
        c.execute(sa.delete(ImportMerge).where(ImportMerge.name == LEASE,
                                               ImportMerge.holder == lease.holder))


def abandoned(holder: str, expires_at: datetime) -> bool:
    """A holder on this machine whose process is gone, or one that stopped renewing."""
    host, _, rest = holder.partition(":")
    if expires_at.tzinfo is None:  # SQLite returns naive UTC
        expires_at = expires_at.replace(tzinfo=timezone.utc)
    if expires_at < datetime.now(timezone.utc):
        return True
    pid = rest.partition(":")[0]
    return host == socket.gethostname()[:60] and pid.isdigit() and not _alive(int(pid))


def undo(conn: Connection, lease: Lease, batch: int = 20_000) -> None:
    """Delete a merge's orders and the accounts it created, in short transactions; the
    lease row goes last, so a crash here leaves it for the next import to finish. Each
    transaction first checks the row is still this lease's: after a takeover, rows above
    the watermark may be the new holder's."""
    o = Order.__table__
    what = "undoing an unfinished import"
    while True:
        with immediate(conn, what) as c:
            if not _still_held(c, lease):
                return
            doomed = sa.select(o.c.id).where(o.c.id > lease.orders_after).limit(batch)
            if c.execute(sa.delete(o).where(o.c.id.in_(doomed))).rowcount < batch:
                break
        time.sleep(PAUSE_SECONDS)
    with immediate(conn, what) as c:
        if not _still_held(c, lease):
            return
        c.execute(sa.delete(Account.__table__).where(
            Account.id > lease.accounts_after, *_unreferenced(Account.__table__)))
        c.execute(sa.delete(ImportMerge).where(ImportMerge.name == LEASE,
                                               ImportMerge.holder == lease.holder))


def _still_held(conn: Connection, lease: Lease) -> bool:
    return conn.execute(sa.select(ImportMerge.name).where(
        ImportMerge.name == LEASE, ImportMerge.holder == lease.holder)).first() is not None


def merge_in_chunks(conn: Connection, lease: Lease, total: int,
                    write: Callable[[Connection, int, int], int], *, last: bool) -> int:
    """Run `write(conn, after, upto)` over staged rowids 1..total, each call in its own
    transaction sized to about TARGET_SECONDS; with `last`, the final one releases the
    lease (the merge becomes visible). Returns the sum of what `write` returned."""
    done, size, out = 0, FIRST_CHUNK, 0
    while done < total or (last and total == 0):
        upto = min(done + size, total)
        started = time.perf_counter()
        with immediate(conn) as c:
            renew(c, lease)
            out += write(c, done, upto)
            if last and upto == total:
                c.execute(sa.delete(ImportMerge).where(ImportMerge.holder == lease.holder))
        elapsed = time.perf_counter() - started
        size = max(500, min(int(size * TARGET_SECONDS / max(elapsed, 1e-3)), size * 4, 500_000))
        done = upto
        if done >= total:
            break
        time.sleep(PAUSE_SECONDS)
    return out


def _unreferenced(table: sa.Table) -> list:
    """Conditions: no row of any table points at this one's row (by a foreign key)."""
    out = []
    for other in SQLModel.metadata.sorted_tables:
        for fk in other.foreign_keys:
            if fk.column.table is table:
                out.append(~sa.exists().where(fk.parent == fk.column))
    return out


def _max_id(conn: Connection, model) -> int:
    return conn.execute(sa.select(sa.func.coalesce(sa.func.max(model.id), 0))).scalar_one()


def _expiry() -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=LEASE_SECONDS)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:  # a killed process its parent has not reaped yet is a zombie: dead
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
