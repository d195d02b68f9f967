import numpy as np
from scipy.stats import rankdata

from scoring.metrics import roc_auc, top_decile
from scoring.ranks import average_ranks, min_ranks


def test_ranks_match_scipy_with_ties():
    rng = np.random.default_rng(3)
    values = rng.integers(0, 20, 500).astype(float)
    values[:5] = -np.inf
    assert (min_ranks(values) == rankdata(values, method="min")).all()
    assert np.allclose(average_ranks(values), rankdata(values, method="average"))


def test_auc_and_top_decile():
    assert roc_auc(np.array([0.9, 0.8, 0.1, 0.2]), np.array([1, 1, 0, 0])) == 1.0
    assert roc_auc(np.array([0.1, 0.2, 0.9, 0.8]), np.array([1, 1, 0, 0])) == 0.0
    assert roc_auc(np.array([0.5, 0.5, 0.5, 0.5]), np.array([1, 0, 1, 0])) == 0.5
    assert np.isnan(roc_auc(np.array([0.1, 0.2]), np.array([1, 1])))
    score = np.arange(20, dtype=float)
    label = score >= 18  # the two highest are the only positives
    precision, lift = top_decile(score, label)
    assert (precision, lift) == (1.0, 10.0)
