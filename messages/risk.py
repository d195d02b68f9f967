"""The churn risk in words, English and Chinese: its reasons, the model in use, the stage.

Reasons come from the risk's own per-feature contributions (see scoring/risk.py and
scoring/reasons.py); each reaches here as {"code", "effect", "params"} and is said with its
numbers: counts with their nouns, dates as the card writes them. A positive effect raises
the risk, a negative one lowers it. Amounts of money are said by `money` in the run's
reporting currency (MONEY_PARAMS).
"""
from __future__ import annotations

import string

from messages.render import ago, day, money, plural

REASONS = {
    "en": {
        "recency": "Last order {recency_days:ago} (a typical account here: {typical_recency_days:day}).",
        "repeat_days": "Ordered on {order_days:separate day} since {first_order:date} (typical: {typical_order_days:,}).",
        "spend_12m": "{spend_12m} spent in the last 12 months (typical: {typical_spend_12m}).",
        "age": "A customer for {age_days:day} (typical: {typical_age_days:,}).",
        "overdue": "No order for {recency_days:day}; this account usually orders every {usual_gap_days:day}.",
        "overdue_today": "Ordered today; this account usually orders every {usual_gap_days:day}.",
        "far_overdue": "No order for {recency_days:day}, more than twice its usual gap of {usual_gap_days:day}.",
        "not_due": "Orders about every {usual_gap_days:day}, last {recency_days:ago}: the next is not due within {horizon_days:day}.",
        "not_due_today": "Orders about every {usual_gap_days:day} and ordered today: the next is not due within {horizon_days:day}.",
        "spend_trend": "Spend last quarter {last_quarter} against {quarter_before} the quarter before.",
        "contact_trend": "{last_90:contact} in the last 90 days against {previous_90} in the 90 before.",
        "detractor": "Detractor NPS of {nps} in the last 90 days.",
        "complaint": "{complaints:complaint} in the last 90 days.",
        "expected_orders": "The purchase model expects {expected} orders in the next {horizon_days:day} (typical: {typical_expected}).",
    },
    "zh": {
        "recency": "最近一次下单在{recency_days:ago}（本客户群典型值：{typical_recency_days}天）。",
        "repeat_days": "自{first_order:date}以来在{order_days}个不同日期下单（典型值：{typical_order_days}）。",
        "spend_12m": "近12个月采购额{spend_12m}（典型值：{typical_spend_12m}）。",
        "age": "已是客户{age_days}天（典型值：{typical_age_days}天）。",
        "overdue": "已{recency_days}天未下单；该客户通常每{usual_gap_days:.0f}天下单一次。",
        "overdue_today": "今天刚下过单；该客户通常每{usual_gap_days:.0f}天下单一次。",
        "far_overdue": "已{recency_days}天未下单，超过其通常间隔（{usual_gap_days:.0f}天）的两倍。",
        "not_due": "通常约每{usual_gap_days:.0f}天下单，上次在{recency_days:ago}：未来{horizon_days}天内还未到下次下单时间。",
        "spend_trend": "上季度采购额{last_quarter}，再上一季度{quarter_before}。",
        "contact_trend": "近90天互动{last_90}次，之前90天{previous_90}次。",
        "detractor": "近90天净推荐值为{nps}（贬损者）。",
        "complaint": "近90天有{complaints}次投诉。",
        "expected_orders": "购买模型预计未来{horizon_days}天下单{expected}次（典型值：{typical_expected}）。",
    },
}
# What the English sentences count, as "{n:<noun>}": the count with its noun, singular for
# one (a usual gap of 1.4 days is "1 day", rounded as the card rounds it). Chinese has no
# plurals.
NOUNS = {"day": ("day", "days"), "separate day": ("day", "separate days"),
         "contact": ("contact", "contacts"), "complaint": ("complaint", "complaints"),
         "interaction": ("interaction", "interactions")}


