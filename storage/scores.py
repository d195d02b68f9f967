"""Loading a book for scoring, and storing score snapshots. Set-based: one aggregate query
per table, never one query per account."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from scoring.book import NO_DATE, Book
from scoring.engine import Scores
from scoring.explain import describe
from scoring.tiers import Override
from storage.models import (Account, Feedback, Interaction, Order, Rep, ScoreRun,
                            ScoreSnapshot, TierOverride)

QUARTER = 91


def load_book(engine: Engine, as_of: date, *, window_days: int = 365) -> Book:
    """Per-account aggregates of everything up to and including `as_of`."""
    with engine.connect() as conn:
        ids = np.array(conn.execute(sa.select(Account.id).order_by(Account.id)).scalars().all(),
                       dtype=np.int64)
        n = len(ids)
        pos = {int(a): i for i, a in enumerate(ids.tolist())}
        cols = _order_aggregates(conn, as_of, window_days, n, pos)
        cols.update(_interaction_aggregates(conn, as_of, n, pos))
        cols.update(_feedback_aggregates(conn, as_of, n, pos))
    return Book(as_of=as_of, account_id=ids, **cols)


def _between(column, start: date, end: date):
    return sa.and_(column > start, column <= end)


def _order_aggregates(conn: Connection, as_of, window_days, n, pos) -> dict:
    o = Order.__table__.c
    window = as_of - timedelta(days=window_days)
    prev_window = window - timedelta(days=window_days)
    q = [as_of - timedelta(days=QUARTER * k) for k in range(4)]

    def spend(cond):
        return sa.func.sum(sa.case((cond, o.amount), else_=0))

    stmt = (sa.select(
        o.account_id, sa.func.count(sa.distinct(o.order_date)), sa.func.min(o.order_date),
        sa.func.max(o.order_date), sa.func.sum(o.amount), sa.func.sum(sa.func.coalesce(o.margin, 0)),
        sa.func.sum(sa.case((o.order_date > window, 1), else_=0)), spend(o.order_date > window),
        spend(_between(o.order_date, prev_window, window)),
        spend(_between(o.order_date, q[1], q[0])), spend(_between(o.order_date, q[2], q[1])),
        spend(_between(o.order_date, q[3], q[2])),
        spend(o.amount > 0), sa.func.sum(sa.case((o.amount > 0, 1), else_=0)))
        .where(o.order_date <= as_of).group_by(o.account_id))
    out = {name: np.zeros(n) for name in ("spend_all", "margin_all", "spend_window",
                                          "spend_prev_window", "avg_order_value")}
    out.update({name: np.zeros(n, dtype=np.int64) for name in ("order_days", "orders_window")})
    out["first_order"] = np.full(n, NO_DATE, dtype=np.int64)
    out["last_order"] = np.full(n, NO_DATE, dtype=np.int64)
    out["spend_q"] = np.zeros((n, 3))
    for row in conn.execute(stmt):
        i = pos[row[0]]
        out["order_days"][i] = row[1]
        out["first_order"][i] = row[2].toordinal()
        out["last_order"][i] = row[3].toordinal()
        out["spend_all"][i], out["margin_all"][i] = float(row[4]), float(row[5])
        out["orders_window"][i] = row[6]
        out["spend_window"][i], out["spend_prev_window"][i] = float(row[7]), float(row[8])
        out["spend_q"][i] = (float(row[9]), float(row[10]), float(row[11]))
        out["avg_order_value"][i] = float(row[12]) / row[13] if row[13] else 0.0
    return out


def _interaction_aggregates(conn: Connection, as_of, n, pos) -> dict:
    c = Interaction.__table__.c
    d90, d180 = as_of - timedelta(days=90), as_of - timedelta(days=180)
    stmt = (sa.select(c.account_id,
                      sa.func.sum(sa.case((c.occurred_on > d90, 1), else_=0)),
                      sa.func.sum(sa.case((_between(c.occurred_on, d180, d90), 1), else_=0)),
                      sa.func.max(c.occurred_on))
            .where(c.occurred_on <= as_of).group_by(c.account_id))
    out = {"interactions_90": np.zeros(n, dtype=np.int64),
           "interactions_prev_90": np.zeros(n, dtype=np.int64),
           "last_interaction": np.full(n, NO_DATE, dtype=np.int64)}
    for account_id, last_90, prev_90, last in conn.execute(stmt):
        i = pos[account_id]
        out["interactions_90"][i], out["interactions_prev_90"][i] = last_90, prev_90
        out["last_interaction"][i] = last.toordinal()
    return out


def _feedback_aggregates(conn: Connection, as_of, n, pos) -> dict:
    c = Feedback.__table__.c
    d90 = as_of - timedelta(days=90)
    stmt = (sa.select(c.account_id,
                      sa.func.min(sa.case((c.kind == "nps", c.score), else_=None)),
                      sa.func.sum(sa.case((c.kind == "complaint", 1), else_=0)))
            .where(_between(c.given_on, d90, as_of)).group_by(c.account_id))
    out = {"nps_min_90": np.full(n, -1, dtype=np.int64), "complaints_90": np.zeros(n, dtype=np.int64)}
    for account_id, nps, complaints in conn.execute(stmt):
        i = pos[account_id]
        out["nps_min_90"][i] = -1 if nps is None else nps
        out["complaints_90"][i] = complaints
    return out


@dataclass(frozen=True)
class PreviousTier:
    tier: str
    since: date | None
    as_of: date


def load_previous_tiers(engine: Engine, before: date | None = None) -> dict[int, PreviousTier]:
    """Each account's tier in the latest score run (before `before`, when given)."""
    with engine.connect() as conn:
        runs = sa.select(ScoreRun.id, ScoreRun.as_of).order_by(ScoreRun.as_of.desc(),
                                                                ScoreRun.id.desc())
        if before is not None:
            runs = runs.where(ScoreRun.as_of < before)
        latest = conn.execute(runs.limit(1)).first()
        if latest is None:
            return {}
        rows = conn.execute(sa.select(ScoreSnapshot.account_id, ScoreSnapshot.tier,
                                      ScoreSnapshot.tier_since)
                            .where(ScoreSnapshot.run_id == latest.id))
        return {a: PreviousTier(t, s, latest.as_of) for a, t, s in rows}


