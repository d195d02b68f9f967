"""Real and demo books as scoring.history.History, for the churn-risk tests.

CDNOW (Fader & Hardie's 1997 cohort of CDNOW customers, 18 months) ships inside the
`lifetimes` wheel, a test dependency: CDNOW_master.txt (23,570 customers) and its 1/10
sample."""
from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np

from scoring.history import History, from_transactions, group_rows


def lifetimes_file(name: str) -> Path:
    """A file of the lifetimes wheel's datasets (found without importing lifetimes, which
    imports pandas)."""
    from importlib.util import find_spec

    return Path(find_spec("lifetimes").origin).parent / "datasets" / name


@lru_cache(maxsize=None)
def cdnow(name: str = "CDNOW_master.txt") -> History:
    rows = [line.split() for line in lifetimes_file(name).read_text().splitlines()]
    rows = [r for r in rows if r and r[0].isdigit()]
    if len(rows[0]) == 5:  # the sample has a second id column
        rows = [[r[0], r[2], r[3], r[4]] for r in rows]
    ids = np.array([int(r[0]) for r in rows])
    days = np.array([date(int(r[1][:4]), int(r[1][4:6]), int(r[1][6:])).toordinal()
                     for r in rows])
    return from_transactions(ids, days, np.array([float(r[3]) for r in rows]))


@lru_cache(maxsize=None)
def demo(accounts: int = 300, seed: int = 7, today: date = date(2026, 11, 22)) -> History:
    """The demo book `make demo` loads, with its interactions and feedback."""
    from storage.demo import generate_demo

    book = generate_demo(accounts=accounts, seed=seed, today=today)
    keys = {a["key"]: i for i, a in enumerate(book.accounts)}
    o = book.orders
    h = from_transactions(np.array([keys[r["account"]] for r in o]),
                          np.array([r["order_date"].toordinal() for r in o]),
                          np.array([float(r["amount"]) for r in o]))
    n = len(h)
    t = sorted((keys[r["account"]], r["occurred_on"].toordinal()) for r in book.interactions)
    f = sorted((keys[r["account"]], r["given_on"].toordinal(),
                r["score"] if r["kind"] == "nps" else -1, r["kind"] == "complaint")
               for r in book.feedback)
    return History(h.account_id, h.order_start, h.order_day, h.order_lines, h.order_spend,
                   h.order_positive, h.order_positive_n,
                   group_rows(np.array([a for a, _ in t], dtype=np.int64), n),
                   np.array([d for _, d in t], dtype=np.int64),
                   group_rows(np.array([r[0] for r in f], dtype=np.int64), n),
                   np.array([r[1] for r in f], dtype=np.int64),
                   np.array([r[2] for r in f], dtype=np.int64),
                   np.array([r[3] for r in f], dtype=bool))
