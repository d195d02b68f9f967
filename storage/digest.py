"""What a weekly digest says about a book: movements, at-risk accounts, revisits, KPIs.

One function the `/digest` preview uses now and the scheduler will send from."""
from __future__ import annotations

import json
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased

from storage.cards import at_risk_accounts, book_by_tier
from storage.logbook import revisits
from storage.models import Account, Rep, ScoreSnapshot
from storage.scores import current_run, run_before


def digest_data(engine: Engine, owner_ids: set[int] | None, *, today: date,
                cadence: dict[str, int], week_days: int = 7) -> dict:
    book = book_by_tier(engine, owner_ids, week_days=week_days)
    at_risk, at_risk_total = at_risk_accounts(engine, owner_ids, limit=5)
    moved, moved_total = _moved_accounts(engine, owner_ids, book)
    return {
        "book": book,
        "kpis": _kpis(engine, owner_ids, book) | {
            "repurchase_by_tier": repurchase_by_tier(engine, owner_ids, today)},
        "moved": moved, "moved_total": moved_total,
        "at_risk": at_risk, "at_risk_total": at_risk_total,
        "revisits": _revisits(engine, owner_ids, today, cadence, week_days),
    }


def _kpis(engine, owner_ids, book) -> dict:
    """Repurchase rate (of accounts that bought in 12 months, the share that bought twice or
    more), revenue by tier, and the strategic tier's share of revenue."""
    with engine.connect() as conn:
        run = book["run"]
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
    current run (`now`) and in the run that was current `back_days` before it (`before`,
    of the run dated `since`).

    With no run that old (a book scored for less than a month, as a fresh demo is),
    `since` and every `before` are None: the digest says so rather than leaving the
    comparison out. A tier without buyers (then or now) has None for that figure."""
    with engine.connect() as conn:
        latest = current_run(conn)
        if latest is None:
            return []
        before = run_before(conn, latest.as_of, back_days)

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
        then = rates(before.id) if before is not None else {}
    since = before.as_of if before is not None else None
    return [{"tier": t, "now": now.get(t), "before": then.get(t), "since": since}
            for t in ("strategic", "key", "potential", "general", "at-risk") if t in now]


def _moved_accounts(engine, owner_ids, book: dict, limit: int = 10) -> tuple[list[dict], int]:
    """(the first `limit` accounts, by 12-month spend, whose tier differs between the current
    run and the one a week before it (the runs `book_by_tier` compared); how many in all)."""
    if book["since_run"] is None:
        return [], 0
    s, old = ScoreSnapshot, aliased(ScoreSnapshot)
    with engine.connect() as conn:
        moved = (sa.select(Account.key, Account.name, old.tier.label("was"), s.tier,
                           s.tier_rule, s.details, s.monetary)
                 .join(old, sa.and_(old.account_id == s.account_id,
                                    old.run_id == book["since_run"]))
                 .join(Account, Account.id == s.account_id)
                 .where(s.run_id == book["run"], old.tier != s.tier))
        if owner_ids is not None:
            moved = moved.where(Account.owner_id.in_(owner_ids))
        rows = [dict(r) for r in conn.execute(
            moved.order_by(s.monetary.desc(), Account.key).limit(limit)).mappings()]
        total = conn.execute(sa.select(sa.func.count()).select_from(moved.subquery())).scalar_one()
    for r in rows:
        details = json.loads(r.pop("details") or "{}")
        r["warnings"] = details.get("warnings", [])[:1]
    return rows, total


def _revisits(engine, owner_ids, today, cadence, week_days, shown: int = 5) -> dict:
    """Overdue and due-this-week revisits (the first `shown` of each, with the totals),
    counted by `revisits` as /due counts them, and per-rep counts."""
    due = revisits(engine, owner_ids, today, cadence, week_days=week_days)
    late, soon = due["overdue"], due["this_week"]
    with engine.connect() as conn:
        stmt = sa.select(Rep.id, Rep.name).order_by(Rep.name)
        if owner_ids is not None:
            stmt = stmt.where(Rep.id.in_(owner_ids))
        reps = conn.execute(stmt).all()
    per_rep = []
    for rep_id, name in reps:
        mine_late = sum(r["owner_id"] == rep_id for r in late)
        mine_soon = sum(r["owner_id"] == rep_id for r in soon)
        if mine_late or mine_soon:
            per_rep.append({"rep": name, "overdue": mine_late, "this_week": mine_soon})
    return {"per_rep": per_rep, "overdue": late[:shown], "overdue_total": len(late),
            "this_week": soon[:shown], "this_week_total": len(soon)}