def load_overrides(engine: Engine, as_of: date) -> dict[int, Override]:
    """Overrides in force on `as_of` (not cleared, not expired); the newest per account."""
    stmt = (sa.select(TierOverride.account_id, TierOverride.tier, TierOverride.reason,
                      TierOverride.expires_on, Rep.key)
            .outerjoin(Rep, Rep.id == TierOverride.set_by_id)
            .where(TierOverride.cleared_at.is_(None))
            .where(sa.or_(TierOverride.expires_on.is_(None), TierOverride.expires_on >= as_of))
            .order_by(TierOverride.created_at, TierOverride.id))
    with engine.connect() as conn:
        return {a: Override(tier, reason, by or "", expires)
                for a, tier, reason, expires, by in conn.execute(stmt)}


def save_snapshot(engine: Engine, scores: Scores,
                  previous: dict[int, PreviousTier]) -> tuple[int, Counter]:
    """Store one run with a snapshot per account; returns (run id, movements (from, to) -> n)."""
    moves: Counter = Counter()
    rows = []
    for k, account_id in enumerate(scores.account_id.tolist()):
        tier = str(scores.tier[k])
        before = previous.get(account_id)
        if before is None:
            since = scores.as_of
        elif before.tier != tier:
            since = scores.as_of
            moves[(before.tier, tier)] += 1
        else:
            since = before.since or before.as_of
        rows.append(_snapshot_row(scores, k, account_id, tier, before.tier if before else None,
                                  since))
    with engine.begin() as conn:
        run_id = conn.execute(sa.insert(ScoreRun).values(as_of=scores.as_of,
                                                         accounts=len(rows))).inserted_primary_key[0]
        for row in rows:
            row["run_id"] = run_id
        for start in range(0, len(rows), 5000):
            conn.execute(sa.insert(ScoreSnapshot), rows[start:start + 5000])
    return run_id, moves


