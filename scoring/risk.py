"""Churn risk learned from the book's own history: P(no order in the next H days), in %.

How it is built, at each rescore as of `as_of` (nothing after `as_of` is ever read):
- Training examples are (account, cut) pairs at past cut dates with cut + H <= as_of:
  features from the account's history up to the cut, label "no order in (cut, cut + H]".
- The features (`FEATURES`) are plain, monotone transforms of what a rep can check on the
  card: recency, repeat order days, 12-month spend, age, recency against the account's own
  usual gap (and how far beyond twice that gap), whether its rhythm puts the next order
  past the horizon, the quarter-on-quarter spend trend, the contact trend, detractor NPS
  and complaints, and BG/NBD's expected order days in the next H days (fitted at each cut
  on that cut's data only).
- The model is an L2-regularised logistic regression whose weights keep the sign the
  domain gives them (`SIGNS`): silence, being overdue, falling spend or contact, detractor
  NPS and complaints can only raise the risk. Unconstrained, a regression learns from
  collinear features weights that extrapolate the wrong way when the book changes (on the
  demo at 2026-08-24, 0.68 AUC against 0.78 constrained; bench/risk_study.py) and gives
  reasons a rep cannot trust ("long silence lowers the risk"). scikit-learn's
  LogisticRegression cannot bound weights, so it is fitted here with scipy's L-BFGS-B
  (deterministic); a test checks it equals scikit-learn's when no bound binds.
  The choice between it and the fallback is a backtest *inside* the training period:
  fitted on the older cuts, both rank the newest cut. The fallback alone is used (and the
  card says why) if it ranks better by more than chance (`_noise`); the learned model
  alone if it ranks better by more than chance; in between (most small books, where one
  cut's comparison is mostly noise) the risk's log-odds are the learned model's and the
  fallback's, weighted by how much history the model learned from (`blend_weight`): the
  fallback is the prior and the book's history the evidence. With one past cut only (a
  book with H + 90 to H + 90 + H/2 days of history) there is nothing older to check on,
  and the blend is the guard.
- The fallback (a book too young or too small to learn from, or where learning did not
  beat it in that backtest) needs no labels: BG/NBD's own probabilities of no order in
  the next H days, handed out in the order of the mean of two ranks, BG/NBD's and
  recency's (ties: lower 12-month spend first). Neither alone is safe: on the real CDNOW
  and example_transactions data BG/NBD ranks better than recency, on the demo book at
  2026-08-24 recency beats it by 0.13 AUC (a model fitted on a book where few have left
  believes silent accounts are alive); the blend is never far below the better of the
  two (bench/risk_study.py). The book's spread of probabilities stays BG/NBD's. Without a
  BG/NBD fit (a handful of accounts, no repeat buyer), the rank by recency as 0-100: a
  rank, not a probability, and the card says so.

The explanation is the model's own: each feature's contribution is its coefficient times
the account's deviation from the book's typical (median) account, in log-odds.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import numpy as np

from scoring.book import NO_DATE, Book
from scoring.btyd import BGNBD, fit_bgnbd

FEATURES = ("recency", "repeat_days", "spend_12m", "age", "overdue", "far_overdue", "not_due",
            "spend_trend", "contact_trend", "detractor", "complaint", "expected_orders")
# The direction each feature may push the risk (+1 up, -1 down, 0 either): longer silence,
# being overdue, falling spend or contact, detractor NPS and complaints never LOWER it.
SIGNS = (1, -1, -1, 0, 1, 1, 1, -1, -1, 1, 1, -1)
WEEK = 7.0
BG_FIT_SAMPLE = 1_000      # accounts a per-cut BG/NBD is fitted on (evenly spread)
TRAIN_ACCOUNTS = 5_000     # accounts whose history the regression learns from (evenly spread)
MIN_CLASS = 30             # churners and stayers each needed to learn
MIN_ACCOUNTS = 100         # accounts that had ordered at the newest training cut
C = 0.02                   # inverse L2 strength on standardised features: a prior that
                           # only matters on small books (17, 17 and 13 wins of 20 over
                           # recency on 300-account CDNOW books, against 15, 16, 10 at C=1)
CUTS = 4                   # past cut dates learned from, at most
PRIOR_EXAMPLES = 2_000     # how much the fallback counts, in training examples: the risk is
                           # the learned model's log-odds weighted n / (n + PRIOR_EXAMPLES)
                           # plus the fallback's weighted the rest (see `blend_weight`)


@dataclass(frozen=True)
class RiskModel:
    """The risk model in use: its kind, why, and (learned) its coefficients."""

    kind: str                       # "learned", or the fallback: "bgnbd" (or "ranks" if no fit)
    reason: str                     # a code messages/ words: learned, young_book, ...
    horizon_days: int
    mean: tuple[float, ...] = ()    # standardisation of FEATURES (learned only)
    scale: tuple[float, ...] = ()
    coef: tuple[float, ...] = ()
    intercept: float = 0.0
    facts: dict = field(default_factory=dict)  # numbers behind the reason (AUCs, counts, cuts)
    weight: float = 1.0             # the learned log-odds' share; the fallback's is the rest

    @property
    def learned(self) -> bool:
        return self.kind == "learned"


def features(book: Book, bg: BGNBD | None, horizon_days: int,
             detractor_nps: int = 6) -> np.ndarray:
    """(n, len(FEATURES)) as of `book.as_of`; rows of accounts that never ordered are 0."""
    c = book.as_of.toordinal()
    ordered = book.last_order != NO_DATE
    rec = np.where(ordered, c - book.last_order, 0).astype(float)
    days = np.where(ordered, book.order_days, 1).astype(float)
    x = days - 1
    span = np.where(ordered, book.last_order - book.first_order, 0).astype(float)
    age = np.where(ordered, c - book.first_order, 0).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.where(x > 0, span / np.maximum(x, 1), np.nan)
    overdue = np.where(x > 0, np.log1p(rec) - np.log1p(np.nan_to_num(gap)), 0.0)
    # An account whose own rhythm puts its next order beyond the horizon is unlikely to
    # order within it, however healthy: days from the horizon's end to when it is due.
    not_due = np.where(x > 0, np.log1p(np.maximum(np.nan_to_num(gap) - rec - horizon_days, 0)), 0.0)
    q = np.maximum(book.spend_q, 0.0)
    out = np.column_stack([
        np.log1p(rec), np.log1p(x), np.log1p(np.maximum(book.spend_window, 0.0)),
        np.log1p(age), overdue, np.maximum(overdue - np.log(2.0), 0.0), not_due, np.log1p(q[:, 0]) - np.log1p(q[:, 1]),
        np.log1p(book.interactions_90) - np.log1p(book.interactions_prev_90),
        ((book.nps_min_90 >= 0) & (book.nps_min_90 <= detractor_nps)).astype(float),
        (book.complaints_90 > 0).astype(float),
        np.log(0.01 + expected_order_days(book, bg, horizon_days)),
    ])
    out[~ordered] = 0.0
    return out


def bg_inputs(book: Book):
    """BG/NBD's (x, t_x, T) in weeks, with x = repeat order DAYS."""
    c = book.as_of.toordinal()
    x = np.maximum(book.order_days - 1, 0).astype(float)
    t_x = np.maximum(book.last_order - book.first_order, 0) / WEEK
    T = np.maximum(c - book.first_order, 0) / WEEK
    return x, t_x, T


