"""Read queries behind the chat commands: everything a tier card or a list shows."""
from __future__ import annotations

import json
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased

from storage.models import (Account, Interaction, Order, Rep, ScoreSnapshot,
                            TierOverride)
from storage.scores import current_run, current_run_id, load_risk_model, risk_reasons, run_before
from storage.settled import only_settled


def account_card(engine: Engine, account_id: int, today: date) -> dict:
    """The account, its owner, its snapshot in the current run, last order, override, and
    its contacts live from the log: the last one up to `today`, how many in the 90 days to
    `today` (`contacts_90`), and how many were logged after the run was made
    (`logged_since_score`: the snapshot's contact figures don't know those)."""
    owner = aliased(Rep)
    with engine.connect() as conn:
        account = conn.execute(
            sa.select(Account.key, Account.name, Account.industry, Account.region,
                      owner.key.label("owner_key"), owner.name.label("owner_name"))
            .outerjoin(owner, owner.id == Account.owner_id)
            .where(Account.id == account_id)).mappings().one()
        run = current_run(conn)
        snapshot = None
        if run is not None:
            snapshot = conn.execute(sa.select(ScoreSnapshot).where(
                ScoreSnapshot.run_id == run.id, ScoreSnapshot.account_id == account_id)).mappings().first()
        last_order = conn.execute(only_settled(
            sa.select(Order.order_date, Order.amount, Order.currency)
            .where(Order.account_id == account_id)
            .order_by(Order.order_date.desc(), Order.id.desc()).limit(1),
            conn.dialect.name)).mappings().first()
        mine = sa.and_(Interaction.account_id == account_id, Interaction.occurred_on <= today)
        last_touch = conn.execute(
            sa.select(Interaction.occurred_on, Interaction.kind, Interaction.summary,
                      Rep.name.label("rep_name"))
            .outerjoin(Rep, Rep.id == Interaction.rep_id).where(mine)
            .order_by(Interaction.occurred_on.desc(), Interaction.id.desc()).limit(1)).mappings().first()
        contacts_90 = conn.execute(sa.select(sa.func.count()).where(
            mine, Interaction.occurred_on > today - timedelta(days=90))).scalar_one()
        logged_since = 0
        if run is not None:
            logged_since = conn.execute(sa.select(sa.func.count()).where(
                Interaction.account_id == account_id,
                Interaction.created_at > run.created_at)).scalar_one()
        setter = aliased(Rep)
        override = conn.execute(
            sa.select(TierOverride.tier, TierOverride.reason, TierOverride.expires_on,
                      setter.name.label("by"))
            .outerjoin(setter, setter.id == TierOverride.set_by_id)
            .where(TierOverride.account_id == account_id, TierOverride.cleared_at.is_(None))
            .where(sa.or_(TierOverride.expires_on.is_(None), TierOverride.expires_on >= today))
            .order_by(TierOverride.created_at.desc(), TierOverride.id.desc()).limit(1)).mappings().first()
        risk_model = load_risk_model(conn, run.id if run is not None else None)
    snap = dict(snapshot) if snapshot else None
    if snap:
        snap["details"] = _with_reasons(snap, risk_model)
    return {"account": dict(account), "snapshot": snap,
            "last_order": dict(last_order) if last_order else None,
            "last_interaction": dict(last_touch) if last_touch else None,
            "contacts_90": contacts_90, "logged_since_score": logged_since,
            "risk_model": risk_model,
            "override": dict(override) if override else None}


def value_at_stake(s=ScoreSnapshot):
    """THE value at stake: the churn risk (as a probability) x the larger of 12-month spend
    and 12-month value (CLV). /at-risk shows it; it, the digest and alerts sort by it."""
    return s.churn_risk / 100.0 * sa.func.coalesce(
        sa.case((s.clv_12m > s.monetary, s.clv_12m), else_=s.monetary), 0)


