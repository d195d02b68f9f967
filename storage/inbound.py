"""Platform deliveries taken on exactly once, across retries and instances."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.models import InboundEvent


def claim_event(engine: Engine, source: str, event_id: str) -> bool:
    """True for the first caller with this (source, event_id), False for every later one.

    The unique constraint decides, so two instances receiving the same retry agree."""
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(InboundEvent).values(source=source, event_id=event_id[:128]))
    except sa.exc.IntegrityError:
        return False
    return True


def release_event(engine: Engine, source: str, event_id: str) -> None:
    """Forget a claim whose work failed, so the platform's next retry is handled."""
    with engine.begin() as conn:
        conn.execute(sa.delete(InboundEvent).where(InboundEvent.source == source,
                                                   InboundEvent.event_id == event_id[:128]))


def prune_events(engine: Engine, older_than: timedelta = timedelta(days=3)) -> int:
    """Drop claims older than any platform retries (Slack and WeCom retry within minutes)."""
    cutoff = datetime.now(timezone.utc) - older_than
    with engine.begin() as conn:
        return conn.execute(sa.delete(InboundEvent).where(
            InboundEvent.received_at < cutoff)).rowcount
