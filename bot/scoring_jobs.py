"""Rescoring and backtesting the book: storage and scoring put together."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from sqlalchemy.engine import Engine

from scoring.book import NO_DATE
from scoring.config import ScoringConfig
from scoring.engine import Models, score_book
from scoring.metrics import bootstrap_aucs, calibration, interval, roc_auc, top_decile
from storage.rates import MissingRates
from storage.scores import (accounts_with_orders, current_run, load_book, load_overrides,
                            load_previous_tiers, risk_model_record,
                            save_snapshot)


@dataclass
class ScoreRunResult:
    run_id: int
    as_of: date
    counts: Counter
    moves: Counter
    first_run: bool  # no earlier run (by date) to compare with
    risk_model: dict        # the churn-risk model used: kind, reason, figures
    current: tuple[int, date] | None = None  # (id, as_of) of the current run, when not this one


class NothingToScore(Exception):
    """The book is empty, or has too little history for what was asked; says what to do."""


class FutureAsOf(NothingToScore):
    """A score dated after today: it would become the current run and drive every card
    (and "at-risk since" dates) with a day that hasn't happened."""


MIN_BACKTEST_ACCOUNTS = 20


def rescore(engine: Engine, config: ScoringConfig, as_of: date, *,
            models: Models | None = None, today: date | None = None,
            currency: str = "USD") -> ScoreRunResult:
    """Score the whole book as of `as_of` and store a snapshot per account, every amount
    in `currency`, the reporting currency (refused, RatesMissing, while orders are in a
    currency without a rate into it).

    Tiers and movements follow the run that was current on `as_of` (for a backdated run,
    the run before it by date, not the newest). With `today`, an `as_of` after it is refused
    (FutureAsOf). `models` (tests only) applies given models instead of fitting them."""
    if today is not None and as_of > today:
        raise FutureAsOf(f"--as-of {as_of} is after today ({today}): a score can only use "
                         "data up to a day that has happened. Leave --as-of out to score as "
                         "of today, or give an earlier date.")
    previous = load_previous_tiers(engine, on=as_of)
    book = _load(engine, as_of, config, currency)
    if len(book) == 0:
        raise NothingToScore("There are no accounts yet. Import them first (tierbot import "
                             "accounts FILE, or orders) or load the demo (tierbot demo).")
    scores = score_book(book, config, previous={a: p.tier for a, p in previous.items()},
                        overrides=load_overrides(engine, as_of), models=models)
    run_id, moves = save_snapshot(engine, scores, previous, currency=currency)
    with engine.connect() as conn:
        now_current = current_run(conn)
    other = None if now_current.id == run_id else (now_current.id, now_current.as_of)
    return ScoreRunResult(run_id, as_of, Counter(scores.tier.tolist()), moves, not previous,
                          risk_model_record(scores), other)


class RatesMissing(NothingToScore):
    """Orders in currencies without a rate into the reporting currency: scoring them would
    add unconverted amounts (the message names the currencies and says what to do)."""

    def __init__(self, missing: MissingRates):
        super().__init__(f"Nothing was scored. {missing}")
        self.currencies, self.reporting = missing.currencies, missing.reporting


def _load(engine: Engine, as_of: date, config: ScoringConfig, currency: str):
    try:
        return load_book(engine, as_of, window_days=config.window_days, currency=currency)
    except MissingRates as exc:
        raise RatesMissing(exc) from None


class BacktestRefused(NothingToScore):
    """A cut whose horizon has not ended yet: there is nothing to check against."""


@dataclass
class Backtest:
    """How the churn risk, recency alone and BG/NBD ranked who then placed no order."""

    as_of: date
    horizon_days: int
    accounts: int           # accounts that had ordered by as_of
    churned: int            # of those, no order within the horizon
    model: dict             # the risk model used at this cut: kind, reason, facts
    auc: dict               # risk, recency, bgnbd -> ROC AUC
    auc_ci: dict            # -> (low, high), bootstrap 95%
    diff: dict              # "risk-recency", "risk-bgnbd" -> (difference, low, high)
    top_decile_precision: float
    top_decile_lift: float
    calibration: list       # by decile of the risk: predicted % vs observed %

    @property
    def auc_risk(self) -> float:
        return self.auc["risk"]

    @property
    def auc_recency(self) -> float:
        return self.auc["recency"]

    def as_dict(self) -> dict:
        def clean(v):
            if isinstance(v, float):
                return None if v != v else round(v, 4)
            if isinstance(v, (tuple, list)):
                return [clean(x) for x in v]
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            return v
        return clean({k: v for k, v in self.__dict__.items() if k != "as_of"}) | {
            "as_of": self.as_of.isoformat(), "auc_risk": clean(self.auc_risk),
            "auc_recency": clean(self.auc_recency)}


