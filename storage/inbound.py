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


# Slack's window: bolt (slack_sdk's SignatureVerifier) refuses requests over 5 minutes off.
SLACK_WINDOW = timedelta(minutes=5)
# Room for instances whose clocks disagree by more than NTP allows.
CLAIM_MARGIN = timedelta(hours=1)


def claim_retention(window: timedelta) -> timedelta:
    """How long claims are kept when deliveries are accepted within ±`window` of now.

    A signed delivery stamped `ts` is accepted while now is within [ts - window, ts + window],
    so every copy of it arrives within 2 × window of the first one, which made the claim.
    Kept longer than that, a claim turns away every copy the clock check lets through."""
    return 2 * max(window, SLACK_WINDOW) + CLAIM_MARGIN


def prune_events(engine: Engine, *, window: timedelta, now: datetime | None = None) -> int:
    """Drop claims that no accepted delivery can match any more (see claim_retention)."""
    cutoff = (now or datetime.now(timezone.utc)) - claim_retention(window)
    with engine.begin() as conn:
        return conn.execute(sa.delete(InboundEvent).where(
            InboundEvent.received_at < cutoff)).rowcount
