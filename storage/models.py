"""SQLModel tables: the store every other part reads and writes.

Money is `Decimal` (NUMERIC(18, 4)) with its currency beside it; dates an account lives by
are plain `date`s; bookkeeping timestamps are timezone-aware UTC. Indexes follow the
product's lookups: by key, by chat user id, an account's orders by date (covering amount
and currency for scoring),
a rep's book, and the idempotency keys that make imports and chat retries safe.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Optional

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

ROLES = ("rep", "manager", "admin")
INTERACTION_KINDS = ("visit", "call", "meeting", "email", "review")
FEEDBACK_KINDS = ("nps", "csat", "complaint")
TIERS = ("strategic", "key", "potential", "general", "at-risk")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _ts(nullable: bool = False) -> sa.Column:
    # A column default (not only a pydantic one) so Core bulk inserts get it too.
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable,
                     default=None if nullable else utcnow)


class Rep(SQLModel, table=True):
    __tablename__ = "reps"

    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=200)
    email: Optional[str] = Field(default=None, max_length=254)
    role: str = Field(default="rep", max_length=16)
    manager_id: Optional[int] = Field(default=None, foreign_key="reps.id", index=True)
    slack_user_id: Optional[str] = Field(default=None, max_length=32, unique=True)
    wecom_userid: Optional[str] = Field(default=None, max_length=64, unique=True)
    timezone: Optional[str] = Field(default=None, max_length=64)
    locale: Optional[str] = Field(default=None, max_length=8)
    # The rep's own delivery times, else the settings': "mon 09:00" and "09:00".
    digest_at: Optional[str] = Field(default=None, max_length=16)
    reminder_at: Optional[str] = Field(default=None, max_length=8)


class Account(SQLModel, table=True):
    __tablename__ = "accounts"

    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=300)
    # `|`-separated, as in the CSV; lookups normalise them.
    aliases: Optional[str] = Field(default=None, max_length=1000)
    industry: Optional[str] = Field(default=None, max_length=100)
    size_segment: Optional[str] = Field(default=None, max_length=50)
    region: Optional[str] = Field(default=None, max_length=100)
    owner_id: Optional[int] = Field(default=None, foreign_key="reps.id", index=True)
    created_on: Optional[date] = Field(default=None)


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        # Covering index for per-account scans and the scoring aggregation; currency is in
        # it so the scan can tell orders needing conversion without a table lookup.
        sa.Index("ix_orders_account_date_amount", "account_id", "order_date", "amount",
                 "currency"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id")
    order_date: date
    amount: Decimal = Field(max_digits=18, decimal_places=4)
    order_id: Optional[str] = Field(default=None, max_length=100)
    margin: Optional[Decimal] = Field(default=None, max_digits=18, decimal_places=4)
    category: Optional[str] = Field(default=None, max_length=100)
    # ISO code; None (orders written before imports recorded it) means the reporting currency.
    currency: Optional[str] = Field(default=None, max_length=3)
    # "o:<order_id>" or "h:<hash of the line>": re-importing a file inserts nothing.
    dedupe_key: str = Field(max_length=120, unique=True)


class Interaction(SQLModel, table=True):
    __tablename__ = "interactions"
    __table_args__ = (
        sa.Index("ix_interactions_account_date", "account_id", "occurred_on"),
        sa.Index("ix_interactions_rep_date", "rep_id", "occurred_on"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id")
    rep_id: Optional[int] = Field(default=None, foreign_key="reps.id")
    kind: str = Field(max_length=16)
    occurred_on: date
    summary: Optional[str] = Field(default=None, sa_type=sa.Text)
    next_date: Optional[date] = Field(default=None)
    source: str = Field(default="import", max_length=16)
    idempotency_key: str = Field(max_length=120, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Feedback(SQLModel, table=True):
    __tablename__ = "feedback"
    __table_args__ = (sa.Index("ix_feedback_account_date", "account_id", "given_on"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id")
    kind: str = Field(max_length=16)
    score: Optional[int] = Field(default=None)
    comment: Optional[str] = Field(default=None, sa_type=sa.Text)
    given_on: date
    dedupe_key: str = Field(max_length=120, unique=True)


class ScoreRun(SQLModel, table=True):
    """One rescore of the whole book; snapshots hang off it."""

    __tablename__ = "score_runs"

    id: Optional[int] = Field(default=None, primary_key=True)
    as_of: date = Field(index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    accounts: int = 0
    # The reporting currency its money figures (monetary, CLV...) are in; None: runs made
    # before it was recorded, in the configured currency.
    currency: Optional[str] = Field(default=None, max_length=3)
    # JSON: the churn-risk model this run used (learned or fallback), why, and its figures.
    risk_model: Optional[str] = Field(default=None, sa_type=sa.Text)


class ExchangeRate(SQLModel, table=True):
    """A rate the admin provided (`tierbot import rates`): from `rate_date` on, one unit of
    `currency` is worth `rate` units of `reporting_currency`, until the currency's next
    rate. How amounts are converted with them: storage/rates.py."""

    __tablename__ = "exchange_rates"
    __table_args__ = (
        sa.UniqueConstraint("currency", "reporting_currency", "rate_date",
                            name="uq_exchange_rate_day"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    currency: str = Field(max_length=3)
    reporting_currency: str = Field(max_length=3)
    rate_date: date
    rate: Decimal = Field(max_digits=24, decimal_places=10)


class ScoreSnapshot(SQLModel, table=True):
    __tablename__ = "score_snapshots"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "account_id", name="uq_snapshot_run_account"),
        sa.Index("ix_snapshots_account_asof", "account_id", "as_of"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="score_runs.id")
    account_id: int = Field(foreign_key="accounts.id")
    as_of: date
    tier: str = Field(max_length=16)
    # The tier of the account's previous snapshot, and since when it has had this tier.
    previous_tier: Optional[str] = Field(default=None, max_length=16)
    tier_since: Optional[date] = None
    tier_rule: Optional[str] = Field(default=None, max_length=64)
    lifecycle: Optional[str] = Field(default=None, max_length=16)
    recency_days: Optional[int] = None
    frequency: int = 0
    monetary: Decimal = Field(default=Decimal(0), max_digits=18, decimal_places=4)
    r_score: Optional[int] = None
    f_score: Optional[int] = None
    m_score: Optional[int] = None
    churn_risk: Optional[float] = None
    risk_rank: Optional[float] = None  # % of the book's accounts with a lower churn risk
    p_alive: Optional[float] = None
    expected_orders_90d: Optional[float] = None
    next_order_date: Optional[date] = None
    clv_12m: Optional[float] = None
    usual_gap_days: Optional[float] = None
    expected_order_value: Optional[float] = None
    next_visit_due: Optional[date] = Field(default=None, index=True)
    # JSON: warnings with codes, reasons and numbers; the values that matched the rule.
    details: Optional[str] = Field(default=None, sa_type=sa.Text)


class TierOverride(SQLModel, table=True):
    __tablename__ = "tier_overrides"

    id: Optional[int] = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", index=True)
    tier: str = Field(max_length=16)
    reason: str = Field(sa_type=sa.Text)
    set_by_id: Optional[int] = Field(default=None, foreign_key="reps.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    expires_on: Optional[date] = None
    cleared_at: Optional[datetime] = Field(default=None, sa_column=_ts(nullable=True))
    cleared_by_id: Optional[int] = Field(default=None, foreign_key="reps.id")


class Delivery(SQLModel, table=True):
    """The scheduler's ledger: one row per (recipient, kind, period, channel), ever."""

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.UniqueConstraint(
            "recipient_id", "kind", "period", "channel", name="uq_delivery_once"
        ),
        sa.Index("ix_deliveries_status_created", "status", "created_at"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    recipient_id: int = Field(foreign_key="reps.id")
    kind: str = Field(max_length=32)
    period: str = Field(max_length=32)
    channel: str = Field(max_length=16)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    last_error: Optional[str] = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    sent_at: Optional[datetime] = Field(default=None, sa_column=_ts(nullable=True))
    # When a sender took the row (status "sending"); a crash leaves it to be taken over.
    claimed_at: Optional[datetime] = Field(default=None, sa_column=_ts(nullable=True))
    ref: Optional[str] = Field(default=None, max_length=128)


class AuditEntry(SQLModel, table=True):
    """Who changed what from chat, and when (reassignments, overrides)."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_account_at", "account_id", "at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    actor_id: Optional[int] = Field(default=None, foreign_key="reps.id")
    action: str = Field(max_length=32)
    account_id: Optional[int] = Field(default=None, foreign_key="accounts.id")
    details: Optional[str] = Field(default=None, sa_type=sa.Text)


class InboundEvent(SQLModel, table=True):
    """Platform deliveries already taken on (Slack event_id, WeCom MsgId...): a retry or a
    second instance finds the row and does nothing."""

    __tablename__ = "inbound_events"
    __table_args__ = (sa.UniqueConstraint("source", "event_id", name="uq_inbound_once"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    source: str = Field(max_length=16)
    event_id: str = Field(max_length=128)
    received_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class ReminderSnooze(SQLModel, table=True):
    """An account's revisit reminder put off until a date (the "Snooze 7 days" button)."""

    __tablename__ = "reminder_snoozes"

    account_id: int = Field(foreign_key="accounts.id", primary_key=True)
    until: date
    rep_id: Optional[int] = Field(default=None, foreign_key="reps.id")
    at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class PlatformToken(SQLModel, table=True):
    """Access tokens shared by every process (WeCom's access_token): name -> value, expiry.
    The name says whose token it is (corp id + agent id), never any part of a secret."""

    __tablename__ = "platform_tokens"

    name: str = Field(max_length=64, primary_key=True)
    value: str = Field(sa_type=sa.Text)
    expires_at: datetime = Field(sa_column=_ts())


class SchedulerLease(SQLModel, table=True):
    """On SQLite, the scheduler leader holds this row's lease (PostgreSQL uses an advisory lock)."""

    __tablename__ = "scheduler_leases"

    name: str = Field(max_length=32, primary_key=True)
    holder: str = Field(max_length=128)
    expires_at: datetime = Field(sa_column=_ts())


class ImportMerge(SQLModel, table=True):
    """An import merging into the book in several short transactions (SQLite only).

    While the row exists, orders above `orders_after` are not part of the book (readers
    filter them out: `storage.settled`); the last merge transaction deletes it, so the whole
    file appears at once. A holder that died leaves it: the next import removes its rows."""

    __tablename__ = "import_merges"

    name: str = Field(max_length=32, primary_key=True)
    holder: str = Field(max_length=128)
    orders_after: int = Field(sa_type=sa.BigInteger)
    accounts_after: int = Field(sa_type=sa.BigInteger)
    expires_at: datetime = Field(sa_column=_ts())