class _Wording(string.Formatter):
    """str.format with the card's own words for numbers: "{n:<noun>}" (NOUNS), "{n:ago}"
    ("today", "3 days ago") and "{d:date}" (the card's date, 17 Dec 2023 / 2023年12月17日),
    so a reason says a date or a count the way every other line of the card does."""

    def __init__(self, locale: str) -> None:
        self.locale = locale

    def format_field(self, value, format_spec: str) -> str:
        if format_spec in NOUNS:
            return plural(value, *NOUNS[format_spec])
        if format_spec == "ago":
            return ago(value, self.locale)
        if format_spec == "date":
            return day(value, self.locale)
        return super().format_field(value, format_spec)


WORDING = {locale: _Wording(locale) for locale in ("en", "zh")}

MODEL = {
    "en": {
        "learned": "Churn risk: the chance of no order in the next {horizon_days} days, learned "
                   "from this book's own history ({n_cuts} past dates, {accounts} accounts); "
                   "checked inside that history it ranked with AUC {auc_learned} against "
                   "{auc_fallback} for the purchase model.",
        "learned_unchecked": "Churn risk: the chance of no order in the next {horizon_days} days, "
                             "learned from this book's own history (1 past date, {accounts} "
                             "accounts); the history is too short yet to check it against the "
                             "purchase model on an older date.",
        "young_book": "Churn risk: the purchase model's (BG/NBD) chance of no order in the next "
                      "{horizon_days} days, because the book has {history_days} days of history "
                      "and learning from it needs {needed_days}.",
        "too_few": "Churn risk: the purchase model's (BG/NBD) chance of no order in the next "
                   "{horizon_days} days, because too few accounts stopped or kept buying in the "
                   "book's past to learn from ({churners} stopped, {stayers} kept buying; "
                   "learning needs at least 100 accounts and 30 of each).",
        "not_better": "Churn risk: the purchase model's (BG/NBD) chance of no order in the next "
                      "{horizon_days} days, because a model learned from this book did not beat "
                      "it on the book's own history (AUC {auc_learned} against {auc_fallback}).",
        "no_history": "Churn risk: the purchase model's (BG/NBD) chance of no order in the next "
                      "{horizon_days} days (no order history to learn from).",
        "ranks": "Churn risk: a rank by days since the last order (0-100, not a probability), "
                 "because the book has too few repeat buyers for the purchase model.",
    },
    "zh": {
        "learned": "流失风险：未来{horizon_days}天不下单的概率，由本客户群自己的历史学习得出"
                   "（{n_cuts}个历史时点，{accounts}个客户）；在历史内回测的AUC为{auc_learned}，"
                   "购买模型为{auc_fallback}。",
        "learned_unchecked": "流失风险：未来{horizon_days}天不下单的概率，由本客户群自己的历史学习得出"
                             "（1个历史时点，{accounts}个客户）；历史还太短，无法在更早的时点与购买模型"
                             "对比检验。",
        "young_book": "流失风险：购买模型（BG/NBD）估计的未来{horizon_days}天不下单的概率；"
                      "客户群只有{history_days}天历史，学习需要{needed_days}天。",
        "too_few": "流失风险：购买模型（BG/NBD）估计的未来{horizon_days}天不下单的概率；"
                   "历史中停止或持续采购的客户太少，无法学习（停止{churners}个，持续{stayers}个；"
                   "学习需要至少100个客户，两类各至少30个）。",
        "not_better": "流失风险：购买模型（BG/NBD）估计的未来{horizon_days}天不下单的概率；"
                      "由本客户群学习的模型在历史回测中没有更好（AUC {auc_learned}，购买模型"
                      "{auc_fallback}）。",
        "no_history": "流失风险：购买模型（BG/NBD）估计的未来{horizon_days}天不下单的概率"
                      "（没有可学习的订单历史）。",
        "ranks": "流失风险：按距上次下单天数的排名（0-100，不是概率）；复购客户太少，"
                 "无法拟合购买模型。",
    },
}

