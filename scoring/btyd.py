"""'Buy till you die' models, fitted by maximum likelihood.

BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative
to the Pareto/NBD Model", Marketing Science 24(2), eqs. (6), (10), (11), (13).
Gamma-Gamma: Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer
Base Analysis", Journal of Marketing Research 42(4), and Fader & Hardie's note "The
Gamma-Gamma Model of Monetary Value" (2013), eqs. (1)-(5).

Inputs per customer: x = repeat transactions, t_x = time of the last one, T = time since
the first (all from the first transaction, in one time unit), m = mean repeat value.
Note: BG/NBD puts P(alive) = 1 for x = 0 (a single purchase cannot 'die' in the model),
so P(alive) alone says nothing about one-order accounts.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

# Parameters live in [e^-12, e^12]: wide enough for any real book, and it keeps a
# degenerate fit (a book the model does not describe) numerically sane.
LOG_BOUNDS = (-12.0, 12.0)


@dataclass(frozen=True)
class BGNBD:
    r: float
    alpha: float
    a: float
    b: float

    def _log_delta_term(self, x, t_x, T):
        """log of (a / (b + x - 1)) * ((alpha + T) / (alpha + t_x))^(r + x), for x > 0."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        with np.errstate(divide="ignore", invalid="ignore"):
            return (np.log(a) - np.log(np.maximum(b + x - 1, 1e-300))
                    + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x)))

    def p_alive(self, x, t_x, T) -> np.ndarray:
        """P(alive | x, t_x, T), eq. (13)."""
        x, t_x, T = map(np.asarray, (x, t_x, T))
        log_d = self._log_delta_term(x, t_x, T)
        return np.where(x > 0, 1.0 / (1.0 + np.exp(np.minimum(log_d, 700))), 1.0)

    def expected_transactions(self, t, x, t_x, T) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected transactions in the next `t` periods, eq. (10)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        z = t / (alpha + T + t)
        with np.errstate(all="ignore"):  # overflow is handled below
            hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
            head = (a + b + x - 1) / (a - 1)
            body = 1.0 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp
        log_d = self._log_delta_term(x, t_x, T)
        denom = 1.0 + np.where(x > 0, np.exp(np.minimum(log_d, 700)), 0.0)
        exact = head * body / denom
        # hyp2f1 overflows for extreme fits (e.g. a book of perfectly regular buyers, r and
        # alpha huge). Then use P(alive) x t x the posterior mean rate (r + x)/(alpha + T).
        approx = t * (r + x) / (alpha + T) / denom
        return np.where(np.isfinite(exact) & (exact >= 0), exact, approx)


def bgnbd_log_likelihood(params, x, t_x, T) -> np.ndarray:
    """Per-customer log-likelihood, eq. (6)."""
    r, alpha, a, b = params
    ln_a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    ln_a2 = (special.gammaln(a + b) + special.gammaln(b + x)
             - special.gammaln(b) - special.gammaln(a + b + x))
    ln_a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        ln_a4 = (np.log(a) - np.log(np.maximum(b + x - 1, 1e-300))
                 - (r + x) * np.log(alpha + t_x))
    ln_a4 = np.where(x > 0, ln_a4, -np.inf)
    return ln_a1 + ln_a2 + np.logaddexp(ln_a3, ln_a4)


def fit_bgnbd(x, t_x, T, *, start=(1.0, 1.0, 1.0, 1.0)) -> BGNBD:
    """Maximum-likelihood BG/NBD parameters (optimised on the log scale, so all stay > 0)."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    _check_inputs(x, t_x, T)
    scale = max(float(np.max(T)), 1e-9) / 10.0  # alpha is in time units: start near them

    def nll(log_params):
        params = np.exp(log_params)
        return -np.sum(bgnbd_log_likelihood(params, x, t_x, T)) / len(x)

    init = np.log(np.array(start) * np.array([1.0, scale, 1.0, 1.0]))
    return BGNBD(*np.exp(_minimise(nll, init)))


def _minimise(nll, init) -> np.ndarray:
    """Bounded L-BFGS-B; Nelder-Mead (slower, derivative-free) only if that fails."""
    result = optimize.minimize(nll, init, method="L-BFGS-B", bounds=[LOG_BOUNDS] * len(init))
    if result.success and np.isfinite(result.fun):
        return result.x
    result = optimize.minimize(nll, init, method="Nelder-Mead",
                               options={"xatol": 1e-7, "fatol": 1e-10, "maxfev": 4000})
    return np.clip(result.x, *LOG_BOUNDS)


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float

    def expected_value(self, x, m) -> np.ndarray:
        """E[M | x, m]: expected mean transaction value, eq. (5); the population mean at x=0."""
        x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
        population = self.p * self.gamma / (self.q - 1) if self.q > 1 else np.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            conditional = self.p * (self.gamma + m * x) / (self.p * x + self.q - 1)
        return np.where(x > 0, conditional, population)


def gamma_gamma_log_likelihood(params, x, m) -> np.ndarray:
    p, q, gamma = params
    return (special.gammaln(p * x + q) - special.gammaln(p * x) - special.gammaln(q)
            + q * np.log(gamma) + (p * x - 1) * np.log(m) + p * x * np.log(x)
            - (p * x + q) * np.log(gamma + m * x))


def fit_gamma_gamma(x, m) -> GammaGamma:
    """Maximum-likelihood Gamma-Gamma parameters from customers with x > 0 and m > 0."""
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    keep = (x > 0) & (m > 0)
    x, m = x[keep], m[keep]
    if len(x) < 3:
        raise ValueError("Gamma-Gamma needs at least 3 repeat customers with positive spend")

    def nll(log_params):
        return -np.sum(gamma_gamma_log_likelihood(np.exp(log_params), x, m)) / len(x)

    init = np.log([1.0, 1.0, float(np.mean(m))])
    return GammaGamma(*np.exp(_minimise(nll, init)))


def _check_inputs(x, t_x, T) -> None:
    if len(x) == 0:
        raise ValueError("BG/NBD needs at least one customer")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > T + 1e-9):
        raise ValueError("BG/NBD inputs need x >= 0 and 0 <= t_x <= T")