def expected_order_days(book: Book, bg: BGNBD | None, horizon_days: int) -> np.ndarray:
    """E[order days in the next H days] under `bg`; with no model, the account's own rate."""
    x, t_x, T = bg_inputs(book)
    ordered = book.last_order != NO_DATE
    if bg is None:
        return np.where(ordered, (x + 1) * horizon_days / WEEK / np.maximum(T, 1.0), 0.0)
    return np.where(ordered, bg.expected_transactions(horizon_days / WEEK, x, t_x, T), 0.0)


def _alive_and_quiet(book: Book, bg: BGNBD, horizon_days: int) -> tuple[np.ndarray, np.ndarray]:
    """BG/NBD's P(alive) and its chance of no order day in the next H days given alive
    (the rate's posterior is Gamma(r + x, alpha + T)): ((alpha + T) / (alpha + T + t))^(r + x)."""
    x, t_x, T = bg_inputs(book)
    t = horizon_days / WEEK
    quiet = np.exp((bg.r + x) * (np.log(bg.alpha + T) - np.log(bg.alpha + T + t)))
    return bg.p_alive(x, t_x, T), quiet


def p_no_order(book: Book, bg: BGNBD, horizon_days: int) -> np.ndarray:
    """BG/NBD P(no order day in the next H days | x, t_x, T).

    Dead, or alive with no purchase in t (the model's dropouts happen only at purchases):
    1 - P(alive) + P(alive) * P(quiet | alive)."""
    alive, quiet = _alive_and_quiet(book, bg, horizon_days)
    return 1.0 - alive + alive * quiet


