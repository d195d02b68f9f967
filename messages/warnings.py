"""Early warnings in words a rep can act on, English and Chinese.

A warning reaches here as its code and numbers (scoring/warnings.py finds them; scoring has
no words). Counts are said with their nouns ("1 interaction", "2 complaints"), days as the
card says them, chances by `messages.render.risk` (the one precision for a probability),
percentages of change in whole percent, and amounts of money by the caller's `money` (the
run's reporting currency)."""
from __future__ import annotations

from typing import Callable

from messages.render import risk
from messages.risk import WORDING

TEXT = {
    "en": {
        "spend_down_2q": "Spend fell two quarters in a row: down {drop_before_pct} and then "
                         "{drop_recent_pct} (last quarter {last_quarter}).",
        "overdue": "No order for {days_since_order:day}; this account usually orders every "
                   "{usual_gap_days:day}.",
        "interactions_falling": "Contact is falling: {last_90:interaction} in the last 90 days "
                                "against {previous_90} in the 90 before.",
        "low_activity": "The purchase model expects {expected_90d} orders in the next 90 days; "
                        "this account placed {orders_12m} in the last 12 months (about "
                        "{usual_90d} per 90 days).",
        "low_p_alive": "The purchase model puts the chance this account is still buying at "
                       "{p_alive_pct}.",
        "detractor": "Detractor NPS of {nps} in the last 90 days.",
        "complaint": "{complaints:complaint} in the last 90 days.",
    },
    "zh": {
        "spend_down_2q": "采购额连续2个季度下降：先降{drop_before_pct}，再降{drop_recent_pct}"
                         "（上季度 {last_quarter}）。",
        "overdue": "已{days_since_order}天未下单；该客户通常每{usual_gap_days:.0f}天下单一次。",
        "interactions_falling": "互动频次减少：近90天{last_90}次，之前90天{previous_90}次。",
        "low_activity": "购买模型预计未来90天下单{expected_90d}次；该客户过去12个月下单{orders_12m}次"
                        "（约每90天{usual_90d}次）。",
        "low_p_alive": "购买模型估计该客户仍在采购的概率为{p_alive_pct}。",
        "detractor": "近90天净推荐值为{nps}（贬损者）。",
        "complaint": "近90天有{complaints}次投诉。",
    },
}
# A count of orders too small to print with one decimal ("0.0 orders" reads as certainty).
FEWER = {"en": "fewer than 0.1", "zh": "不到0.1"}

# Params that are amounts of money (in the score run's reporting currency).
MONEY_PARAMS = frozenset({"last_quarter", "quarter_before", "two_quarters_ago"})
Money = Callable[[float], str]


def describe(warning, locale: str = "en", money: Money | None = None) -> str:
    """A warning (anything with `.code` and `.params`, or a stored {"code", "params"}) as a
    sentence. `money` says an amount with its currency (messages.render.money in the run's
    currency); without it, amounts are bare numbers with cents."""
    code, params = ((warning["code"], warning["params"]) if isinstance(warning, dict)
                    else (warning.code, warning.params))
    texts = TEXT.get(locale, TEXT["en"])
    return WORDING.get(locale, WORDING["en"]).format(texts[code], **_said(params, locale, money))


def _said(params: dict, locale: str, money: Money | None) -> dict:
    out = {}
    for key, value in params.items():
        if key in MONEY_PARAMS:
            value = (money or _bare)(value)
        elif key == "p_alive_pct":
            value = risk(value)
        elif key in ("drop_before_pct", "drop_recent_pct"):
            value = f"{value:.0f}%"
        elif key in ("expected_90d", "usual_90d"):
            value = FEWER.get(locale, FEWER["en"]) if value < 0.05 else f"{value:.1f}"
        out[key] = value
    return out


def _bare(value: float) -> str:
    return f"{value:,.2f}"


def top_reason(warnings: list[dict], locale: str = "en", money: Money | None = None) -> str:
    """The first stored warning ({"code", "params"}) as a sentence, or "" when there is none."""
    if not warnings:
        return ""
    return describe(warnings[0], locale, money)
