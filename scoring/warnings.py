"""Early warnings (流失预警), each a code with the numbers behind it, and the churn risk."""
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


def find_warnings(book: Book, *, recency, gap, p_alive, expected_90d,
                  cfg) -> tuple[list[list[Warning]], dict]:
    """Per-account warnings, and each warning's strength in [0, 1] for the risk score."""
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
        & (e90 < cfg["low_activity_ratio"] * own_rate_90d),
        "low_p_alive": ordered & (book.orders_all >= 2) & ~np.isnan(p_alive)
        & (np.nan_to_num(p_alive, nan=1.0) < cfg["low_p_alive"]),
        "detractor": (book.nps_min_90 >= 0) & (book.nps_min_90 <= cfg["detractor_nps"]),
        "complaint": book.complaints_90 > 0,
    }
    signals = {
        "spend_down": np.where(masks["spend_down_2q"], np.clip((fall_recent + fall_before), 0.3, 1), 0.0),
        "overdue": np.where(ordered, np.clip((overdue_ratio - 1) / 3, 0, 1), 0.0),
        # P(no order in the next 90 days) under the purchase model (Poisson approximation
        # of E[Y(90d)]): what the backtest's "churned" asks, and the strongest ranker.
        "no_order_90d": np.where(ordered & ~np.isnan(expected_90d), np.exp(-e90), 0.0),
        "interactions_falling": masks["interactions_falling"].astype(float),
        "detractor": masks["detractor"].astype(float),
        "complaint": np.minimum(book.complaints_90, 2) / 2.0,
    }
    warnings: list[list[Warning]] = [[] for _ in range(n)]
    any_mask = np.zeros(n, dtype=bool)
    for mask in masks.values():
        any_mask |= mask
    for i in np.flatnonzero(any_mask).tolist():
        warnings[i] = _warnings_of(i, masks, book, q, fall_recent, fall_before, recency, gap,
                                   p_alive, e90, own_rate_90d)
    return warnings, signals


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


def churn_risk(signals: dict[str, np.ndarray], weights: dict[str, float], *, dormant) -> np.ndarray:
    """0-100: a noisy-OR of the weighted signals; accounts already dormant are 100.

    Noisy-OR keeps one strong signal decisive and lets weak ones add up without passing 100."""
    keep = None
    for name, weight in weights.items():
        term = 1.0 - weight * np.clip(signals[name], 0.0, 1.0)
        keep = term if keep is None else keep * term
    risk = 100.0 * (1.0 - keep)
    return np.round(np.where(dormant, 100.0, risk), 1)
