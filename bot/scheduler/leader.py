"""Only one instance runs the scheduler.

PostgreSQL: a session advisory lock held on a connection of its own; if the process dies,
the server drops the connection and the lock, and another instance takes over on its next
try. SQLite: a lease row renewed by the holder; an expired lease can be taken.
"""
from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.engine import is_sqlite
from storage.models import SchedulerLease

log = logging.getLogger("tierbot.scheduler")

LOCK_KEY = 0x7469657262  # "tierb"


class Leader:
    def __init__(self, engine: Engine, *, lease: timedelta = timedelta(seconds=60),
                 name: str = "scheduler"):
        self.engine, self.lease, self.name = engine, lease, name
        self.me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._conn = None
        self.leading = False

    def acquire(self, now: datetime | None = None) -> bool:
        """Try to be (or stay) the leader; True while we are."""
        try:
            self.leading = self._sqlite(now) if is_sqlite(self.engine) else self._postgres()
        except Exception:
            log.warning("leader election failed; not scheduling until it works", exc_info=True)
            self._drop()
            self.leading = False
        return self.leading

    def release(self) -> None:
        if is_sqlite(self.engine):
            with self.engine.begin() as conn:
                conn.execute(sa.delete(SchedulerLease).where(SchedulerLease.name == self.name,
                                                             SchedulerLease.holder == self.me))
        else:
            if self._conn is not None and self.leading:
                try:
                    self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                except Exception:  # pragma: no cover - the connection is gone anyway
                    pass
            self._drop()
        self.leading = False

    def _postgres(self) -> bool:
        if self._conn is not None and self.leading:
            self._conn.execute(sa.text("SELECT 1"))  # still connected, so still holding it
            return True
        if self._conn is None:
            self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return bool(self._conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"),
                                       {"k": LOCK_KEY}).scalar())

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:  # pragma: no cover
                pass
            self._conn = None

    def _sqlite(self, now: datetime | None) -> bool:
        now = now or datetime.now(timezone.utc)
        until = now + self.lease
        with self.engine.begin() as conn:
            taken = conn.execute(sa.update(SchedulerLease).where(
                SchedulerLease.name == self.name,
                sa.or_(SchedulerLease.holder == self.me, SchedulerLease.expires_at < now))
                .values(holder=self.me, expires_at=until)).rowcount
            if taken:
                return True
            try:
                with conn.begin_nested():
                    conn.execute(sa.insert(SchedulerLease).values(name=self.name, holder=self.me,
                                                                  expires_at=until))
                return True
            except sa.exc.IntegrityError:
                return False