BACKTEST_HORIZONS = (30, 90, 180)


def default_cuts(today: date, horizons, count: int = 3, step_days: int = 91) -> list[date]:
    """`count` cut dates `step_days` apart, the newest the latest whose longest horizon has
    ended by `today`."""
    newest = today - timedelta(days=max(horizons))
    return [newest - timedelta(days=step_days * k) for k in range(count)][::-1]


def check_cuts(cuts, horizons, today: date) -> None:
    """Refuse any cut whose horizon ends after `today`, saying which and what to pick."""
    for cut in cuts:
        for h in horizons:
            end = cut + timedelta(days=h)
            if end > today:
                raise BacktestRefused(
                    f"The {h}-day horizon after {cut} ends on {end}, after today ({today}): "
                    f"what happened in it is not known yet. Pick a cut on or before "
                    f"{today - timedelta(days=h)} for a {h}-day horizon.")


def backtest_many(engine: Engine, config: ScoringConfig, cuts, horizons, *, today: date,
                  reps: int = 200, currency: str = "USD") -> list[Backtest]:
    """`backtest` at every cut and horizon, after refusing any that has not ended."""
    check_cuts(cuts, horizons, today)
    return [backtest(engine, config, cut, h, reps=reps, currency=currency)
            for cut in cuts for h in horizons]


def backtest(engine: Engine, config: ScoringConfig, as_of: date, horizon_days: int = 90, *,
             reps: int = 200, currency: str = "USD") -> Backtest:
    """Score with the data up to `as_of` (the risk learned for this horizon from the data
    before it), then check against who placed no order in (as_of, as_of + horizon]."""
    from dataclasses import replace

    from scoring.risk import p_no_order

    book = _load(engine, as_of, config, currency)
    active = book.last_order != NO_DATE
    if active.sum() < MIN_BACKTEST_ACCOUNTS:
        raise NothingToScore(
            f"Only {int(active.sum())} accounts had ordered by {as_of}; a backtest needs at "
            f"least {MIN_BACKTEST_ACCOUNTS}. Pick a later --as-of.")
    cfg = replace(config, risk={**config.risk, "horizon_days": horizon_days})
    scores = score_book(book, cfg)
    bought = accounts_with_orders(engine, as_of, as_of + timedelta(days=horizon_days))
    churned = ~np.isin(book.account_id, list(bought))
    y = churned[active]
    bg = scores.models.bg
    ranked = {"risk": scores.churn_risk[active], "recency": scores.recency_days[active].astype(float),
              "bgnbd": (p_no_order(book, bg, horizon_days)[active] if bg is not None
                        else np.full(int(active.sum()), np.nan))}
    auc = {k: roc_auc(v, y) if not np.isnan(v).all() else float("nan") for k, v in ranked.items()}
    draws = bootstrap_aucs(ranked, y, reps=reps)
    diff = {}
    for other in ("recency", "bgnbd"):
        lo, hi = interval(draws["risk"] - draws[other])
        diff[f"risk-{other}"] = (auc["risk"] - auc[other], lo, hi)
    precision, lift = top_decile(ranked["risk"], y)
    rm = scores.models.risk
    return Backtest(
        as_of=as_of, horizon_days=horizon_days, accounts=int(active.sum()), churned=int(y.sum()),
        model={"kind": rm.kind, "reason": rm.reason, "facts": rm.facts},
        auc=auc, auc_ci={k: interval(v) for k, v in draws.items()}, diff=diff,
        top_decile_precision=precision, top_decile_lift=lift,
        calibration=calibration(ranked["risk"], y))

