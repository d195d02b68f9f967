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
