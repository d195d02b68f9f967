"""Build small Books by hand: each account a dict of the fields that matter to a test."""
from __future__ import annotations

from datetime import date

import numpy as np

from bot.scoring_config import load_scoring_config
from scoring.book import NO_DATE, Book

AS_OF = date(2026, 11, 22)
T = AS_OF.toordinal()
DEFAULTS = dict(orders_all=0, order_days=0, first_order=NO_DATE, last_order=NO_DATE, spend_all=0.0,
                orders_window=0, spend_window=0.0, spend_prev_window=0.0,
                spend_q=(0.0, 0.0, 0.0), avg_order_value=0.0, interactions_90=0,
                interactions_prev_90=0, last_interaction=NO_DATE, nps_min_90=-1, complaints_90=0)


def regular(days_between: int, orders: int, last_days_ago: int, amount: float = 1000.0, **extra):
    """An account that ordered `orders` times, every `days_between` days, last `last_days_ago`."""
    last = T - last_days_ago
    first = last - days_between * (orders - 1)
    in_window = sum(1 for k in range(orders) if T - (last - k * days_between) < 365)
    quarters = [sum(amount for k in range(orders) if lo <= T - (last - k * days_between) < hi)
                for lo, hi in ((0, 91), (91, 182), (182, 273))]
    acc = dict(orders_all=orders, order_days=orders, first_order=first, last_order=last,
               spend_all=amount * orders, orders_window=in_window,
               spend_window=amount * in_window, spend_prev_window=amount * in_window,
               spend_q=tuple(quarters), avg_order_value=amount)
    acc.update(extra)
    return acc


def book(*accounts: dict, as_of: date = AS_OF) -> Book:
    cols = {k: [] for k in DEFAULTS}
    for acc in accounts:
        unknown = set(acc) - set(DEFAULTS)
        assert not unknown, unknown
        for k, default in DEFAULTS.items():
            cols[k].append(acc.get(k, default))
    arrays = {k: np.array(v, dtype=float if isinstance(DEFAULTS[k], float) else None)
              for k, v in cols.items()}
    arrays["spend_q"] = np.array(cols["spend_q"], dtype=float).reshape(len(accounts), 3)
    return Book(as_of=as_of, account_id=np.arange(1, len(accounts) + 1, dtype=np.int64), **arrays)


def config():
    return load_scoring_config("")
