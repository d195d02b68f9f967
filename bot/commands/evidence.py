"""/backtest: whether the team can trust the churn risk, measured on its own book."""
from __future__ import annotations

from datetime import timedelta

from bot.commands.accounts import Context
from bot.commands.core import Reply, UserError
from messages.risk import model_sentence
from storage.scores import current_risk_model

HORIZONS = (30, 90, 180)
CHAT_REPS = 100  # bootstrap resamples: enough for a headline, quick enough for chat


def backtest(args: list[str], ctx: Context) -> Reply:
    """Managers: the risk, recency alone and BG/NBD at the latest cut whose horizon has
    ended (today - H), with 95% intervals, the top decile and the model in use."""
    from bot.scoring_jobs import NothingToScore, RatesMissing, backtest as run_backtest

    if ctx.person.role not in ("manager", "admin"):
        raise UserError("managers_only")
    horizon = int(ctx.services.scoring.risk["horizon_days"])
    for word in args:
        if word.isdigit() and int(word) in HORIZONS:
            horizon = int(word)
        else:
            raise UserError("usage", command="backtest")
    cut = ctx.services.today() - timedelta(days=horizon)
    try:
        result = run_backtest(ctx.services.engine, ctx.services.scoring, cut, horizon,
                              reps=CHAT_REPS, currency=ctx.services.settings.currency)
    except RatesMissing as exc:
        raise UserError("missing_rates", currencies=exc.currencies,
                        reporting=exc.reporting) from None
    except NothingToScore:
        raise UserError("backtest_too_early", as_of=cut, horizon=horizon) from None
    d, lo, hi = result.diff["risk-recency"]
    verdict = "better" if lo > 0 else "worse" if hi < 0 else "unclear"
    # The model on the cards (the current run's, with its in-training check) is said here,
    # once, not on every card; the one scored at the cut only when it was another kind.
    current = current_risk_model(ctx.services.engine) or {}
    tested = {"kind": result.model["kind"], "reason": result.model["reason"],
              "horizon_days": horizon, "facts": result.model["facts"]}
    same = (tested["kind"], tested["reason"]) == (current.get("kind"), current.get("reason"))
    return Reply("backtest", {"r": result, "verdict": verdict,
                              "model": model_sentence(current, ctx.locale),
                              "tested": "" if same else model_sentence(tested, ctx.locale),
                              "churned_pct": 100.0 * result.churned / max(result.accounts, 1)})
