"""Scoring a whole book as of a date: RFM, lifecycle, warnings, risk, predictions, tiers."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from scoring.ranks import min_ranks

from scoring.book import NO_DATE, Book
from scoring.btyd import BGNBD, GammaGamma, fit_bgnbd, fit_gamma_gamma
from scoring.config import ScoringConfig
from scoring.tiers import Override, assign_tiers
from scoring.warnings import Warning, find_warnings, churn_risk

FIT_SAMPLE = 20_000  # accounts used to fit the models; predictions cover every account
WEEK = 7.0


@dataclass
class Scores:
    """Per-account results, aligned with `book.account_id`."""

    as_of: date
    account_id: np.ndarray
    recency_days: np.ndarray        # -1 if never ordered
    frequency: np.ndarray
    monetary: np.ndarray
    r_score: np.ndarray
    f_score: np.ndarray
    m_score: np.ndarray
    lifecycle: np.ndarray           # str
    usual_gap_days: np.ndarray      # nan without enough orders
    churn_risk: np.ndarray
    p_alive: np.ndarray             # nan where there is no model
    expected_orders_90d: np.ndarray
    expected_order_value: np.ndarray
    clv_12m: np.ndarray
    next_order_date: list[date | None]
    warnings: list[list[Warning]]
    tier: np.ndarray                # str
    rule: list[str]
    matched: list[dict]
    next_visit_due: list[date]
    models: tuple[BGNBD | None, GammaGamma | None]


def quintile_scores(values: np.ndarray) -> np.ndarray:
    """1-5 by rank across the book; equal values always get the same score."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=int)
    ranks = min_ranks(values)
    return (1 + (5 * (ranks - 1)) // n).astype(int)


def score_book(book: Book, config: ScoringConfig, *, previous: dict[int, str] | None = None,
               overrides: dict[int, Override] | None = None,
               models: tuple[BGNBD, GammaGamma] | None = None) -> Scores:
    """Score every account of `book` as of `book.as_of`.

    `previous` maps account id -> tier of the last snapshot (for hysteresis); `overrides`
    are the human overrides in force. `models` replaces the fitted models with given ones
    (a fixed scored context: golden transcripts must not depend on an optimiser's last
    digit)."""
    today = book.as_of.toordinal()
    ordered = book.last_order != NO_DATE
    recency = np.where(ordered, today - book.last_order, -1)
    gap = _usual_gap(book, int(config.warnings["min_orders_for_gap"]))
    r = np.where(ordered, quintile_scores(np.where(ordered, -recency, -np.inf)), 1)
    f = quintile_scores(book.orders_window.astype(float))
    m = quintile_scores(book.spend_window.astype(float))
    lifecycle = _lifecycle(book, recency, gap, config.lifecycle)
    bg, gg, p_alive, e90, e_value, clv = _predictions(book, models)
    warnings, signals = find_warnings(book, recency=recency, gap=gap, p_alive=p_alive,
                                      expected_90d=e90, cfg=config.warnings)
    risk = churn_risk(signals, config.risk, dormant=lifecycle == "dormant")
    age = np.where(ordered, today - book.first_order, -1)
    values = {"r_score": r, "f_score": f, "m_score": m, "recency_days": recency,
              "frequency": book.orders_window, "monetary": book.spend_window,
              "churn_risk": risk, "p_alive": np.nan_to_num(p_alive, nan=1.0),
              "age_days": age, "lifecycle": lifecycle}
    tier, rule, matched = assign_tiers(book.account_id, values, config, previous or {},
                                       overrides or {}, book.as_of)
    return Scores(
        as_of=book.as_of, account_id=book.account_id, recency_days=recency,
        frequency=book.orders_window, monetary=book.spend_window, r_score=r, f_score=f,
        m_score=m, lifecycle=lifecycle, usual_gap_days=gap, churn_risk=risk, p_alive=p_alive,
        expected_orders_90d=e90, expected_order_value=e_value, clv_12m=clv,
        next_order_date=_next_order_dates(book, gap, p_alive, e90),
        warnings=warnings, tier=tier, rule=rule, matched=matched,
        next_visit_due=_next_visits(book, tier, config.cadence_days),
        models=(bg, gg))


def _usual_gap(book: Book, min_orders: int) -> np.ndarray:
    """Mean days between order days over the account's history (nan with too few)."""
    span = (book.last_order - book.first_order).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = span / (book.orders_all - 1)
    return np.where(book.orders_all >= min_orders, gap, np.nan)


def _lifecycle(book: Book, recency, gap, cfg) -> np.ndarray:
    today = book.as_of.toordinal()
    age = today - book.first_order
    never = book.last_order == NO_DATE
    prev = book.spend_prev_window
    with np.errstate(divide="ignore", invalid="ignore"):
        trend = np.where(prev > 0, book.spend_window / prev, np.inf)
    gap_or_book = np.where(np.isnan(gap), np.nanmedian(gap) if np.any(~np.isnan(gap)) else 30, gap)
    dormant = ~never & (recency >= cfg["dormant_days"]) & (
        recency >= cfg["dormant_gap_multiple"] * gap_or_book)
    q = book.spend_q
    two_quarters_down = (q[:, 0] < q[:, 1]) & (q[:, 1] < q[:, 2])
    declining = ~never & ((trend <= cfg["decline_ratio"]) | two_quarters_down)
    new = never | (age < cfg["new_days"])
    growing = (age < cfg["growing_days"]) | ((trend >= cfg["growth_ratio"]) & (prev > 0))
    return np.select([dormant, new, declining, growing],
                     ["dormant", "new", "declining", "growing"], "mature").astype(object)


def _predictions(book: Book, models: tuple[BGNBD, GammaGamma] | None = None):
    """BG/NBD and Gamma-Gamma over the book (weeks), applied to every account that ordered.

    With `models`, those are applied instead of fitting new ones."""
    n = len(book)
    nan = np.full(n, np.nan)
    ordered = book.last_order != NO_DATE
    today = book.as_of.toordinal()
    x = np.maximum(book.orders_all - 1, 0).astype(float)
    t_x = (book.last_order - book.first_order) / WEEK
    T = (today - book.first_order) / WEEK
    idx = np.flatnonzero(ordered & (T > 0))
    if len(idx) < 20 or not np.any(x[idx] > 0):
        return None, None, nan, nan, nan, nan
    # A fixed, evenly spread subsample keeps fitting time flat on big books (deterministic).
    sample = idx[np.linspace(0, len(idx) - 1, min(len(idx), FIT_SAMPLE)).astype(int)]
    bg = models[0] if models else fit_bgnbd(x[sample], t_x[sample], T[sample])
    p_alive, e90 = nan.copy(), nan.copy()
    p_alive[idx] = bg.p_alive(x[idx], t_x[idx], T[idx])
    e90[idx] = bg.expected_transactions(90 / WEEK, x[idx], t_x[idx], T[idx])
    e52 = np.full(n, np.nan)
    e52[idx] = bg.expected_transactions(52.0, x[idx], t_x[idx], T[idx])
    gg, e_value = None, nan.copy()
    try:
        gg = models[1] if models else fit_gamma_gamma(x[sample], book.avg_order_value[sample])
        e_value[idx] = gg.expected_value(x[idx], book.avg_order_value[idx])
    except ValueError:
        e_value[idx] = book.avg_order_value[idx]
    return bg, gg, p_alive, e90, e_value, e52 * e_value


def _next_order_dates(book: Book, gap, p_alive, e90) -> list[date | None]:
    """The account's own rhythm while it looks alive; else the model's expected rate."""
    today = book.as_of.toordinal()
    out: list[date | None] = []
    for last, g, p, e in zip(book.last_order.tolist(), gap.tolist(), p_alive.tolist(), e90.tolist()):
        if last == NO_DATE:
            out.append(None)
        elif g == g and p == p and p >= 0.5:  # g == g: not nan
            out.append(date.fromordinal(max(today, int(round(last + g)))))
        elif e == e and e > 0.05:
            out.append(date.fromordinal(today + min(730, int(round(90 / e)))))
        else:
            out.append(None)
    return out


def _next_visits(book: Book, tier, cadence: dict[str, int]) -> list[date]:
    today = book.as_of.toordinal()
    days = np.array([cadence[t] for t in tier], dtype=int) if len(tier) else np.zeros(0, int)
    due = np.where(book.last_interaction == NO_DATE, today, book.last_interaction + days)
    return [date.fromordinal(int(d)) for d in due]


