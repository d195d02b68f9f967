"""Each account's dated history as flat numpy arrays, and the Book it gives at any cut date.

The learned churn risk trains on (account, cut) pairs at past cut dates, so it needs what
every account looked like *at each cut*. `storage/` loads the histories once (orders per
account and day, interactions, feedback); `book_at` computes, in numpy, the same per-account
aggregates `storage.scores.load_book` computes in SQL, as of any date. Tests check the two
agree, so a feature means the same at training cuts and at `as_of`.

Layout: rows grouped by account (account `k` owns rows `start[k]:start[k + 1]`), days as
`date.toordinal()` integers ascending within an account.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from scoring.book import NO_DATE, Book

QUARTER = 91


@dataclass(frozen=True)
class History:
    account_id: np.ndarray      # int64, one per account (the rows' owners)
    order_start: np.ndarray     # int64, len(account_id) + 1
    order_day: np.ndarray       # int64 ordinals: one row per account and ORDER DAY
    order_lines: np.ndarray     # int64: orders (lines) that day
    order_spend: np.ndarray     # float: their amounts summed
    order_positive: np.ndarray  # float: sum of positive amounts that day
    order_positive_n: np.ndarray  # int64: positive orders that day
    touch_start: np.ndarray     # interactions: offsets and days (one row per interaction)
    touch_day: np.ndarray
    fb_start: np.ndarray        # feedback: offsets, day, NPS score (-1 if not NPS), complaint
    fb_day: np.ndarray
    fb_nps: np.ndarray
    fb_complaint: np.ndarray    # bool

    def __len__(self) -> int:
        return len(self.account_id)

    @property
    def first_day(self) -> int:
        """The earliest order day in the history (NO_DATE when there are no orders)."""
        return int(self.order_day.min()) if len(self.order_day) else NO_DATE

    def subset(self, rows: np.ndarray) -> "History":
        """The histories of accounts at positions `rows` (ascending)."""
        def take(start, *cols):
            lo, hi = start[rows], start[rows + 1]
            lengths = hi - lo
            new_start = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            idx = _ranges(lo, lengths)
            return (new_start, *(c[idx] for c in cols))

        o = take(self.order_start, self.order_day, self.order_lines, self.order_spend,
                 self.order_positive, self.order_positive_n)
        t = take(self.touch_start, self.touch_day)
        f = take(self.fb_start, self.fb_day, self.fb_nps, self.fb_complaint)
        return History(self.account_id[rows], *o, *t, *f)


def _ranges(lo: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated aranges lo[k] .. lo[k] + lengths[k] (vectorised)."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    offsets = np.repeat(lo - (ends - lengths), lengths)
    return np.arange(total, dtype=np.int64) + offsets


def group_rows(account_index: np.ndarray, n: int) -> np.ndarray:
    """Offsets for rows already sorted by `account_index` (positions 0..n-1)."""
    counts = np.bincount(account_index, minlength=n) if len(account_index) else np.zeros(n, int)
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def owners(start: np.ndarray) -> np.ndarray:
    """The account position of every row."""
    return np.repeat(np.arange(len(start) - 1), np.diff(start))


def book_at(history: History, cut: date, *, window_days: int = 365) -> Book:
    """The Book as of `cut` (every aggregate from rows dated on or before `cut`)."""
    n = len(history)
    c = cut.toordinal()
    who = owners(history.order_start)
    day = history.order_day
    seen = day <= c

    def total(weights, mask):
        return np.bincount(who[mask], weights=weights[mask], minlength=n)

    days = np.bincount(who[seen], minlength=n)
    first = np.full(n, NO_DATE, dtype=np.int64)
    last = np.full(n, NO_DATE, dtype=np.int64)
    has = days > 0
    first[has] = day[history.order_start[:-1][has]]
    last[has] = day[history.order_start[:-1][has] + days[has] - 1]
    window, prev = c - window_days, c - 2 * window_days
    in_window = seen & (day > window)
    q = [c - QUARTER * k for k in range(4)]
    spend_q = np.stack([total(history.order_spend, seen & (day > q[k + 1]) & (day <= q[k]))
                        for k in range(3)], axis=1)
    pos_n = total(history.order_positive_n.astype(float), seen)
    pos = total(history.order_positive, seen)
    with np.errstate(divide="ignore", invalid="ignore"):
        aov = np.where(pos_n > 0, pos / pos_n, 0.0)
    t_who = owners(history.touch_start)
    t_day = history.touch_day
    touch_seen = t_day <= c
    last_touch = np.full(n, NO_DATE, dtype=np.int64)
    if touch_seen.any():
        np.maximum.at(last_touch, t_who[touch_seen], t_day[touch_seen])
    f_who = owners(history.fb_start)
    recent = (history.fb_day > c - 90) & (history.fb_day <= c)
    nps_min = np.full(n, 11, dtype=np.int64)
    nps_rows = recent & (history.fb_nps >= 0)
    if nps_rows.any():
        np.minimum.at(nps_min, f_who[nps_rows], history.fb_nps[nps_rows])
    return Book(
        as_of=cut, account_id=history.account_id,
        orders_all=total(history.order_lines.astype(float), seen).astype(np.int64),
        order_days=days.astype(np.int64), first_order=first, last_order=last,
        spend_all=total(history.order_spend, seen),
        orders_window=total(history.order_lines.astype(float), in_window).astype(np.int64),
        spend_window=total(history.order_spend, in_window),
        spend_prev_window=total(history.order_spend, seen & (day > prev) & (day <= window)),
        spend_q=spend_q, avg_order_value=aov,
        interactions_90=np.bincount(t_who[touch_seen & (t_day > c - 90)], minlength=n),
        interactions_prev_90=np.bincount(
            t_who[touch_seen & (t_day > c - 180) & (t_day <= c - 90)], minlength=n),
        last_interaction=last_touch,
        nps_min_90=np.where(nps_min > 10, -1, nps_min),
        complaints_90=np.bincount(f_who[recent & history.fb_complaint], minlength=n))


def from_transactions(account: np.ndarray, day: np.ndarray, amount: np.ndarray) -> History:
    """A History from raw order lines (any order): e.g. a public transactions file in a
    study or test. Accounts are the distinct values of `account`, ascending."""
    ids, pos = np.unique(account, return_inverse=True)
    n = len(ids)
    key = pos.astype(np.int64) * 10_000_000 + day.astype(np.int64)
    keys, inverse = np.unique(key, return_inverse=True)
    who = (keys // 10_000_000).astype(np.int64)
    amount = amount.astype(float)
    positive = amount > 0
    empty = np.zeros(0, dtype=np.int64)
    return History(
        account_id=ids.astype(np.int64), order_start=group_rows(who, n),
        order_day=(keys % 10_000_000).astype(np.int64),
        order_lines=np.bincount(inverse, minlength=len(keys)).astype(np.int64),
        order_spend=np.bincount(inverse, weights=amount, minlength=len(keys)),
        order_positive=np.bincount(inverse, weights=np.where(positive, amount, 0.0),
                                   minlength=len(keys)),
        order_positive_n=np.bincount(inverse, weights=positive.astype(float),
                                     minlength=len(keys)).astype(np.int64),
        touch_start=np.zeros(n + 1, dtype=np.int64), touch_day=empty,
        fb_start=np.zeros(n + 1, dtype=np.int64), fb_day=empty, fb_nps=empty,
        fb_complaint=np.zeros(0, dtype=bool))
