"""Access tokens shared by every process (WeCom's access_token), in platform_tokens.

A token's name says whose token it is (e.g. corp id and agent id), never anything derived
from a secret. Writes are one upsert each, so processes refreshing at the same moment never
collide on the primary key: the last one to write wins, and every one of them holds a token
the platform issued.
"""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from storage.models import PlatformToken

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def read_token(engine: Engine, name: str) -> tuple[str, datetime] | None:
    """The token stored under `name` and its expiry (timezone-aware, UTC), or None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(PlatformToken.value, PlatformToken.expires_at).where(
            PlatformToken.name == name)).first()
    if row is None:
        return None
    expires = row.expires_at
    return row.value, expires if expires.tzinfo else expires.replace(tzinfo=timezone.utc)


def save_token(engine: Engine, name: str, value: str, expires_at: datetime) -> None:
    """Store (or replace) the token under `name`, in one statement."""
    insert = _INSERTS[engine.dialect.name](PlatformToken).values(
        name=name, value=value, expires_at=expires_at)
    upsert = insert.on_conflict_do_update(
        index_elements=[PlatformToken.name],
        set_={"value": insert.excluded.value, "expires_at": insert.excluded.expires_at})
    with engine.begin() as conn:
        conn.execute(upsert)


def forget_token(engine: Engine, name: str) -> None:
    """Drop the token under `name` (the platform said it no longer works)."""
    with engine.begin() as conn:
        conn.execute(sa.delete(PlatformToken).where(PlatformToken.name == name))
