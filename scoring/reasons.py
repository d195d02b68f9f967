"""The churn risk's reasons: for each account its strongest per-feature pushes on the risk
(scoring.risk.contributions), and the numbers a sentence says them with.

They are kept compact, because every account of the book has up to `top` of them and a
rescore stores them all (issue 12: the learned risk may add at most 2 s to a rescore of
100,000 accounts):
- per account, only each reason's code, its effect and the few numbers that are the
  account's own and not already a column of its snapshot (`OWN`);
- per run, once, the book's typical account (`typical`) and the horizon;
- the rest comes from the snapshot's own columns (days since the last order, usual gap,
  12-month spend, as-of date), so a card says each figure once: the reason's "last order
  N days ago" is the card's.
`expand` turns the stored form back into each reason's params, when a card or a list is
shown. Built per feature column with numpy, never per account in Python.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Mapping

import numpy as np

from scoring import risk as risk_model
from scoring.book import Book
from scoring.risk import FEATURES, RiskModel

# The account's own numbers each reason stores after its code and effect, in this order.
# "gap" is stored only where the snapshot has no usual gap (too few order days for one):
# the reason then says the span between its orders.
OWN: dict[str, tuple[str, ...]] = {
    "recency": (), "repeat_days": ("order_days", "first_order"), "spend_12m": (),
    "age": ("first_order",), "overdue": ("gap",), "far_overdue": ("gap",), "not_due": ("gap",),
    "spend_trend": ("last_quarter", "quarter_before"), "contact_trend": ("last_90", "previous_90"),
    "detractor": ("nps",), "complaint": ("complaints",), "expected_orders": ("expected",),
}
MIN_EFFECT = 0.05  # |log-odds| under this (~1 risk point either way) is no reason


@dataclass(frozen=True)
class RiskReasons:
    """Every account's top reasons, as columns aligned with the book's accounts."""

    code: np.ndarray            # (n, top) index into FEATURES, strongest first; -1: none
    effect: np.ndarray          # (n, top) push on the log-odds, rounded to 3 decimals
    own: dict[str, np.ndarray]  # the OWN values by name, (n,) each; first_order a day
                                # number; gap nan where the snapshot's usual gap says it
    typical: dict               # the book's typical account, in the sentences' units
    horizon_days: int

    def stored(self, i: int) -> list[list]:
        """Account `i`'s reasons as a snapshot stores them: [code, effect, *own values]."""
        out = []
        for j, e in zip(self.code[i].tolist(), self.effect[i].tolist()):
            if j < 0:
                break
            name = FEATURES[j]
            values = [_plain(key, self.own[key][i]) for key in OWN[name]]
            out.append([name, e, *(v for v in values if v is not None)])
        return out

    def context(self) -> dict:
        """What a run stores once for all its accounts' reasons."""
        return {"typical": self.typical, "horizon_days": self.horizon_days}


def _plain(key: str, value):
    """A stored value as JSON has it: a date as ISO text, nan (not stored) as None."""
    if key == "first_order":
        return date.fromordinal(int(value)).isoformat()
    value = value.item()
    return None if value != value else value


def build_reasons(book: Book, rm: RiskModel, X: np.ndarray, ordered: np.ndarray,
                  gap: np.ndarray, horizon: int, top: int) -> RiskReasons:
    """Each account's top `top` reasons from the risk's per-feature contributions (log-odds
    against the book's typical account), strongest first. Sorted by strength, the reasons
    kept are a prefix of each row: under MIN_EFFECT is no reason, nor anything after it."""
    n = len(book)
    code = np.full((n, top), -1, dtype=np.int64)
    effect = np.zeros((n, top))
    if not ordered.any():
        return RiskReasons(code, effect, {}, {}, horizon)
    typical = risk_model.typical_account(X, ordered)
    push = risk_model.contributions(rm, X, typical)
    order = np.argsort(-np.abs(push), axis=1, kind="stable")[:, :top]
    strength = np.round(np.take_along_axis(push, order, axis=1), 3)
    keep = np.cumprod(np.abs(strength) >= MIN_EFFECT, axis=1).astype(bool) & ordered[:, None]
    code = np.where(keep, order, -1)
    effect = np.where(keep, strength, 0.0)
    # Where the snapshot has no usual gap (too few order days), the span between orders.
    with np.errstate(invalid="ignore"):
        span_gap = (book.last_order - book.first_order) / np.maximum(book.order_days - 1, 1)
    q = book.spend_q
    own = {
        "order_days": book.order_days, "first_order": book.first_order,
        "gap": np.where(np.isnan(gap), np.round(span_gap, 1), np.nan),
        "last_quarter": np.round(q[:, 0], 2), "quarter_before": np.round(q[:, 1], 2),
        "last_90": book.interactions_90, "previous_90": book.interactions_prev_90,
        "nps": book.nps_min_90, "complaints": book.complaints_90,
        "expected": np.round(np.maximum(np.exp(X[:, -1]) - 0.01, 0.0), 2),
    }
    typ = {"recency_days": int(round(float(np.expm1(typical[0])))),
           "order_days": int(round(float(np.expm1(typical[1])))) + 1,
           "spend_12m": round(float(np.expm1(typical[2])), 2),
           "age_days": int(round(float(np.expm1(typical[3])))),
           "expected": round(max(float(np.exp(typical[-1]) - 0.01), 0.0), 2)}
    return RiskReasons(code, effect, own, typ, horizon)


def expand(stored: list, snapshot: Mapping, context: Mapping) -> list[dict]:
    """Stored reasons as [{"code", "effect", "params"}], their params the numbers a sentence
    says: the reason's own stored ones, the snapshot's columns (`as_of`, `recency_days`,
    `usual_gap_days`, `monetary`) and the run's `context` (typical account, horizon)."""
    return [{"code": code, "effect": effect,
             "params": _params(code, dict(zip(OWN[code], values)), snapshot, context)}
            for code, effect, *values in stored]


def _params(code: str, own: dict, snapshot: Mapping, context: Mapping) -> dict:
    typical, horizon = context["typical"], context["horizon_days"]
    recency = snapshot["recency_days"]
    if code == "recency":
        return {"recency_days": recency, "typical_recency_days": typical["recency_days"]}
    if code == "repeat_days":
        return {"order_days": own["order_days"], "typical_order_days": typical["order_days"],
                "first_order": own["first_order"]}
    if code == "spend_12m":
        return {"spend_12m": round(float(snapshot["monetary"]), 2),
                "typical_spend_12m": typical["spend_12m"]}
    if code == "age":
        age = (snapshot["as_of"] - date.fromisoformat(own["first_order"])).days
        return {"age_days": age, "typical_age_days": typical["age_days"]}
    if code in ("overdue", "far_overdue", "not_due"):
        gap = own["gap"] if "gap" in own else float(snapshot["usual_gap_days"])
        params = {"recency_days": recency, "usual_gap_days": gap}
        return params | {"horizon_days": horizon} if code == "not_due" else params
    if code == "expected_orders":
        return {"expected": own["expected"], "typical_expected": typical["expected"],
                "horizon_days": horizon}
    return own  # the trends, NPS and complaints: the account's own numbers only
