"""Early warnings (流失预警), each a code with the numbers behind it.

Warnings are facts shown on the card; they do not add into the churn risk (the learned
risk has its own features and explains itself). The two that are the purchase model's
opinion (low_activity, low_p_alive) are shown only when the risk agrees (>= 50%), so the
card never says "the model expects few orders" beside "likely to order"."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scoring.book import NO_DATE, Book

CODES = ("spend_down_2q", "overdue", "interactions_falling", "low_activity", "low_p_alive",
         "detractor", "complaint")


@dataclass(frozen=True)
class Warning:
    code: str
    params: dict = field(default_factory=dict)


def find_warnings(book: Book, *, recency, gap, p_alive, expected_90d, cfg,
                  risk=None) -> list[list[Warning]]:
    """Per-account warnings. `risk` (% P(no order in the horizon)): the purchase model's
    own warnings are kept only where it is 50 or more."""
    n = len(book)
    q = book.spend_q
    drop = cfg["quarter_drop"]
    with np.errstate(divide="ignore", invalid="ignore"):
        fall_recent = np.where(q[:, 1] > 0, 1 - q[:, 0] / q[:, 1], 0.0)
        fall_before = np.where(q[:, 2] > 0, 1 - q[:, 1] / q[:, 2], 0.0)
        overdue_ratio = np.where(np.isnan(gap) | (gap <= 0), 0.0, recency / gap)
        inter_ratio = np.where(book.interactions_prev_90 > 0,
                               book.interactions_90 / book.interactions_prev_90, 1.0)
    ordered = book.last_order != NO_DATE
    agrees = np.ones(n, dtype=bool) if risk is None else np.nan_to_num(risk, nan=0.0) >= 50.0
    e90 = np.nan_to_num(expected_90d, nan=0.0)
    own_rate_90d = book.orders_window * 90.0 / 365.0
    masks = {
        "spend_down_2q": (q[:, 2] > 0) & (fall_recent >= drop) & (fall_before >= drop),
        "overdue": ordered & (overdue_ratio >= cfg["overdue_gap_multiple"]),
        "interactions_falling": (book.interactions_prev_90 >= cfg["min_interactions"])
        & (inter_ratio <= cfg["interaction_drop"]),
        # One-order accounts have P(alive) = 1 by construction: no signal there.
        "low_activity": ordered & ~np.isnan(expected_90d)
        & (book.orders_window >= cfg["min_orders_for_activity"])
        & (e90 < cfg["low_activity_ratio"] * own_rate_90d) & agrees,
        "low_p_alive": ordered & (book.order_days >= 2) & ~np.isnan(p_alive)
        & (np.nan_to_num(p_alive, nan=1.0) < cfg["low_p_alive"]) & agrees,
        "detractor": (book.nps_min_90 >= 0) & (book.nps_min_90 <= cfg["detractor_nps"]),
        "complaint": book.complaints_90 > 0,
    }
    warnings: list[list[Warning]] = [[] for _ in range(n)]
    any_mask = np.zeros(n, dtype=bool)
    for mask in masks.values():
        any_mask |= mask
    for i in np.flatnonzero(any_mask).tolist():
        warnings[i] = _warnings_of(i, masks, book, q, fall_recent, fall_before, recency, gap,
                                   p_alive, e90, own_rate_90d)
    return warnings


def _warnings_of(i, masks, book, q, fall_recent, fall_before, recency, gap, p_alive, e90,
                 own_rate_90d):
    out = []
    if masks["spend_down_2q"][i]:
        out.append(Warning("spend_down_2q", {
            "last_quarter": round(float(q[i, 0]), 2), "quarter_before": round(float(q[i, 1]), 2),
            "two_quarters_ago": round(float(q[i, 2]), 2),
            "drop_recent_pct": round(100 * float(fall_recent[i]), 1),
            "drop_before_pct": round(100 * float(fall_before[i]), 1)}))
    if masks["overdue"][i]:
        out.append(Warning("overdue", {"days_since_order": int(recency[i]),
                                       "usual_gap_days": round(float(gap[i]), 1)}))
    if masks["interactions_falling"][i]:
        out.append(Warning("interactions_falling", {
            "last_90": int(book.interactions_90[i]), "previous_90": int(book.interactions_prev_90[i])}))
    if masks["low_activity"][i]:
        out.append(Warning("low_activity", {"expected_90d": round(float(e90[i]), 1),
                                            "orders_12m": int(book.orders_window[i]),
                                            "usual_90d": round(float(own_rate_90d[i]), 1)}))
    if masks["low_p_alive"][i]:
        out.append(Warning("low_p_alive", {"p_alive_pct": round(100 * float(p_alive[i]), 1)}))
    if masks["detractor"][i]:
        out.append(Warning("detractor", {"nps": int(book.nps_min_90[i])}))
    if masks["complaint"][i]:
        out.append(Warning("complaint", {"complaints": int(book.complaints_90[i])}))
    return out