def at_risk_accounts(engine: Engine, owner_ids: set[int] | None, *,
                     limit: int) -> tuple[list[dict], int]:
    """(the first `limit` accounts of the at-risk tier in the current run, most value at
    stake first (`stake`: see value_at_stake); how many the tier holds in all).

    Only the tier: the list and /accounts' count of it are one set. An account a manager
    set to another tier by hand is in that tier (its card still shows its risk)."""
    owner = aliased(Rep)
    s = ScoreSnapshot
    with engine.connect() as conn:
        run = current_run_id(conn)
        if run is None:
            return [], 0
        stake = value_at_stake(s)
        mine = [s.run_id == run, s.tier == "at-risk"]
        if owner_ids is not None:
            # Start from the owners' accounts (indexed), not from the whole run's snapshots.
            mine.append(s.account_id.in_(
                sa.select(Account.id).where(Account.owner_id.in_(owner_ids))))
        stmt = (sa.select(Account.key, Account.name, owner.name.label("owner"), s.tier,
                          s.churn_risk, s.risk_rank, s.monetary, s.clv_12m, s.recency_days, s.details,
                          s.as_of, s.usual_gap_days, stake.label("stake"))
                .join(Account, Account.id == s.account_id)
                .outerjoin(owner, owner.id == Account.owner_id)
                .where(*mine).order_by(stake.desc(), Account.key).limit(limit))
        rows = [dict(r) for r in conn.execute(stmt).mappings()]
        total = conn.execute(sa.select(sa.func.count()).select_from(s).where(*mine)).scalar_one()
        record = load_risk_model(conn, run)
    for r in rows:
        r["details"] = _with_reasons(r, record)
    return rows, total


def book_by_tier(engine: Engine, owner_ids: set[int] | None, *, week_days: int = 7) -> dict:
    """Counts and 12-month revenue per tier in the current run, and movements since the run
    that was current `week_days` before it (about a week ago)."""
    s, old = ScoreSnapshot, aliased(ScoreSnapshot)
    with engine.connect() as conn:
        latest = current_run(conn)
        if latest is None:
            return {"as_of": None, "tiers": [], "moves": [], "since": None, "run": None,
                    "since_run": None}
        mine = sa.select(Account.id)
        if owner_ids is not None:
            mine = mine.where(Account.owner_id.in_(owner_ids))
        tiers = conn.execute(
            sa.select(s.tier, sa.func.count(), sa.func.coalesce(sa.func.sum(s.monetary), 0))
            .where(s.run_id == latest.id, s.account_id.in_(mine)).group_by(s.tier)).all()
        before = run_before(conn, latest.as_of, week_days)
        moves = []
        if before is not None:
            moves = conn.execute(
                sa.select(old.tier, s.tier, sa.func.count())
                .join(old, sa.and_(old.account_id == s.account_id, old.run_id == before.id))
                .where(s.run_id == latest.id, s.account_id.in_(mine), old.tier != s.tier)
                .group_by(old.tier, s.tier).order_by(sa.func.count().desc())).all()
    return {"as_of": latest.as_of, "since": before.as_of if before else None, "run": latest.id,
            "since_run": before.id if before else None,
            "tiers": [{"tier": t, "accounts": n, "revenue": float(r)} for t, n, r in tiers],
            "moves": [{"from": a, "to": b, "accounts": n} for a, b, n in moves]}


def newly_at_risk(engine: Engine, owner_id: int, *, limit: int = 20,
                  run_id: int | None = None) -> tuple[int | None, list[dict]]:
    """(the run, the owner's accounts that moved into the at-risk tier in that run), most
    value at stake first. The run: `run_id` (the one an alert is for), else the current."""
    s = ScoreSnapshot
    with engine.connect() as conn:
        run = run_id if run_id is not None else current_run_id(conn)
        if run is None:
            return None, []
        stake = value_at_stake(s)
        rows = conn.execute(
            sa.select(Account.key, Account.name, s.previous_tier, s.churn_risk, s.monetary,
                      s.details, s.as_of, s.recency_days, s.usual_gap_days)
            .join(Account, Account.id == s.account_id)
            .where(s.run_id == run, s.tier == "at-risk", s.previous_tier.is_not(None),
                   s.previous_tier != "at-risk",
                   s.account_id.in_(sa.select(Account.id).where(Account.owner_id == owner_id)))
            .order_by(stake.desc(), Account.key).limit(limit)).mappings().all()
        record = load_risk_model(conn, run)
    out = [dict(r) for r in rows]
    for r in out:
        r["details"] = _with_reasons(r, record)
    return run, out


def _with_reasons(row: dict, record: dict | None) -> dict:
    """A snapshot row's details JSON parsed, with its risk reasons expanded into
    `risk_reasons` against the row's own columns and its run's risk model `record`
    (every number each sentence says; storage.scores.risk_reasons)."""
    details = json.loads(row["details"] or "{}")
    details["risk_reasons"] = risk_reasons(details, row, record)
    return details
