"""What scoring needs to know about each account, as plain numpy arrays.

`storage/` fills a `Book` with per-account aggregates (only data up to `as_of`); all dates
are `date.toordinal()` integers, with NO_DATE where there is none.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date

import numpy as np

NO_DATE = -1


@dataclass
class Book:
    as_of: date
    account_id: np.ndarray          # int64
    orders_all: np.ndarray          # orders, all time (returns included)
    order_days: np.ndarray          # distinct days with an order, all time (BG/NBD counts these)
    first_order: np.ndarray         # ordinal, NO_DATE if never ordered
    last_order: np.ndarray          # ordinal, NO_DATE if never ordered
    spend_all: np.ndarray
    orders_window: np.ndarray       # orders in the trailing window
    spend_window: np.ndarray
    spend_prev_window: np.ndarray   # the window before that
    spend_q: np.ndarray             # shape (n, 3): last 91 days, the 91 before, the 91 before
    avg_order_value: np.ndarray     # mean of positive orders, 0 if none
    interactions_90: np.ndarray
    interactions_prev_90: np.ndarray
    last_interaction: np.ndarray    # ordinal, NO_DATE if none
    nps_min_90: np.ndarray          # lowest NPS in the last 90 days, -1 if none
    complaints_90: np.ndarray
    # Every account's dated history (scoring.history.History), when loaded: the learned
    # churn risk trains on it at past cut dates. None: the risk uses its fallback.
    history: object = None

    def __post_init__(self) -> None:
        n = len(self.account_id)
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray) and len(value) != n:
                raise ValueError(f"Book.{f.name} has {len(value)} rows, account_id has {n}")

    def __len__(self) -> int:
        return len(self.account_id)
