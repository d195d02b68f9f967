"""How often the shipped churn risk beats recency alone on small REAL books.

Draws random 300-account books from CDNOW (the real transactions inside the `lifetimes`
wheel), scores each at a cut date with only the data up to it, and counts the books on which
each ranking has the higher ROC AUC than "days since the last order" for "no order in
(cut, cut + H]". Rankings: the fallback alone (scoring.risk.fallback_risk) and the shipped
risk (scoring.risk.fit_risk_model + churn_risk: learned, blended or fallback, as it chooses).
The win share gets a Wilson 95% interval; the mean AUC difference a normal one.

    .venv/bin/python bench/small_books.py [--books 100] [--size 300]
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scoring import risk  # noqa: E402
from scoring.book import NO_DATE  # noqa: E402
from scoring.history import book_at  # noqa: E402
from scoring.metrics import roc_auc  # noqa: E402
from tests.scoring.real_books import cdnow  # noqa: E402

SETTINGS = [(date(1997, 9, 30), 90), (date(1997, 12, 31), 90), (date(1998, 3, 31), 90),
            (date(1997, 9, 30), 30), (date(1997, 9, 30), 180), (date(1998, 1, 31), 180)]


def one_book(history, cut: date, horizon: int) -> tuple[dict, str]:
    b = book_at(history, cut)
    o = b.last_order != NO_DATE
    bg = risk.fit_bg_for(b)
    X = risk.features(b, bg, horizon)
    y = risk.labels(history, cut, horizon)[o]
    model = risk.fit_risk_model(history, cut, horizon)
    recency = roc_auc((cut.toordinal() - b.last_order)[o].astype(float), y)
    return ({"fallback": roc_auc(risk.fallback_risk(b, bg, X, horizon)[o], y) - recency,
             "shipped": roc_auc(risk.churn_risk(b, model, X, bg)[o], y) - recency},
            model.reason)


def wilson(k: int, n: int) -> tuple[float, float]:
    p, z = k / n, 1.96
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return mid - half, mid + half


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--books", type=int, default=100, help="random books per setting")
    ap.add_argument("--size", type=int, default=300, help="accounts per book")
    args = ap.parse_args()
    full = cdnow()
    for cut, horizon in SETTINGS:
        t0 = time.perf_counter()
        rng = np.random.default_rng(1)
        diffs, reasons = {}, {}
        for _ in range(args.books):
            rows = np.sort(rng.choice(len(full), args.size, replace=False))
            d, reason = one_book(full.subset(rows), cut, horizon)
            reasons[reason] = reasons.get(reason, 0) + 1
            for k, v in d.items():
                diffs.setdefault(k, []).append(v)
        print(f"{cut} H={horizon}: {args.books} books of {args.size} "
              f"(models: {', '.join(f'{k} {v}' for k, v in sorted(reasons.items()))}; "
              f"{time.perf_counter() - t0:.0f} s)")
        for k, d in diffs.items():
            d = np.array(d)
            wins = int((d > 0).sum())
            lo, hi = wilson(wins, len(d))
            se = d.std(ddof=1) / np.sqrt(len(d))
            print(f"  {k:<9} beats recency on {wins:>3}/{len(d)} [{lo:.0%}, {hi:.0%}]  "
                  f"mean AUC difference {d.mean():+.4f} [{d.mean() - 1.96 * se:+.4f}, "
                  f"{d.mean() + 1.96 * se:+.4f}]")


if __name__ == "__main__":
    main()
