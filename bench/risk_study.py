"""Offline study: which churn-risk design ranks best on REAL books, without peeking.

Loads the real transaction files that ship inside the `lifetimes` wheel (CDNOW master,
23,570 customers; the CDNOW 1/10 sample; example_transactions.csv) and the demo book, builds
the book as of several cut dates, and for each horizon compares, on who placed no order in
(as_of, as_of + H]:

  recency        days since the last order
  bgnbd          BG/NBD P(no order in H), fitted on the data up to as_of (order DAYS)
  rankavg        mean rank of recency and repeat order days
  engine         scoring.engine.score_book's churn_risk as committed
  lr:<set>       sign-bounded logistic regression trained on the book's own earlier cuts
                 (cut + H <= as_of) on a feature subset; `lr:all` is what scoring/risk.py fits
  sk:all         the same features, scikit-learn's unconstrained LogisticRegression
  shipped        scoring.risk.fit_risk_model itself (learned or its fallback, as chosen)

with paired bootstrap 95% intervals of each AUC and of the difference to recency, plus the
same on 20 random 300-account sub-books (how often each beats recency).

    .venv/bin/python bench/risk_study.py [--quick] [--data cdnow|sample|example|demo|all]
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scoring.book import NO_DATE  # noqa: E402
from scoring.history import History, book_at, from_transactions  # noqa: E402
from scoring.metrics import roc_auc  # noqa: E402
from scoring.ranks import average_ranks  # noqa: E402
from scoring import risk  # noqa: E402

SETS = {
    "rfm3": ("recency", "repeat_days", "spend_12m"),
    "plain6": ("recency", "repeat_days", "spend_12m", "age", "overdue", "spend_trend"),
    "rhythm": ("recency", "repeat_days", "spend_12m", "age", "overdue", "not_due"),
    "no_not_due": tuple(f for f in risk.FEATURES if f != "not_due"),
    "bg_only": ("expected_orders",),
    "all": risk.FEATURES,
}


def lifetimes_file(name: str) -> Path:
    import lifetimes

    return Path(lifetimes.__file__).parent / "datasets" / name


def load_cdnow(name: str = "CDNOW_master.txt") -> History:
    cols = np.array([line.split() for line in lifetimes_file(name).read_text().splitlines()
                     if line.split() and line.split()[0].isdigit()])
    if cols.shape[1] == 5:  # the sample has a second id column
        cols = cols[:, [0, 2, 3, 4]]
    ids = cols[:, 0].astype(np.int64)
    days = np.array([date(int(s[:4]), int(s[4:6]), int(s[6:])).toordinal() for s in cols[:, 1]])
    return from_transactions(ids, days, cols[:, 3].astype(float))


def load_example() -> History:
    import csv

    with open(lifetimes_file("example_transactions.csv")) as f:
        rows = list(csv.DictReader(f))
    ids = np.array([int(r["id"]) for r in rows])
    days = np.array([date.fromisoformat(r["date"][:10]).toordinal() for r in rows])
    return from_transactions(ids, days, np.ones(len(rows)))  # no amounts in this file


def load_demo(today: date = date(2026, 11, 22)) -> History:
    """The 300-account demo book, loaded as the risk tests load it (one loader for both)."""
    from tests.scoring.real_books import demo

    return demo(accounts=300, seed=7, today=today)


def lr_on_subset(history, as_of, horizon, names, cuts, signed=True):
    """A regression on a feature subset, trained like the shipped one (signed: with the
    shipped sign bounds; else scikit-learn's unconstrained LogisticRegression)."""
    from sklearn.linear_model import LogisticRegression

    cols = [risk.FEATURES.index(n) for n in names]
    if len(history) > risk.TRAIN_ACCOUNTS:
        history = history.subset(risk.training_accounts(len(history)))
    parts = [risk.examples(history, c, horizon, 365, 6) for c in cuts]
    X = np.concatenate([p[0] for p in parts])[:, cols]
    y = np.concatenate([p[1] for p in parts])
    if signed:
        mean, scale, w, b = risk.fit_logistic(X, y, signs=tuple(risk.SIGNS[c] for c in cols))
        return lambda Xs: ((Xs[:, cols] - mean) / scale) @ w + b
    mean, scale = X.mean(0), X.std(0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    lr = LogisticRegression(C=risk.C, max_iter=500).fit((X - mean) / scale, y)
    return lambda Xs: lr.decision_function((Xs[:, cols] - mean) / scale)


def scores_at(history: History, as_of: date, horizon: int, with_sets=True) -> dict:
    from scoring.engine import score_book
    from bot.scoring_config import load_scoring_config

    b = book_at(history, as_of)
    ordered = b.last_order != NO_DATE
    bg = risk.fit_bg_for(b)
    X = risk.features(b, bg, horizon)
    out = {"recency": (as_of.toordinal() - b.last_order).astype(float)}
    out["bgnbd"] = risk.p_no_order(b, bg, horizon)
    n = max(int(ordered.sum()), 1)
    out["rankavg"] = (average_ranks(out["recency"]) + average_ranks(-X[:, 1])) / n
    cfg = load_scoring_config("")
    out["engine"] = score_book(b, cfg).churn_risk  # what scoring/engine.py ships now
    cuts = risk.training_cuts(history.first_day, as_of, horizon)
    if with_sets and len(cuts) >= 2:
        for name, names in SETS.items():
            out["lr:" + name] = lr_on_subset(history, as_of, horizon, names, cuts)(X)
        out["sk:all"] = lr_on_subset(history, as_of, horizon, risk.FEATURES, cuts, False)(X)
    model = risk.fit_risk_model(history, as_of, horizon)
    out["shipped"] = risk.churn_risk(b, model, X, bg)
    return {k: v[ordered] for k, v in out.items()}, model, ordered


def bootstrap(scores: dict, y: np.ndarray, reps: int = 200, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = len(y)
    keys = list(scores)
    draws = {k: [] for k in keys}
    for _ in range(reps):
        idx = rng.integers(0, n, n)
        for k in keys:
            draws[k].append(roc_auc(scores[k][idx], y[idx]))
    return {k: np.array(v) for k, v in draws.items()}


def report(label, history, as_of, horizon, reps):
    t0 = time.perf_counter()
    scores, model, ordered = scores_at(history, as_of, horizon)
    y = risk.labels(history, as_of, horizon)[ordered]
    draws = bootstrap(scores, y, reps)
    print(f"\n{label} as_of {as_of} H={horizon}: {len(y)} accounts, {y.mean():.0%} no order; "
          f"shipped={model.kind}/{model.reason} {model.facts.get('auc_learned', '')} "
          f"vs {model.facts.get('auc_fallback', '')} ({time.perf_counter() - t0:.1f} s)")
    base = draws["recency"]
    for k, v in scores.items():
        auc = roc_auc(v, y)
        lo, hi = np.percentile(draws[k], [2.5, 97.5])
        d_lo, d_hi = np.percentile(draws[k] - base, [2.5, 97.5])
        top = np.max(np.unique(np.round(v, 2), return_counts=True)[1]) / len(v)
        print(f"  {k:<12} AUC {auc:.4f} [{lo:.4f}, {hi:.4f}]  vs recency "
              f"{auc - roc_auc(scores['recency'], y):+.4f} [{d_lo:+.4f}, {d_hi:+.4f}]  "
              f"largest tie {top:.1%}")
    return {k: roc_auc(v, y) for k, v in scores.items()}


def subbooks(history, as_of, horizon, count=20, size=300, seed=1):
    rng = np.random.default_rng(seed)
    wins = {}
    for _ in range(count):
        rows = np.sort(rng.choice(len(history), size, replace=False))
        sub = history.subset(rows)
        scores, _, ordered = scores_at(sub, as_of, horizon, with_sets=True)
        y = risk.labels(sub, as_of, horizon)[ordered]
        base = roc_auc(scores["recency"], y)
        for k, v in scores.items():
            wins.setdefault(k, []).append(roc_auc(v, y) - base)
    print(f"  sub-books ({count} x {size}) at {as_of} H={horizon}: beats recency on / mean diff")
    for k, d in wins.items():
        d = np.array(d)
        print(f"    {k:<12} {int((d > 0).sum()):>2}/{count}   {d.mean():+.4f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="all")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=200)
    args = ap.parse_args()
    books = {
        "cdnow": (load_cdnow, [date(1997, 9, 30), date(1997, 12, 31), date(1998, 3, 31)]),
        "sample": (lambda: load_cdnow("CDNOW_sample.txt"),
                   [date(1997, 9, 30), date(1997, 12, 31), date(1998, 3, 31)]),
        "example": (load_example, [date(2014, 9, 1), date(2014, 10, 1), date(2014, 11, 1)]),
        "demo": (load_demo, [date(2026, 2, 24), date(2026, 5, 26), date(2026, 8, 24)]),
    }
    chosen = list(books) if args.data == "all" else args.data.split(",")
    for name in chosen:
        loader, cuts = books[name]
        history = loader()
        last = int(history.order_day.max())
        print(f"\n=== {name}: {len(history)} accounts, {len(history.order_day)} order days, "
              f"{date.fromordinal(history.first_day)} .. {date.fromordinal(last)}")
        for horizon in ((90,) if args.quick else (30, 90, 180)):
            for as_of in cuts:
                if as_of.toordinal() + horizon > last:
                    continue
                report(name, history, as_of, horizon, args.reps)
        if name in ("cdnow",) and not args.quick:
            subbooks(history, cuts[1], 90)


if __name__ == "__main__":
    main()
