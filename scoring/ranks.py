"""Tie-aware ranks in plain numpy (scipy.stats costs ~1 s of import time for this alone)."""
from __future__ import annotations

import numpy as np


def min_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks; equal values share the lowest rank of their group ('min' method)."""
    ordered = np.sort(values, kind="stable")
    return np.searchsorted(ordered, values, side="left") + 1


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks; equal values share the mean rank of their group ('average' method)."""
    ordered = np.sort(values, kind="stable")
    low = np.searchsorted(ordered, values, side="left")
    high = np.searchsorted(ordered, values, side="right")
    return (low + high + 1) / 2.0
