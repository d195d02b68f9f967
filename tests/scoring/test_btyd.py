"""The fitters against the published CDNOW estimates (the sample `lifetimes` ships)."""
import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from scoring.btyd import BGNBD, GammaGamma, fit_bgnbd, fit_gamma_gamma


def cdnow(name: str) -> dict[str, np.ndarray]:
    spec = importlib.util.find_spec("lifetimes")
    assert spec is not None, "lifetimes (test dependency) is not installed"
    path = Path(spec.submodule_search_locations[0]) / "datasets" / name
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def test_bgnbd_matches_fader_hardie_lee_2005():
    d = cdnow("cdnow_customers_summary.csv")
    assert len(d["frequency"]) == 2357
    m = fit_bgnbd(d["frequency"], d["recency"], d["T"])
    for got, published in [(m.r, 0.243), (m.alpha, 4.414), (m.a, 0.793), (m.b, 2.426)]:
        assert got == pytest.approx(published, rel=0.01)


def test_gamma_gamma_matches_published():
    d = cdnow("cdnow_customers_summary_with_transactions.csv")
    g = fit_gamma_gamma(d["x"], d["zbar"])
    for got, published in [(g.p, 6.25), (g.q, 3.74), (g.gamma, 15.44)]:
        assert got == pytest.approx(published, rel=0.02)


PAPER = BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426)


def test_conditional_expectation_matches_the_paper():
    # Fader, Hardie & Lee (2005) §4: a customer with x=2, t_x=30.43, T=38.86 (weeks) is
    # expected to make 1.226 purchases in the next 39 weeks.
    assert PAPER.expected_transactions(39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=0.002)


def test_p_alive_behaviour():
    assert PAPER.p_alive(0, 0, 38.86) == 1.0  # the model's blind spot for one-order customers
    recent, lapsed = PAPER.p_alive([5, 5], [38.0, 10.0], [38.86, 38.86])
    # eq. (13) by hand: 1 / (1 + 0.793/6.426 * (43.274/42.414)^5.243) = 0.8794; a customer
    # may drop out right after a purchase, so even a recent buyer is below 1.
    assert recent == pytest.approx(0.8794, abs=1e-3)
    assert lapsed < 0.2


def test_gamma_gamma_shrinks_towards_the_population_mean():
    g = GammaGamma(p=6.25, q=3.74, gamma=15.44)
    population = 6.25 * 15.44 / 2.74
    one, many = g.expected_value([1, 50], [100.0, 100.0])
    assert population < one < many < 100.0
    assert g.expected_value(0, 0.0) == pytest.approx(population)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="t_x <= T"):
        fit_bgnbd([1], [5.0], [3.0])
    with pytest.raises(ValueError, match="at least 3 repeat customers"):
        fit_gamma_gamma([0, 1], [0.0, 5.0])
