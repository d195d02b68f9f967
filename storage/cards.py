"""Read queries behind the chat commands: everything a tier card or a list shows."""
from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased

from storage.models import (Account, Interaction, Order, Rep, ScoreRun, ScoreSnapshot,
                            TierOverride)


def _latest_run(conn) -> int | None:
    return conn.execute(sa.select(ScoreRun.id).order_by(ScoreRun.as_of.desc(),
                                                        ScoreRun.id.desc()).limit(1)).scalar()


def account_card(engine: Engine, account_id: int, today=None) -> dict:
    """The account, its owner, its latest snapshot, last order, last interaction, override."""
    owner = aliased(Rep)
    with engine.connect() as conn:
        account = conn.execute(
            sa.select(Account.key, Account.name, Account.industry, Account.region,
                      owner.key.label("owner_key"), owner.name.label("owner_name"))
            .outerjoin(owner, owner.id == Account.owner_id)
            .where(Account.id == account_id)).mappings().one()
        run = _latest_run(conn)
        snapshot = None
        if run is not None:
            snapshot = conn.execute(sa.select(ScoreSnapshot).where(
                ScoreSnapshot.run_id == run, ScoreSnapshot.account_id == account_id)).mappings().first()
        last_order = conn.execute(
            sa.select(Order.order_date, Order.amount, Order.currency)
            .where(Order.account_id == account_id)
            .order_by(Order.order_date.desc(), Order.id.desc()).limit(1)).mappings().first()
        last_touch = conn.execute(
            sa.select(Interaction.occurred_on, Interaction.kind, Interaction.summary,
                      Rep.name.label("rep_name"))
            .outerjoin(Rep, Rep.id == Interaction.rep_id)
            .where(Interaction.account_id == account_id)
            .order_by(Interaction.occurred_on.desc(), Interaction.id.desc()).limit(1)).mappings().first()
        setter = aliased(Rep)
        override = conn.execute(
            sa.select(TierOverride.tier, TierOverride.reason, TierOverride.expires_on,
                      setter.name.label("by"))
            .outerjoin(setter, setter.id == TierOverride.set_by_id)
            .where(TierOverride.account_id == account_id, TierOverride.cleared_at.is_(None))
            .where(sa.or_(TierOverride.expires_on.is_(None), today is None,
                          TierOverride.expires_on >= today))
            .order_by(TierOverride.created_at.desc(), TierOverride.id.desc()).limit(1)).mappings().first()
    snap = dict(snapshot) if snapshot else None
    if snap:
        snap["details"] = json.loads(snap["details"] or "{}")
    return {"account": dict(account), "snapshot": snap,
            "last_order": dict(last_order) if last_order else None,
            "last_interaction": dict(last_touch) if last_touch else None,
            "override": dict(override) if override else None}


def at_risk_accounts(engine: Engine, owner_ids: set[int] | None, *, min_risk: float,
                     limit: int) -> list[dict]:
    """At-risk tier or risk >= min_risk in the latest snapshot, most value at stake first.

    Value at stake = churn risk x (12-month spend, or CLV when higher)."""
    owner = aliased(Rep)
    s = ScoreSnapshot
    with engine.connect() as conn:
        run = _latest_run(conn)
        if run is None:
            return []
        stake = s.churn_risk * sa.func.coalesce(
            sa.case((s.clv_12m > s.monetary, s.clv_12m), else_=s.monetary), 0)
        stmt = (sa.select(Account.key, Account.name, owner.name.label("owner"), s.tier,
                          s.churn_risk, s.monetary, s.clv_12m, s.recency_days, s.details,
                          stake.label("stake"))
                .join(Account, Account.id == s.account_id)
                .outerjoin(owner, owner.id == Account.owner_id)
                .where(s.run_id == run, sa.or_(s.tier == "at-risk", s.churn_risk >= min_risk))
                .order_by(stake.desc(), Account.key).limit(limit))
        if owner_ids is not None:
            stmt = stmt.where(Account.owner_id.in_(owner_ids))
        rows = [dict(r) for r in conn.execute(stmt).mappings()]
    for r in rows:
        r["details"] = json.loads(r["details"] or "{}")
    return rows