def activity_factor(book: Book, bg: BGNBD, risk_pct: np.ndarray, horizon_days: int) -> np.ndarray:
    """How much to scale BG/NBD's expected orders so they agree with the churn risk.

    BG/NBD's chance of no order in H is 1 - A + A * q, with A its P(alive) and q its chance
    of a quiet H given alive. The risk is the better estimate of that chance (learned from
    the book, or BG/NBD's own for the fallback), so the activity it implies is
    A' = (1 - risk) / (1 - q), at most 1; P(alive), expected orders and the 12-month
    value built on them scale by A' / A. An account at risk 99 is then neither predicted to
    buy next year what it bought last year nor said to be "still buying" at 40%. 1 where
    there is nothing to correct (no risk, A = 0)."""
    alive, quiet = _alive_and_quiet(book, bg, horizon_days)
    with np.errstate(divide="ignore", invalid="ignore"):
        implied = np.clip((1.0 - np.asarray(risk_pct, dtype=float) / 100.0)
                          / np.maximum(1.0 - quiet, 1e-9), 0.0, 1.0)
        factor = implied / alive
    return np.where(np.isfinite(factor) & (alive > 0), factor, 1.0)


def fit_bg_for(book: Book) -> BGNBD | None:
    """BG/NBD fitted on (an even sample of) the book's ordering accounts, or None."""
    x, t_x, T = bg_inputs(book)
    idx = np.flatnonzero((book.last_order != NO_DATE) & (T > 0))
    if len(idx) < 20 or not np.any(x[idx] > 0):
        return None
    sample = idx[np.linspace(0, len(idx) - 1, min(len(idx), BG_FIT_SAMPLE)).astype(int)]
    try:
        return fit_bgnbd(x[sample], t_x[sample], T[sample])
    except ValueError:
        return None


# --- training ---------------------------------------------------------------------------

