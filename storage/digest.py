"""What a weekly digest says about a book: movements, at-risk accounts, revisits, KPIs.

One function the `/digest` preview uses now and the scheduler will send from."""
from __future__ import annotations

import json
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased

from storage.cards import at_risk_accounts, book_by_tier
from storage.logbook import visits_due
from storage.models import Account, Rep, ScoreRun, ScoreSnapshot
from storage.scores import latest_run_id


def digest_data(engine: Engine, owner_ids: set[int] | None, *, today: date,
                cadence: dict[str, int], week_days: int = 7, min_rank: float = 80.0) -> dict:
    book = book_by_tier(engine, owner_ids, week_days=week_days)
    return {
        "book": book,
        "kpis": _kpis(engine, owner_ids, book) | {
            "repurchase_by_tier": repurchase_by_tier(engine, owner_ids, today)},
        "moved": _moved_accounts(engine, owner_ids, book["since"]),
        "at_risk": at_risk_accounts(engine, owner_ids, min_rank=min_rank, limit=5),
        "revisits": _revisits(engine, owner_ids, today, cadence, week_days),
    }


def _kpis(engine, owner_ids, book) -> dict:
    """Repurchase rate (of accounts that bought in 12 months, the share that bought twice or
    more), revenue by tier, and the strategic tier's share of revenue."""
    with engine.connect() as conn:
        run = latest_run_id(conn)
        buyers = repeat = 0
        if run is not None:
            stmt = (sa.select(sa.func.count().filter(ScoreSnapshot.frequency >= 1),
                              sa.func.count().filter(ScoreSnapshot.frequency >= 2))
                    .join(Account, Account.id == ScoreSnapshot.account_id)
                    .where(ScoreSnapshot.run_id == run))
            if owner_ids is not None:
                stmt = stmt.where(Account.owner_id.in_(owner_ids), ScoreSnapshot.account_id.in_(
                    sa.select(Account.id).where(Account.owner_id.in_(owner_ids))))
            buyers, repeat = conn.execute(stmt).one()
    revenue = {t["tier"]: t["revenue"] for t in book["tiers"]}
    total = sum(revenue.values())
    return {"repurchase_rate": repeat / buyers if buyers else None, "revenue_by_tier": revenue,
            "strategic_share": revenue.get("strategic", 0.0) / total if total else None}


def repurchase_by_tier(engine: Engine, owner_ids: set[int] | None, today: date,
                       back_days: int = 30) -> list[dict]:
    """Per tier, the repurchase rate (buyers with 2+ orders in the window / buyers) in the
    latest run and in the latest run at least `back_days` older (None when there is none)."""
    with engine.connect() as conn:
        latest = conn.execute(sa.select(ScoreRun.id, ScoreRun.as_of).order_by(
            ScoreRun.as_of.desc(), ScoreRun.id.desc()).limit(1)).first()
        if latest is None:
            return []
        before = conn.execute(sa.select(ScoreRun.id).where(
            ScoreRun.as_of <= latest.as_of - timedelta(days=back_days)).order_by(
            ScoreRun.as_of.desc(), ScoreRun.id.desc()).limit(1)).scalar()

        def rates(run_id):
            stmt = (sa.select(ScoreSnapshot.tier,
                              sa.func.count().filter(ScoreSnapshot.frequency >= 1),
                              sa.func.count().filter(ScoreSnapshot.frequency >= 2))
                    .where(ScoreSnapshot.run_id == run_id).group_by(ScoreSnapshot.tier))
            if owner_ids is not None:
                stmt = stmt.where(ScoreSnapshot.account_id.in_(
                    sa.select(Account.id).where(Account.owner_id.in_(owner_ids))))
            return {tier: (repeat / buyers if buyers else None)
                    for tier, buyers, repeat in conn.execute(stmt)}

        now = rates(latest.id)
        then = rates(before) if before is not None else {}
    return [{"tier": t, "now": now.get(t), "before": then.get(t)}
            for t in ("strategic", "key", "potential", "general", "at-risk") if t in now]


def _moved_accounts(engine, owner_ids, since: date | None, limit: int = 10) -> list[dict]:
    if since is None:
        return []
    s, old = ScoreSnapshot, aliased(ScoreSnapshot)
    with engine.connect() as conn:
        run = latest_run_id(conn)
        before = conn.execute(sa.select(ScoreRun.id).where(ScoreRun.as_of == since)
                              .order_by(ScoreRun.id.desc()).limit(1)).scalar()
        stmt = (sa.select(Account.key, Account.name, old.tier.label("was"), s.tier, s.tier_rule,
                          s.details, s.monetary)
                .join(old, sa.and_(old.account_id == s.account_id, old.run_id == before))
                .join(Account, Account.id == s.account_id)
                .where(s.run_id == run, old.tier != s.tier)
                .order_by(s.monetary.desc(), Account.key).limit(limit))
        if owner_ids is not None:
            stmt = stmt.where(Account.owner_id.in_(owner_ids))
        rows = [dict(r) for r in conn.execute(stmt).mappings()]
    for r in rows:
        details = json.loads(r.pop("details") or "{}")
        r["warnings"] = details.get("warnings", [])[:1]
    return rows


def _revisits(engine, owner_ids, today, cadence, week_days) -> dict:
    with engine.connect() as conn:
        stmt = sa.select(Rep.id, Rep.name).order_by(Rep.name)
        if owner_ids is not None:
            stmt = stmt.where(Rep.id.in_(owner_ids))
        reps = conn.execute(stmt).all()
    horizon = today + timedelta(days=week_days)
    per_rep, overdue, this_week = [], [], []
    for rep_id, name in reps:
        rows = visits_due(engine, rep_id, today, cadence)
        late = [r for r in rows if r["due"] < today]
        soon = [r for r in rows if today <= r["due"] <= horizon]
        if rows:
            per_rep.append({"rep": name, "overdue": len(late), "this_week": len(soon)})
        overdue += late
        this_week += soon
    return {"per_rep": per_rep, "overdue": sorted(overdue, key=lambda r: r["due"])[:5],
            "overdue_total": len(overdue), "this_week": sorted(this_week, key=lambda r: r["due"])[:5],
            "this_week_total": len(this_week)}