def _num(value, digits=4):
    value = float(value)
    return None if value != value else round(value, digits)


def _snapshot_row(s: Scores, k: int, account_id: int, tier: str, previous_tier, since) -> dict:
    recency = int(s.recency_days[k])
    details = {
        "matched": s.matched[k],
        "warnings": [{"code": w.code, "params": w.params} for w in s.warnings[k]],
        "usual_gap_days": _num(s.usual_gap_days[k], 1),
        "expected_order_value": _num(s.expected_order_value[k], 2),
        "next_visit_due": s.next_visit_due[k].isoformat(),
    }
    return {
        "account_id": account_id, "as_of": s.as_of, "tier": tier, "previous_tier": previous_tier,
        "tier_since": since, "tier_rule": s.rule[k], "lifecycle": str(s.lifecycle[k]),
        "recency_days": None if recency < 0 else recency, "frequency": int(s.frequency[k]),
        "monetary": round(float(s.monetary[k]), 4), "r_score": int(s.r_score[k]),
        "f_score": int(s.f_score[k]), "m_score": int(s.m_score[k]),
        "churn_risk": _num(s.churn_risk[k], 1), "p_alive": _num(s.p_alive[k]),
        "expected_orders_90d": _num(s.expected_orders_90d[k]),
        "next_order_date": s.next_order_date[k], "clv_12m": _num(s.clv_12m[k], 2),
        "details": json.dumps(details, ensure_ascii=False),
    }


EXPORT_COLUMNS = ("account", "name", "owner", "tier", "previous_tier", "tier_since", "rule",
                  "lifecycle", "recency_days", "frequency", "monetary", "r_score", "f_score",
                  "m_score", "churn_risk", "p_alive", "expected_orders_90d", "next_order_date",
                  "clv_12m", "next_visit_due", "warnings", "reasons")


def latest_snapshot_rows(engine: Engine, locale: str = "en") -> list[dict]:
    """The latest run, one dict per account with EXPORT_COLUMNS, ordered by account key."""
    from scoring.warnings import Warning

    s = ScoreSnapshot
    with engine.connect() as conn:
        run = conn.execute(sa.select(ScoreRun.id).order_by(ScoreRun.as_of.desc(),
                                                           ScoreRun.id.desc()).limit(1)).scalar()
        if run is None:
            return []
        stmt = (sa.select(Account.key, Account.name, Rep.key.label("owner"), s)
                .join(Account, Account.id == s.account_id)
                .outerjoin(Rep, Rep.id == Account.owner_id)
                .where(s.run_id == run).order_by(Account.key))
        out = []
        for row in conn.execute(stmt).mappings():
            details = json.loads(row["details"] or "{}")
            warnings = [Warning(w["code"], w["params"]) for w in details.get("warnings", [])]
            out.append({
                "account": row["key"], "name": row["name"], "owner": row["owner"],
                "tier": row["tier"], "previous_tier": row["previous_tier"],
                "tier_since": row["tier_since"], "rule": row["tier_rule"],
                "lifecycle": row["lifecycle"], "recency_days": row["recency_days"],
                "frequency": row["frequency"], "monetary": row["monetary"],
                "r_score": row["r_score"], "f_score": row["f_score"], "m_score": row["m_score"],
                "churn_risk": row["churn_risk"], "p_alive": row["p_alive"],
                "expected_orders_90d": row["expected_orders_90d"],
                "next_order_date": row["next_order_date"], "clv_12m": row["clv_12m"],
                "next_visit_due": details.get("next_visit_due"),
                "warnings": " ".join(w.code for w in warnings),
                "reasons": " ".join(describe(w, locale) for w in warnings),
            })
        return out