# Said after the model sentence when the learned model shares the risk with the fallback.
BLEND = {
    "en": " It counts for {learned_pct}% of the risk and the purchase model for the rest "
          "({examples} past examples to learn from; it counts fully once it clearly ranks better "
          "on the book's own history).",
    "zh": "学习模型占风险的{learned_pct}%，其余来自购买模型（可学习的历史样本{examples}个；"
          "在本客户群历史上明显排得更准时才完全采用）。",
}

STAGE = {
    "en": {
        "dormant": "Dormant: no order for {days_since_order} days, {times:.1f}x {whose} gap of "
                   "{gap_days:.0f} days.",
        "spend_halved": "Declining: {spend_12m} spent in the last 12 months against "
                        "{spend_prev_12m} the 12 before.",
        "two_quarters_down": "Declining: spend fell two quarters running ({two_quarters_ago}, "
                             "then {quarter_before}, then {last_quarter}).",
    },
    "zh": {
        "dormant": "沉睡：已{days_since_order}天未下单，是{whose}间隔（{gap_days:.0f}天）的"
                   "{times:.1f}倍。",
        "spend_halved": "衰退：近12个月采购额{spend_12m}，之前12个月{spend_prev_12m}。",
        "two_quarters_down": "衰退：采购额连续两个季度下降（{two_quarters_ago}、"
                             "{quarter_before}、{last_quarter}）。",
    },
}
WHOSE = {"en": {True: "its usual", False: "the book's typical"},
         "zh": {True: "其通常", False: "客户群典型"}}


# Params that are amounts of money (in the score run's reporting currency).
MONEY_PARAMS = frozenset({"spend_12m", "typical_spend_12m", "spend_prev_12m", "last_quarter",
                          "quarter_before", "two_quarters_ago"})


def _texts(table: dict, locale: str) -> dict:
    return table.get(locale, table["en"])


def with_money(params: dict, currency: str | None, locale: str) -> dict:
    """`params` with its amounts of money said by `money` in `currency` (the run's); without
    a currency (pure scoring contexts, tests), as bare whole numbers."""
    return {k: (_amount(v, currency, locale) if k in MONEY_PARAMS else v)
            for k, v in params.items()}


def _amount(value, currency: str | None, locale: str) -> str:
    return money(value, currency, locale) if currency else f"{value:,.0f}"


def reason_sentence(reason: dict, locale: str = "en", currency: str | None = None) -> str:
    """One risk reason ({"code", "effect", "params"}) as a sentence with its numbers (money
    in `currency`); an account that ordered today is said so ("<code>_today" where a
    sentence needs it)."""
    texts = _texts(REASONS, locale)
    params = with_money(reason["params"], currency, locale)
    code = reason["code"]
    if params.get("recency_days") == 0 and code + "_today" in texts:
        code += "_today"
    return WORDING.get(locale, WORDING["en"]).format(texts[code], **params)


def model_sentence(record: dict | None, locale: str = "en") -> str:
    """Which churn-risk model a run used, and why ("" for runs before it was recorded)."""
    if not record:
        return ""
    facts = dict(record.get("facts") or {})
    key = "ranks" if record.get("kind") == "ranks" else record.get("reason", "no_history")
    facts.setdefault("n_cuts", len(facts.get("cuts", [])))
    facts.setdefault("horizon_days", record.get("horizon_days", 90))
    text = _texts(MODEL, locale)[key].format(**facts)
    weight = facts.get("weight", 1.0)
    if record.get("kind") == "learned" and weight < 1.0:
        text += _texts(BLEND, locale).format(learned_pct=max(1, min(99, round(100 * weight))),
                                             examples=f"{facts.get('examples', 0):,}")
    return text


def stage_sentence(stage: dict | None, locale: str = "en", currency: str | None = None) -> str:
    """Why an account is declining or dormant, with its numbers ("" otherwise)."""
    if not stage:
        return ""
    params = with_money(stage, currency, locale)
    code = params.pop("code")
    if code == "dormant":
        params["times"] = params["days_since_order"] / max(params["gap_days"], 1.0)
        params["whose"] = WHOSE.get(locale, WHOSE["en"])[bool(params.pop("own_gap"))]
    return _texts(STAGE, locale)[code].format(**params)
