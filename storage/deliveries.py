"""The delivery ledger: each (recipient, kind, period, channel) is sent at most once.

A sender claims a row (insert, or take over a row whose sender died); only the claimer
sends; the row ends sent, failed or skipped. The unique constraint and conditional
updates make this hold across restarts and several instances.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.models import Delivery, Rep

STALE = timedelta(minutes=10)  # a "sending" row older than this lost its sender


def _now() -> datetime:
    return datetime.now(timezone.utc)


def alert_period(run_id: int) -> str:
    """The ledger period of a score run's at-risk alerts: one alert per run and rep."""
    return f"run-{run_id}"


def alert_run_id(period: str) -> int:
    return int(period.removeprefix("run-"))


def retire_alert_period(conn, run_id: int) -> None:
    """A deleted run's alert rows get a period no later run can have (SQLite may give a new
    run the deleted one's id): kept as history, never mistaken for the new run's alerts."""
    conn.execute(sa.update(Delivery).where(
        Delivery.kind == "alert", Delivery.period == alert_period(run_id)).values(
        period=sa.literal("deleted-") + sa.cast(Delivery.id, sa.String) + "-"
        + alert_period(run_id)))


def existing(engine: Engine, recipient_id: int, kind: str, period: str, channel: str):
    with engine.connect() as conn:
        return conn.execute(sa.select(Delivery).where(
            Delivery.recipient_id == recipient_id, Delivery.kind == kind,
            Delivery.period == period, Delivery.channel == channel)).mappings().first()


def claim(engine: Engine, recipient_id: int, kind: str, period: str, channel: str,
          *, now: datetime | None = None) -> int | None:
    """The row's id if this caller may send it now, else None (sent, failed, skipped, or
    another sender is on it)."""
    now = now or _now()
    try:
        with engine.begin() as conn:
            return conn.execute(sa.insert(Delivery).values(
                recipient_id=recipient_id, kind=kind, period=period, channel=channel,
                status="sending", attempts=0, claimed_at=now, created_at=now)
                .returning(Delivery.id)).scalar_one()
    except sa.exc.IntegrityError:
        pass
    row = existing(engine, recipient_id, kind, period, channel)
    if row is None or row["status"] not in ("pending", "sending"):
        return None
    with engine.begin() as conn:
        taken = conn.execute(sa.update(Delivery).where(
            Delivery.id == row["id"],
            sa.or_(Delivery.status == "pending",
                   sa.and_(Delivery.status == "sending", Delivery.claimed_at < now - STALE)))
            .values(status="sending", claimed_at=now)).rowcount
    return row["id"] if taken == 1 else None


def settled(engine: Engine, since: datetime) -> set[tuple[int, str, str, str]]:
    """(recipient, kind, period, channel) of every row created since `since` that is done
    with (sent, failed or skipped): a sweep needn't try to claim or skip those again."""
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(sa.select(
            Delivery.recipient_id, Delivery.kind, Delivery.period, Delivery.channel).where(
            Delivery.created_at >= since, Delivery.status.in_(("sent", "failed", "skipped"))))}


def release_orphans(engine: Engine) -> int:
    """On becoming the only scheduler: rows left "sending" by a dead process are pending."""
    with engine.begin() as conn:
        return conn.execute(sa.update(Delivery).where(Delivery.status == "sending")
                            .values(status="pending")).rowcount


def record_attempt(engine: Engine, delivery_id: int, error: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(Delivery).where(Delivery.id == delivery_id).values(
            attempts=Delivery.attempts + 1, last_error=error))


def finish(engine: Engine, delivery_id: int, status: str, *, error: str | None = None,
           ref: str | None = None, now: datetime | None = None) -> None:
    assert status in ("sent", "failed", "skipped")
    values = {"status": status, "last_error": error, "ref": ref}
    if status == "sent":
        values["sent_at"] = now or _now()
    with engine.begin() as conn:
        conn.execute(sa.update(Delivery).where(Delivery.id == delivery_id).values(**values))


def skip(engine: Engine, recipient_id: int, kind: str, period: str, channel: str,
         reason: str, *, now: datetime | None = None) -> bool:
    """Record a slot that will not be sent (missed beyond the grace window); False if the
    ledger already has it."""
    now = now or _now()
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(Delivery).values(
                recipient_id=recipient_id, kind=kind, period=period, channel=channel,
                status="skipped", attempts=0, last_error=reason, created_at=now))
    except sa.exc.IntegrityError:
        return False
    return True


def recent(engine: Engine, *, limit: int = 50, status: str | None = None,
           recipient_ids: set[int] | None = None, since: datetime | None = None) -> list[dict]:
    stmt = (sa.select(Delivery.id, Rep.key.label("rep"), Rep.name, Delivery.kind,
                      Delivery.period, Delivery.channel, Delivery.status, Delivery.attempts,
                      Delivery.last_error, Delivery.created_at, Delivery.sent_at)
            .join(Rep, Rep.id == Delivery.recipient_id)
            .order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(limit))
    if status:
        stmt = stmt.where(Delivery.status == status)
    if recipient_ids is not None:
        stmt = stmt.where(Delivery.recipient_id.in_(recipient_ids))
    if since is not None:
        stmt = stmt.where(Delivery.created_at >= since)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]