def training_cuts(first_day: int, as_of: date, horizon_days: int, *, step_days: int = 0,
                  count: int = 4, min_history: int = 90) -> list[date]:
    """Past cut dates, newest first: as_of - H, then back by `step_days` (default H/2,
    at least 28), each with at least `min_history` days of book before it."""
    step = step_days or max(28, horizon_days // 2)
    cuts = []
    for k in range(count):
        cut = as_of - timedelta(days=horizon_days + k * step)
        if first_day == NO_DATE or cut.toordinal() - first_day < min_history:
            break
        cuts.append(cut)
    return cuts


def labels(history, cut: date, horizon_days: int) -> np.ndarray:
    """True where the account placed no order in (cut, cut + H]."""
    from scoring.history import owners

    c = cut.toordinal()
    day = history.order_day
    inside = (day > c) & (day <= c + horizon_days)
    bought = np.bincount(owners(history.order_start)[inside], minlength=len(history)) > 0
    return ~bought


def examples(history, cut: date, horizon_days: int, window_days: int, detractor_nps: int,
             with_fallback: bool = False):
    """(features, label, the fallback's risk if asked) of the accounts that had ordered by
    `cut`."""
    from scoring.history import book_at

    b = book_at(history, cut, window_days=window_days)
    keep = b.last_order != NO_DATE
    bg = fit_bg_for(b)
    X = features(b, bg, horizon_days, detractor_nps)
    fallback = fallback_risk(b, bg, X, horizon_days)[keep] if with_fallback else None
    return X[keep], labels(history, cut, horizon_days)[keep], fallback


def fit_logistic(X: np.ndarray, y: np.ndarray, *, C: float | None = None,
                 signs: tuple[int, ...] | None = SIGNS) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """L2-regularised logistic regression on standardised X, weights bounded by `signs`.

    Minimises sum(log-loss) + ||w||^2 / (2C) (scikit-learn's objective); returns
    (mean, scale, weights, intercept)."""
    from scipy import optimize

    C = globals()["C"] if C is None else C
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    Z = (X - mean) / scale
    target = y.astype(float)
    k = Z.shape[1]
    n = max(len(target), 1)

    def loss(w):
        z = Z @ w[:k] + w[k]
        p = 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function, without overflow
        value = np.sum(np.logaddexp(0.0, z) - target * z) + w[:k] @ w[:k] / (2 * C)
        grad = np.concatenate([Z.T @ (p - target) + w[:k] / C, [np.sum(p - target)]])
        return value / n, grad / n

    bounds = [(0.0, None) if s > 0 else (None, 0.0) if s < 0 else (None, None)
              for s in (signs or (0,) * k)] + [(None, None)]
    result = optimize.minimize(loss, np.zeros(k + 1), jac=True, method="L-BFGS-B",
                               bounds=bounds, options={"maxiter": 1000, "gtol": 1e-8})
    return mean, scale, result.x[:k], float(result.x[k])


def blend_weight(examples: int) -> float:
    """The learned model's share of the risk's log-odds, from how many (account, cut)
    examples it learned from: n / (n + PRIOR_EXAMPLES), the rest the fallback's.

    The fallback is the prior and the book's history the evidence: on a 300-account book
    (about 1,000 examples) the learned model carries a third, on a 5,000-account one 91%,
    and all of it once it clearly ranks better inside the training period. On 100 random
    300-account CDNOW books per cut (H=90), it beats recency on 73, 79 and 82 at the cuts
    1997-09-30, 1997-12-31 and 1998-03-31, against 65, 75 and 72 for the regression alone
    and 65, 62 and 78 for the fallback alone; at H=180, on 45 and 44 of 60 against 32 and
    30 for the fallback (bench/small_books.py). Whole books barely move."""
    return round(examples / (examples + PRIOR_EXAMPLES), 4)


def _fit(X: np.ndarray, y: np.ndarray, horizon_days: int, facts: dict) -> RiskModel:
    mean, scale, coef, intercept = fit_logistic(X, y)
    weight = blend_weight(len(y))
    return RiskModel("learned", "learned", horizon_days, tuple(mean.tolist()),
                     tuple(scale.tolist()), tuple(round(c, 6) for c in coef.tolist()),
                     intercept, facts | {"examples": len(y), "weight": weight}, weight)


def _log_odds(risk_pct: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(risk_pct, dtype=float) / 100.0, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def blended_logit(model: RiskModel, X: np.ndarray, fallback: np.ndarray | None) -> np.ndarray:
    """The risk's log-odds: the learned model's, weighted by `model.weight`, plus the
    fallback's (a 0-100 risk) weighted the rest. Without a fallback probability (no BG/NBD
    fit), the learned model's alone."""
    learned = _logit(model, X)
    if fallback is None or model.weight >= 1.0:
        return learned
    return model.weight * learned + (1.0 - model.weight) * _log_odds(fallback)


def training_accounts(n: int, limit: int = TRAIN_ACCOUNTS) -> np.ndarray:
    """Positions of the accounts the model learns from: all, or `limit` evenly spread."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).astype(np.int64))


def fit_risk_model(history, as_of: date, horizon_days: int, *, window_days: int = 365,
                   detractor_nps: int = 6, cut_count: int | None = None) -> RiskModel:
    """Learn the risk model from the book's history up to `as_of`, or say why not.

    The choice between the learned model and the fallback is a backtest inside the training
    period: fit on the older cuts, compare ROC AUCs at the newest cut (whose horizon ended
    by as_of). Worse there by more than chance: the fallback; better by more than chance:
    the learned model alone; else the two blended (`blend_weight`)."""
    from scoring.metrics import roc_auc

    if history is None:
        return RiskModel("bgnbd", "no_history", horizon_days)
    if len(history) > TRAIN_ACCOUNTS:
        history = history.subset(training_accounts(len(history)))
    cuts = training_cuts(history.first_day, as_of, horizon_days, count=cut_count or CUTS)
    span = 0 if history.first_day == NO_DATE else as_of.toordinal() - history.first_day
    if not cuts:
        return RiskModel("bgnbd", "young_book", horizon_days,
                         facts={"history_days": span, "needed_days": horizon_days + 90})
    parts = [examples(history, cut, horizon_days, window_days, detractor_nps, k == 0)
             for k, cut in enumerate(cuts)]
    newest_X, newest_y, newest_fallback = parts[0]
    churners, stayers = int(newest_y.sum()), int((~newest_y).sum())
    facts = {"cuts": [c.isoformat() for c in cuts], "accounts": len(newest_y),
             "churners": churners, "stayers": stayers}
    if len(newest_y) < MIN_ACCOUNTS or min(churners, stayers) < MIN_CLASS:
        return RiskModel("bgnbd", "too_few", horizon_days, facts=facts)
    if len(cuts) > 1:
        # The backtest inside the training period: fitted on the older cuts, the blend
        # must not rank the newest cut worse than the fallback alone by more than chance.
        older_X = np.concatenate([p[0] for p in parts[1:]])
        older_y = np.concatenate([p[1] for p in parts[1:]])
        if min(int(older_y.sum()), int((~older_y).sum())) < MIN_CLASS:
            return RiskModel("bgnbd", "too_few", horizon_days, facts=facts)
        trial = _logit(_fit(older_X, older_y, horizon_days, {}), newest_X)
        learned_auc = roc_auc(trial, newest_y)
        fallback_auc = roc_auc(newest_fallback, newest_y)
        facts |= {"auc_learned": round(learned_auc, 4), "auc_fallback": round(fallback_auc, 4)}
        noise = _noise(trial, newest_fallback, newest_y)
        if fallback_auc - learned_auc > noise:
            return RiskModel("bgnbd", "not_better", horizon_days, facts=facts)
        clearly = learned_auc - fallback_auc > noise
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    model = _fit(X, y, horizon_days, facts)
    if len(cuts) > 1 and clearly:
        return replace(model, weight=1.0, facts=model.facts | {"weight": 1.0})
    # One past cut: nothing older to check it on; the blend with the fallback is the guard.
    return model if len(cuts) > 1 else replace(model, reason="learned_unchecked")


def _noise(learned: np.ndarray, fallback: np.ndarray, y: np.ndarray, reps: int = 40) -> float:
    """How far apart the two AUCs may be by chance: 1.96 bootstrap standard deviations of
    their paired difference. The learned model is kept unless the fallback beats it by
    more: on a 300-account book one cut's comparison is mostly noise, and the learned
    model is the better one on every real book measured (bench/risk_study.py)."""
    from scoring.metrics import bootstrap_aucs

    draws = bootstrap_aucs({"l": learned, "f": fallback}, y, reps=reps, seed=0)
    diff = draws["f"] - draws["l"]
    diff = diff[~np.isnan(diff)]
    return 1.96 * float(diff.std()) if len(diff) > 1 else 0.0


def _logit(model: RiskModel, X: np.ndarray) -> np.ndarray:
    z = (X - np.asarray(model.mean)) / np.asarray(model.scale)
    return z @ np.asarray(model.coef) + model.intercept


# --- scoring and explaining -------------------------------------------------------------

def churn_risk(book: Book, model: RiskModel, X: np.ndarray, bg: BGNBD | None) -> np.ndarray:
    """Risk 0-100 (not rounded) for every account; nan for accounts that never ordered.

    Learned: P(no order in the next H days) in %. Fallback: BG/NBD's, or a rank."""
    ordered = book.last_order != NO_DATE
    out = np.full(len(book), np.nan)
    if model.learned:
        fallback = (fallback_risk(book, bg, X, model.horizon_days)[ordered]
                    if bg is not None and model.weight < 1.0 else None)
        out[ordered] = 100.0 / (1.0 + np.exp(-blended_logit(model, X[ordered], fallback)))
    else:
        out[ordered] = fallback_risk(book, bg, X, model.horizon_days)[ordered]
    return out


def fallback_risk(book: Book, bg: BGNBD | None, X: np.ndarray, horizon_days: int) -> np.ndarray:
    """0-100 for accounts that ordered (others: 0). BG/NBD's P(no order in H), sorted, given
    out in the order of the mean of BG/NBD's rank and recency's rank (then lower spend),
    spread by at most 0.01 points so no two accounts share a value; without a fit, the
    rank by recency (then fewer order days, lower spend)."""
    from scoring.ranks import average_ranks

    ordered = book.last_order != NO_DATE
    out = np.zeros(len(book))
    if not ordered.any():
        return out
    Xo = X[ordered]
    n = len(Xo)
    rec = average_ranks(Xo[:, FEATURES.index("recency")]) / n
    low = average_ranks(-Xo[:, FEATURES.index("spend_12m")]) / n
    if bg is None:
        few = average_ranks(-Xo[:, FEATURES.index("repeat_days")]) / n
        out[ordered] = 100.0 * np.clip(rec * (1 - 2e-3) + 1e-3 * few + 1e-3 * low, 0, 1)
        return out
    p = p_no_order(book, bg, horizon_days)[ordered]
    key = (average_ranks(p) / n + rec) / 2 + 1e-6 * low
    place = np.empty(n, dtype=np.int64)
    place[np.argsort(key, kind="stable")] = np.arange(n)
    # Equal probabilities (same x, t_x, T) are pulled apart by 0.0001 points each, the
    # precision a snapshot keeps, so no two accounts share a stored risk.
    step = 1e-4
    values = np.sort(p) * 100.0 * (1 - 1e-3)
    k = np.arange(n) * step
    values = np.maximum.accumulate(values - k) + k
    out[ordered] = values[place]
    return out


def contributions(model: RiskModel, X: np.ndarray, typical: np.ndarray) -> np.ndarray:
    """Per-feature pushes on the log-odds of churn against the book's typical account.

    Learned: coefficient x standardised deviation. Fallback: the standardised deviation
    signed by the direction each moves the fallback: recency up, BG/NBD's expected orders
    down (order days alone push either way in BG/NBD, so they are no reason), halved."""
    if model.learned:
        learned = (X - typical) / np.asarray(model.scale) * np.asarray(model.coef)
        if model.weight >= 1.0:
            return learned
        prior = contributions(RiskModel("bgnbd", "prior", model.horizon_days), X, typical)
        return model.weight * learned + (1.0 - model.weight) * prior
    sign = np.zeros(len(FEATURES))
    for name, s in (("recency", 1.0), ("expected_orders", -1.0)):
        sign[FEATURES.index(name)] = s
    spread = X.std(axis=0) if len(X) else np.ones(len(FEATURES))
    spread = np.where(spread > 1e-9, spread, 1.0)
    return (X - typical) / spread * sign * 0.5


def typical_account(X: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """The book's typical account: each feature's median over accounts that ordered."""
    if not ordered.any():
        return np.zeros(X.shape[1])
    return np.median(X[ordered], axis=0)
