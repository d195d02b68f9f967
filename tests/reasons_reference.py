"""The oracle for the stored reasons: the risk reasons exactly as scoring/engine.py built
them before they were stored compactly (issue 12, commit 2abb97c), every number in each
reason's params. A test checks that what storage keeps and expands equals this."""
from __future__ import annotations

from datetime import date

import numpy as np

from scoring import risk as risk_model
from scoring.book import Book
from scoring.risk import RiskModel


def old_risk_reasons(book: Book, rm: RiskModel, X, ordered, recency, gap, horizon: int,
                  top: int) -> list[list[dict]]:
    """Each account's top reasons from the risk's per-feature contributions (log-odds
    against the book's typical account), strongest first, with the numbers to say them.

    Columns become Python lists once and each reason's numbers are picked from them: this
    runs for every account of the book, so no numpy scalar work per account."""
    n = len(book)
    out: list[list[dict]] = [[] for _ in range(n)]
    if not ordered.any():
        return out
    typical = risk_model.typical_account(X, ordered)
    effect = risk_model.contributions(rm, X, typical)
    order = np.argsort(-np.abs(effect), axis=1, kind="stable")[:, :top]
    strength = np.round(np.take_along_axis(effect, order, axis=1), 3)
    today = book.as_of.toordinal()
    q = book.spend_q
    own_gap = np.where(np.isnan(gap), (book.last_order - book.first_order)
                       / np.maximum(book.order_days - 1, 1), gap)
    col = {
        "recency": recency, "gap": np.round(np.nan_to_num(own_gap), 1),
        "days": book.order_days, "first": book.first_order,
        "spend": np.round(book.spend_window, 2), "age": today - book.first_order,
        "q0": np.round(q[:, 0], 2), "q1": np.round(q[:, 1], 2),
        "i90": book.interactions_90, "p90": book.interactions_prev_90,
        "nps": book.nps_min_90, "complaints": book.complaints_90,
        "expected": np.round(np.maximum(np.exp(X[:, -1]) - 0.01, 0.0), 2),
    }
    typ = {"recency": int(round(float(np.expm1(typical[0])))),
           "days": int(round(float(np.expm1(typical[1])))) + 1,
           "spend": round(float(np.expm1(typical[2])), 2),
           "age": int(round(float(np.expm1(typical[3])))),
           "expected": round(max(float(np.exp(typical[-1]) - 0.01), 0.0), 2)}
    firsts = np.unique(book.first_order[ordered]).tolist()
    iso = dict(zip(firsts, (date.fromordinal(d).isoformat() for d in firsts)))

    def build(name: str, idx: np.ndarray) -> list[dict]:
        """The numbers of reason `name` for the accounts at `idx` (one comprehension each)."""
        class Pick(dict):
            def __missing__(self, key):  # a column's values at idx, taken on first use
                self[key] = col[key][idx].tolist()
                return self[key]

        c = Pick()
        if name == "recency":
            return [{"recency_days": r, "typical_recency_days": typ["recency"]} for r in c["recency"]]
        if name == "repeat_days":
            return [{"order_days": d, "typical_order_days": typ["days"], "first_order": iso[f]}
                    for d, f in zip(c["days"], c["first"])]
        if name == "spend_12m":
            return [{"spend_12m": v, "typical_spend_12m": typ["spend"]} for v in c["spend"]]
        if name == "age":
            return [{"age_days": v, "typical_age_days": typ["age"]} for v in c["age"]]
        if name in ("overdue", "far_overdue"):
            return [{"recency_days": r, "usual_gap_days": g} for r, g in zip(c["recency"], c["gap"])]
        if name == "not_due":
            return [{"recency_days": r, "usual_gap_days": g, "horizon_days": horizon}
                    for r, g in zip(c["recency"], c["gap"])]
        if name == "spend_trend":
            return [{"last_quarter": a, "quarter_before": b} for a, b in zip(c["q0"], c["q1"])]
        if name == "contact_trend":
            return [{"last_90": a, "previous_90": b} for a, b in zip(c["i90"], c["p90"])]
        if name == "detractor":
            return [{"nps": v} for v in c["nps"]]
        if name == "complaint":
            return [{"complaints": v} for v in c["complaints"]]
        return [{"expected": v, "typical_expected": typ["expected"], "horizon_days": horizon}
                for v in c["expected"]]

    # Sorted by strength, so the reasons kept are a prefix of each row: under ~1 risk point
    # either way (|log-odds| < 0.05) is no reason, nor is anything after it.
    keep = np.cumprod(np.abs(strength) >= 0.05, axis=1).astype(bool) & ordered[:, None]
    for k in range(order.shape[1]):
        for j, name in enumerate(risk_model.FEATURES):
            idx = np.flatnonzero(keep[:, k] & (order[:, k] == j))
            if len(idx) == 0:
                continue
            for i, e, p in zip(idx.tolist(), strength[idx, k].tolist(), build(name, idx)):
                out[i].append({"code": name, "effect": e, "params": p})
    return out
