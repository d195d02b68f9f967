"""What reps log from chat (visits, calls, feedback) and what falls due from it."""
from __future__ import annotations

from collections.abc import Collection
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.models import (Account, Feedback, Interaction, ReminderSnooze, Rep, ScoreSnapshot,
                            utcnow)
from storage.scores import current_run_id


def log_interaction(engine: Engine, *, account_id: int, rep_id: int, kind: str, occurred_on: date,
                    summary: str, next_date: date | None, source: str,
                    idempotency_key: str) -> tuple[dict, bool]:
    """Store an interaction once per idempotency key: (the stored row, whether it is new).

    A platform retry carries the same key: the unique index turns the second insert into
    a no-op, and the caller gets the row stored the first time."""
    values = dict(account_id=account_id, rep_id=rep_id, kind=kind, occurred_on=occurred_on,
                  summary=summary, next_date=next_date, source=source,
                  idempotency_key=idempotency_key)
    created = True
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(Interaction).values(**values))
    except sa.exc.IntegrityError:
        created = False
    with engine.connect() as conn:
        row = conn.execute(sa.select(Interaction).where(
            Interaction.idempotency_key == idempotency_key)).mappings().one()
    return dict(row), created


def add_feedback(engine: Engine, *, account_id: int, kind: str, score: int | None,
                 comment: str | None, given_on: date, dedupe_key: str) -> bool:
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(Feedback).values(account_id=account_id, kind=kind, score=score,
                                                    comment=comment, given_on=given_on,
                                                    dedupe_key=dedupe_key))
    except sa.exc.IntegrityError:
        return False
    return True


def snooze_reminder(engine: Engine, *, account_id: int, rep_id: int, until: date) -> None:
    """Put the account's revisit off until `until` (a later snooze replaces an earlier one)."""
    with engine.begin() as conn:
        conn.execute(sa.delete(ReminderSnooze).where(ReminderSnooze.account_id == account_id))
        conn.execute(sa.insert(ReminderSnooze).values(account_id=account_id, until=until,
                                                      rep_id=rep_id, at=utcnow()))


def visits_due(engine: Engine, owner_id: int | Collection[int] | None, today: date,
               cadence: dict[str, int], account_id: int | None = None) -> list[dict]:
    """The owner's (or owners', e.g. a team's; None: everyone's) accounts with the date
    each is due a visit (`due`), why (`basis`), the owner (`owner_id`, `owner`), oldest
    first. THE due rule: the card, /due, /visit's reply, reminders, the digest and the
    export all read it from here, live from the interaction log (no score needed).

    - The last contact (`last`) is the latest interaction dated up to `today`.
    - The plan made at the last contact counts: the latest next date recorded on that day
      (`planned`), if it is after the contact. An earlier contact's plan does not: a
      contact after a planned date supersedes it ("/done" restarts the cadence).
    - Else the last contact plus the tier's cadence (tier from the current score run,
      "general" when unscored); an account never contacted is due today.
    - A snooze ending later than that moves it to the snooze's end (`snoozed`)."""
    owners = [owner_id] if isinstance(owner_id, int) else owner_id
    i = Interaction
    with engine.connect() as conn:
        run = current_run_id(conn)
        last = sa.select(i.account_id, sa.func.max(i.occurred_on).label("last")).where(
            i.occurred_on <= today)
        # Aggregate only the accounts asked about, not the whole interaction log.
        if account_id is not None:
            last = last.where(i.account_id == account_id)
        elif owners is not None:
            last = last.where(i.account_id.in_(
                sa.select(Account.id).where(Account.owner_id.in_(owners))))
        last = last.group_by(i.account_id).subquery()
        # The plan made at the last contact: next dates recorded on that day only.
        touches = (sa.select(last.c.account_id, last.c.last,
                             sa.func.max(i.next_date).label("planned"))
                   .join(i, sa.and_(i.account_id == last.c.account_id,
                                    i.occurred_on == last.c.last))
                   .group_by(last.c.account_id, last.c.last).subquery())
        stmt = (sa.select(Account.id, Account.key, Account.name, ScoreSnapshot.tier,
                          touches.c.last, touches.c.planned, ReminderSnooze.until,
                          Account.owner_id, Rep.name.label("owner"))
                .outerjoin(ScoreSnapshot, sa.and_(ScoreSnapshot.account_id == Account.id,
                                                  ScoreSnapshot.run_id == run))
                .outerjoin(touches, touches.c.account_id == Account.id)
                .outerjoin(ReminderSnooze, ReminderSnooze.account_id == Account.id)
                .outerjoin(Rep, Rep.id == Account.owner_id))
        if owners is not None:
            stmt = stmt.where(Account.owner_id.in_(owners))
        if account_id is not None:
            stmt = stmt.where(Account.id == account_id)
        rows = [dict(r) for r in conn.execute(stmt).mappings()]
    for r in rows:
        tier = r["tier"] or "general"
        if r["planned"] and (r["last"] is None or r["planned"] > r["last"]):
            r["due"], r["basis"] = r["planned"], "planned"
        elif r["last"]:
            r["due"], r["basis"] = r["last"] + timedelta(days=cadence.get(tier, 90)), "cadence"
        else:
            r["due"], r["basis"] = today, "never"
        until = r.pop("until")
        r["snoozed"] = bool(until and until > today and until > r["due"])
        if r["snoozed"]:
            r["due"], r["basis"] = until, "snoozed"
        r["tier"] = tier
        r["cadence"] = cadence.get(tier, 90)
        r["days_overdue"] = (today - r["due"]).days
    return sorted(rows, key=lambda r: (r["due"], r["key"]))


WEEK_DAYS = 7


def revisits(engine: Engine, owner_id: int | Collection[int] | None, today: date,
             cadence: dict[str, int], *, week_days: int = WEEK_DAYS) -> dict[str, list[dict]]:
    """Visits due (`visits_due`), counted THE one way /due and the digest count them:
    `overdue`, due before `today`; `this_week`, due from today to `week_days` ahead (never
    an overdue one); `today`, the part of `this_week` due today. Each oldest first."""
    rows = visits_due(engine, owner_id, today, cadence)
    horizon = today + timedelta(days=week_days)
    return {"overdue": [r for r in rows if r["due"] < today],
            "this_week": [r for r in rows if today <= r["due"] <= horizon],
            "today": [r for r in rows if r["due"] == today]}
