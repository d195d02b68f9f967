"""Read-side queries that more than one command needs."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased

from storage.models import Account, Order, Rep
from storage.rates import MissingRates, conversion, currencies_without_rates
from storage.settled import only_settled


@dataclass(frozen=True)
class TeamSummary:
    manager: str
    reps: int
    accounts: int
    revenue_12m: Decimal
    quiet_accounts: int  # bought before, nothing in the last 120 days


def team_summaries(engine: Engine, *, today: date, currency: str = "USD") -> list[TeamSummary]:
    """Per manager's team (the manager's own book included): size, revenue in `currency`
    (the reporting currency; MissingRates if an order can't be converted into it), quiet
    accounts."""
    year_ago, quiet_since = today - timedelta(days=365), today - timedelta(days=120)
    recent = Order.order_date > year_ago
    with engine.connect() as conn, conversion(conn, currency) as rates:
        per_account = only_settled(
            sa.select(Order.account_id,
                      sa.func.coalesce(sa.func.sum(rates.amount()).filter(recent), 0)
                      .label("revenue"),
                      sa.func.max(Order.order_date).label("last_order"),
                      rates.unconverted().label("unconverted"))
            .select_from(rates.joined(Order.__table__))
            .group_by(Order.account_id), engine.dialect.name).subquery()
        rows = conn.execute(_per_team(per_account, quiet_since)).all()
        if any(unconverted for *_, unconverted in rows):
            raise MissingRates(currencies_without_rates(conn, currency), currency)
    return [TeamSummary(name, reps, accounts, Decimal(str(revenue)).quantize(Decimal("0.01")),
                        int(quiet or 0))
            for name, reps, accounts, revenue, quiet, _ in rows]


def _per_team(per_account, quiet_since: date):
    owner, manager = aliased(Rep), aliased(Rep)
    team = sa.func.coalesce(manager.name, owner.name)
    return (
        sa.select(team, sa.func.count(sa.distinct(owner.id)), sa.func.count(Account.id),
                  sa.func.coalesce(sa.func.sum(per_account.c.revenue), 0),
                  sa.func.sum(sa.case((per_account.c.last_order < quiet_since, 1), else_=0)),
                  sa.func.coalesce(sa.func.sum(per_account.c.unconverted), 0))
        .select_from(Account)
        .join(owner, owner.id == Account.owner_id)
        .outerjoin(manager, manager.id == owner.manager_id)
        .outerjoin(per_account, per_account.c.account_id == Account.id)
        .group_by(team).order_by(team))
