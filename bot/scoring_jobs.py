"""Rescoring and backtesting the book: storage and scoring put together."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from sqlalchemy.engine import Engine

from scoring.book import NO_DATE
from scoring.config import ScoringConfig
from scoring.engine import Scores, score_book
from scoring.metrics import roc_auc, top_decile
from storage.scores import (accounts_with_orders, current_run, load_book, load_overrides,
                            load_previous_tiers,
                            save_snapshot)


@dataclass
class ScoreRunResult:
    run_id: int
    as_of: date
    counts: Counter
    moves: Counter
    first_run: bool  # no earlier run (by date) to compare with
    current: tuple[int, date] | None = None  # (id, as_of) of the current run, when not this one


class NothingToScore(Exception):
    """The book is empty, or has too little history for what was asked; says what to do."""


class FutureAsOf(NothingToScore):
    """A score dated after today: it would become the current run and drive every card
    (and "at-risk since" dates) with a day that hasn't happened."""


MIN_BACKTEST_ACCOUNTS = 20


def rescore(engine: Engine, config: ScoringConfig, as_of: date, *,
            models: tuple | None = None, today: date | None = None) -> ScoreRunResult:
    """Score the whole book as of `as_of` and store a snapshot per account.

    Tiers and movements follow the run that was current on `as_of` (for a backdated run,
    the run before it by date, not the newest). With `today`, an `as_of` after it is refused
    (FutureAsOf). `models` (tests only) applies given models instead of fitting them."""
    if today is not None and as_of > today:
        raise FutureAsOf(f"--as-of {as_of} is after today ({today}): a score can only use "
                         "data up to a day that has happened. Leave --as-of out to score as "
                         "of today, or give an earlier date.")
    previous = load_previous_tiers(engine, on=as_of)
    book = load_book(engine, as_of, window_days=config.window_days)
    if len(book) == 0:
        raise NothingToScore("There are no accounts yet. Import them first (tierbot import "
                             "accounts FILE, or orders) or load the demo (tierbot demo).")
    scores = score_book(book, config, previous={a: p.tier for a, p in previous.items()},
                        overrides=load_overrides(engine, as_of), models=models)
    run_id, moves = save_snapshot(engine, scores, previous)
    with engine.connect() as conn:
        now_current = current_run(conn)
    other = None if now_current.id == run_id else (now_current.id, now_current.as_of)
    return ScoreRunResult(run_id, as_of, Counter(scores.tier.tolist()), moves, not previous,
                          other)


@dataclass
class Backtest:
    as_of: date
    horizon_days: int
    accounts: int           # accounts that had ordered by as_of
    churned: int            # of those, no order within the horizon
    auc_risk: float
    auc_recency: float
    top_decile_precision: float
    top_decile_lift: float
    tier_moved_share: float

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v)
                for k, v in self.__dict__.items() if k != "as_of"} | {"as_of": self.as_of.isoformat()}


def backtest(engine: Engine, config: ScoringConfig, as_of: date, horizon_days: int = 90) -> Backtest:
    """Score with data up to `as_of`, then check against the next `horizon_days`.

    'Churned' = no order in (as_of, as_of + horizon]. Compares the churn risk with recency
    alone, and counts how many tiers moved when rescored at the horizon's end."""
    end = as_of + timedelta(days=horizon_days)
    book = load_book(engine, as_of, window_days=config.window_days)
    active = book.last_order != NO_DATE
    if active.sum() < MIN_BACKTEST_ACCOUNTS:
        raise NothingToScore(
            f"Only {int(active.sum())} accounts had ordered by {as_of}; a backtest needs at "
            f"least {MIN_BACKTEST_ACCOUNTS}. Pick a later --as-of.")
    before = score_book(book, config)
    bought = accounts_with_orders(engine, as_of, end)
    churned = ~np.isin(book.account_id, list(bought))
    later = score_book(load_book(engine, end, window_days=config.window_days), config,
                       previous=dict(zip(before.account_id.tolist(), before.tier.tolist())))
    precision, lift = top_decile(before.churn_risk[active], churned[active])
    return Backtest(
        as_of=as_of, horizon_days=horizon_days, accounts=int(active.sum()),
        churned=int(churned[active].sum()),
        auc_risk=roc_auc(before.churn_risk[active], churned[active]),
        auc_recency=roc_auc(before.recency_days[active], churned[active]),
        top_decile_precision=precision, top_decile_lift=lift,
        tier_moved_share=_moved_share(before, later))


def _moved_share(before: Scores, later: Scores) -> float:
    later_tier = dict(zip(later.account_id.tolist(), later.tier.tolist()))
    moved = [later_tier.get(a) != t for a, t in zip(before.account_id.tolist(), before.tier.tolist())]
    return float(np.mean(moved)) if moved else float("nan")

