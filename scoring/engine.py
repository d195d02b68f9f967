"""Scoring a whole book as of a date: RFM, lifecycle, warnings, risk, predictions, tiers."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from scoring.ranks import min_ranks

from scoring import risk as risk_model
from scoring.book import NO_DATE, Book
from scoring.btyd import BGNBD, GammaGamma, fit_bgnbd, fit_gamma_gamma
from scoring.config import ScoringConfig
from scoring.reasons import RiskReasons, build_reasons, expand
from scoring.risk import RiskModel
from scoring.tiers import Override, assign_tiers
from scoring.warnings import Warning, find_warnings

FIT_SAMPLE = 20_000  # accounts used to fit the models; predictions cover every account
WEEK = 7.0


@dataclass(frozen=True)
class Models:
    """The fitted models a score run used (or, given to `score_book`, uses instead of
    fitting: a fixed scored context). None: not fitted (too little data)."""

    bg: BGNBD | None
    gg: GammaGamma | None
    risk: RiskModel


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
    churn_risk: np.ndarray          # % P(no order in the next H days); nan if never ordered
    risk_rank: np.ndarray           # % of the book's ordering accounts with a lower risk
    risk_reasons: RiskReasons       # the risk's own top reasons (scoring.reasons)
    lifecycle_reason: list[dict]    # the numbers behind declining / dormant ({} otherwise)
    p_alive: np.ndarray             # nan where there is no model, and for one-order accounts
    expected_orders_90d: np.ndarray
    expected_order_value: np.ndarray
    clv_12m: np.ndarray
    next_order_date: list[date | None]
    warnings: list[list[Warning]]
    tier: np.ndarray                # str
    rule: list[str]
    matched: list[dict]
    next_visit_due: list[date]
    models: Models

    def reasons_of(self, i: int) -> list[dict]:
        """Account `i`'s risk reasons with their numbers, as its card will say them: the
        stored form expanded against the figures its snapshot stores (rounded alike)."""
        gap = float(np.round(self.usual_gap_days[i], 1))
        snapshot = {"as_of": self.as_of, "recency_days": int(self.recency_days[i]),
                    "usual_gap_days": None if gap != gap else gap,
                    "monetary": float(np.round(self.monetary[i], 4))}
        return expand(self.risk_reasons.stored(i), snapshot, self.risk_reasons.context())


def quintile_scores(values: np.ndarray) -> np.ndarray:
    """1-5 by rank across the book; equal values always get the same score."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=int)
    ranks = min_ranks(values)
    return (1 + (5 * (ranks - 1)) // n).astype(int)


def score_book(book: Book, config: ScoringConfig, *, previous: dict[int, str] | None = None,
               overrides: dict[int, Override] | None = None,
               models: Models | None = None) -> Scores:
    """Score every account of `book` as of `book.as_of`.

    `previous` maps account id -> tier of the last snapshot (for hysteresis); `overrides`
    are the human overrides in force. `models` replaces the fitted models with given ones
    (a fixed scored context: golden transcripts must not depend on an optimiser's last
    digit)."""
    today = book.as_of.toordinal()
    horizon = int(config.risk["horizon_days"])
    ordered = book.last_order != NO_DATE
    recency = np.where(ordered, today - book.last_order, -1)
    gap = _usual_gap(book, int(config.warnings["min_orders_for_gap"]))
    r = np.where(ordered, quintile_scores(np.where(ordered, -recency, -np.inf)), 1)
    f = quintile_scores(book.orders_window.astype(float))
    m = quintile_scores(book.spend_window.astype(float))
    lifecycle, lifecycle_reason = _lifecycle(book, recency, gap, config.lifecycle)
    bg, gg, p_alive, e90, e_value, clv = _predictions(book, models)
    rm = models.risk if models else risk_model.fit_risk_model(
        book.history, book.as_of, horizon, window_days=config.window_days,
        detractor_nps=int(config.warnings["detractor_nps"]))
    X = risk_model.features(book, bg, horizon, int(config.warnings["detractor_nps"]))
    risk = risk_model.churn_risk(book, rm, X, bg)
    if bg is not None:  # expected orders and value agree with the risk (one belief)
        factor = risk_model.activity_factor(book, bg, risk, horizon)
        e90, clv = e90 * factor, clv * factor
        p_alive = np.minimum(p_alive * factor, 1.0)
    rank = _risk_rank(risk)
    # The reasons say the horizon of the model in use, as the card does (the same number).
    reasons = build_reasons(book, rm, X, ordered, gap, rm.horizon_days,
                            int(config.risk.get("reasons", 3)))
    warnings = find_warnings(book, recency=recency, gap=gap, p_alive=p_alive,
                                expected_90d=e90, cfg=config.warnings, risk=risk)
    age = np.where(ordered, today - book.first_order, -1)
    next_order = _next_order_dates(book, gap, risk)
    # Days until the account's own rhythm says its next order is due (negative: overdue;
    # 0 without a rhythm of its own): a slow buyer between orders is not "going quiet".
    days_to_due = np.array([0 if d is None else d.toordinal() - today for d in next_order])
    values = {"r_score": r, "f_score": f, "m_score": m, "recency_days": recency,
              "frequency": book.orders_window, "monetary": book.spend_window,
              "churn_risk": np.nan_to_num(risk, nan=0.0), "risk_rank": np.nan_to_num(rank, nan=0.0),
              "p_alive": np.nan_to_num(p_alive, nan=1.0), "age_days": age, "lifecycle": lifecycle,
              "days_to_due": days_to_due}
    tier, rule, matched = assign_tiers(book.account_id, values, config, previous or {},
                                       overrides or {}, book.as_of)
    return Scores(
        as_of=book.as_of, account_id=book.account_id, recency_days=recency,
        frequency=book.orders_window, monetary=book.spend_window, r_score=r, f_score=f,
        m_score=m, lifecycle=lifecycle, usual_gap_days=gap, churn_risk=risk, risk_rank=rank,
        risk_reasons=reasons, lifecycle_reason=lifecycle_reason,
        p_alive=np.where(book.order_days >= 2, p_alive, np.nan),
        expected_orders_90d=e90, expected_order_value=e_value, clv_12m=clv,
        next_order_date=next_order,
        warnings=warnings, tier=tier, rule=rule, matched=matched,
        next_visit_due=_next_visits(book, tier, config.cadence_days),
        models=Models(bg, gg, rm))


def _risk_rank(risk: np.ndarray) -> np.ndarray:
    """0-100: the share of the book's ordering accounts with a lower risk (nan: never ordered).

    Relative to the book, so "the riskiest fifth" means the same in a book where 80% of
    accounts stop buying within the horizon and in one where 10% do."""
    from scoring.ranks import min_ranks

    out = np.full(len(risk), np.nan)
    known = ~np.isnan(risk)
    n = int(known.sum())
    if n:
        out[known] = 100.0 * (min_ranks(risk[known]) - 1) / n
    return out


def _usual_gap(book: Book, min_orders: int) -> np.ndarray:
    """Mean days between order DAYS over the account's history (nan with too few)."""
    span = (book.last_order - book.first_order).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = span / (book.order_days - 1)
    return np.where(book.order_days >= min_orders, gap, np.nan)


def _lifecycle(book: Book, recency, gap, cfg) -> tuple[np.ndarray, list[dict]]:
    """The stage of every account, and for declining and dormant ones the numbers why."""
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
    halved = trend <= cfg["decline_ratio"]
    declining = ~never & (halved | two_quarters_down)
    new = never | (age < cfg["new_days"])
    growing = (age < cfg["growing_days"]) | ((trend >= cfg["growth_ratio"]) & (prev > 0))
    stage = np.select([dormant, new, declining, growing],
                      ["dormant", "new", "declining", "growing"], "mature").astype(object)
    reasons: list[dict] = [{} for _ in range(len(book))]
    for i in np.flatnonzero(stage == "dormant").tolist():
        own = gap[i] == gap[i]
        reasons[i] = {"code": "dormant", "days_since_order": int(recency[i]),
                      "gap_days": round(float(gap_or_book[i]), 1), "own_gap": bool(own)}
    for i in np.flatnonzero(stage == "declining").tolist():
        if halved[i]:
            reasons[i] = {"code": "spend_halved", "spend_12m": round(float(book.spend_window[i]), 2),
                          "spend_prev_12m": round(float(prev[i]), 2)}
        else:
            reasons[i] = {"code": "two_quarters_down", "last_quarter": round(float(q[i, 0]), 2),
                          "quarter_before": round(float(q[i, 1]), 2),
                          "two_quarters_ago": round(float(q[i, 2]), 2)}
    return stage, reasons


def _predictions(book: Book, models: Models | None = None):
    """BG/NBD and Gamma-Gamma over the book (weeks), applied to every account that ordered.

    Purchases are order DAYS (several lines on one day are one purchase). With `models`,
    those are applied instead of fitting new ones."""
    n = len(book)
    nan = np.full(n, np.nan)
    ordered = book.last_order != NO_DATE
    x, t_x, T = risk_model.bg_inputs(book)
    idx = np.flatnonzero(ordered & (T > 0))
    if models is None and (len(idx) < 20 or not np.any(x[idx] > 0)):
        return None, None, nan, nan, nan, nan
    # A fixed, evenly spread subsample keeps fitting time flat on big books (deterministic).
    sample = idx[np.linspace(0, len(idx) - 1, min(len(idx), FIT_SAMPLE)).astype(int)]
    bg = models.bg if models else fit_bgnbd(x[sample], t_x[sample], T[sample])
    if bg is None:
        return None, None, nan, nan, nan, nan
    p_alive, e90 = nan.copy(), nan.copy()
    p_alive[idx] = bg.p_alive(x[idx], t_x[idx], T[idx])
    e90[idx] = bg.expected_transactions(90 / WEEK, x[idx], t_x[idx], T[idx])
    e52 = np.full(n, np.nan)
    e52[idx] = bg.expected_transactions(52.0, x[idx], t_x[idx], T[idx])
    gg, e_value = None, nan.copy()
    try:
        gg = models.gg if models else fit_gamma_gamma(x[sample], book.avg_order_value[sample])
        if gg is None:
            raise ValueError("no Gamma-Gamma model")
        e_value[idx] = gg.expected_value(x[idx], book.avg_order_value[idx])
    except ValueError:
        e_value[idx] = book.avg_order_value[idx]
    return bg, gg, p_alive, e90, e_value, e52 * e_value


def _next_order_dates(book: Book, gap, risk) -> list[date | None]:
    """When the account's own rhythm says its next order is due: last order + usual gap.

    It may lie in the past: the card then says when it was expected and that it is
    overdue (never "expected today"). Without a rhythm of its own (fewer order days than
    a usual gap needs) there is no date; the card gives the chance of an order instead."""
    out: list[date | None] = []
    for last, g in zip(book.last_order.tolist(), gap.tolist()):
        if last == NO_DATE or g != g:  # g != g: nan
            out.append(None)
        else:
            out.append(date.fromordinal(int(round(last + g))))
    return out


def _next_visits(book: Book, tier, cadence: dict[str, int]) -> list[date]:
    today = book.as_of.toordinal()
    days = np.array([cadence[t] for t in tier], dtype=int) if len(tier) else np.zeros(0, int)
    due = np.where(book.last_interaction == NO_DATE, today, book.last_interaction + days)
    return [date.fromordinal(int(d)) for d in due]
