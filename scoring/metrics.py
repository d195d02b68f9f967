"""How well a score ranks what happened later (for the backtest)."""
from __future__ import annotations

import numpy as np
from scoring.ranks import average_ranks


def roc_auc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve: P(a random positive scores above a random negative).

    Mann-Whitney U with average ranks, so ties count half. nan if a class is empty."""
    score, label = np.asarray(score, dtype=float), np.asarray(label, dtype=bool)
    pos, neg = int(label.sum()), int((~label).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = average_ranks(score)
    return float((ranks[label].sum() - pos * (pos + 1) / 2) / (pos * neg))


def top_decile(score: np.ndarray, label: np.ndarray) -> tuple[float, float]:
    """(precision, lift) among the 10% highest scores; ties broken by position."""
    score, label = np.asarray(score, dtype=float), np.asarray(label, dtype=bool)
    if len(score) == 0 or not label.any():
        return float("nan"), float("nan")
    k = max(1, int(np.ceil(len(score) / 10)))
    top = np.argsort(-score, kind="stable")[:k]
    precision = float(label[top].mean())
    return precision, precision / float(label.mean())


def bootstrap_aucs(scores: dict[str, np.ndarray], label: np.ndarray, *, reps: int = 200,
                   seed: int = 0) -> dict[str, np.ndarray]:
    """Each score's ROC AUC on `reps` resamples of the accounts (the same resamples for
    every score, so differences between them are paired)."""
    label = np.asarray(label, dtype=bool)
    rng = np.random.default_rng(seed)
    n = len(label)
    draws = {k: np.empty(reps) for k in scores}
    for r in range(reps):
        idx = rng.integers(0, n, n)
        for k, v in scores.items():
            draws[k][r] = roc_auc(v[idx], label[idx])
    return draws


def interval(draws: np.ndarray) -> tuple[float, float]:
    """The 95% percentile interval of bootstrap draws (nan draws ignored)."""
    ok = draws[~np.isnan(draws)]
    if len(ok) == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(ok, [2.5, 97.5])
    return float(lo), float(hi)


def calibration(predicted_pct: np.ndarray, label: np.ndarray, bins: int = 10) -> list[dict]:
    """Predicted vs observed churn by decile of the prediction (lowest first): accounts,
    mean predicted %, observed % with no order."""
    predicted_pct = np.asarray(predicted_pct, dtype=float)
    label = np.asarray(label, dtype=bool)
    order = np.argsort(predicted_pct, kind="stable")
    out = []
    for k, part in enumerate(np.array_split(order, bins), 1):
        if len(part) == 0:
            continue
        out.append({"decile": k, "accounts": int(len(part)),
                    "predicted_pct": round(float(predicted_pct[part].mean()), 1),
                    "observed_pct": round(100.0 * float(label[part].mean()), 1)})
    return out
