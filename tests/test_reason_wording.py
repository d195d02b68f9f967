"""The risk's reasons in words: counts agree with their nouns, "0 days ago" is today, and
dates are written as the card writes every other date, in English and Chinese."""
import re

import pytest

from messages.render import ago, day, plural
from messages.risk import REASONS, reason_sentence


def say(code: str, locale: str = "en", **params) -> str:
    return reason_sentence({"code": code, "effect": 0.5, "params": params}, locale)


def test_every_reason_is_said_in_both_languages_without_plural_placeholders():
    base = {code.removesuffix("_today") for code in REASONS["en"]}
    assert base == {code.removesuffix("_today") for code in REASONS["zh"]}
    assert not any("(s)" in text for text in REASONS["en"].values())


@pytest.mark.parametrize("days, en, zh", [
    (0, "Last order today (a typical account here: 1 day).", "最近一次下单在今天（本客户群典型值：1天）。"),
    (1, "Last order 1 day ago (a typical account here: 1 day).", "最近一次下单在1天前（本客户群典型值：1天）。"),
    (1204, "Last order 1,204 days ago (a typical account here: 1 day).",
     "最近一次下单在1204天前（本客户群典型值：1天）。"),
])
def test_days_since_the_last_order(days, en, zh):
    assert say("recency", recency_days=days, typical_recency_days=1) == en
    assert say("recency", "zh", recency_days=days, typical_recency_days=1) == zh


def test_order_days_and_the_first_order_date_as_the_card_writes_dates():
    one = dict(order_days=1, first_order="2024-03-03", typical_order_days=1)
    many = dict(order_days=33, first_order="2023-12-17", typical_order_days=1500)
    assert say("repeat_days", **one) == "Ordered on 1 day since 3 Mar 2024 (typical: 1)."
    assert say("repeat_days", **many) == \
        "Ordered on 33 separate days since 17 Dec 2023 (typical: 1,500)."
    assert say("repeat_days", "zh", **many) == "自2023年12月17日以来在33个不同日期下单（典型值：1500）。"
    # The same function as every other date on the card, in each language.
    assert day("2023-12-17", "en") in say("repeat_days", **many)
    assert day("2023-12-17", "zh") in say("repeat_days", "zh", **many)


def test_contacts_complaints_and_gaps_agree_with_their_count():
    assert say("contact_trend", last_90=1, previous_90=1) == \
        "1 contact in the last 90 days against 1 in the 90 before."
    assert say("contact_trend", last_90=0, previous_90=3).startswith("0 contacts in")
    assert say("complaint", complaints=1) == "1 complaint in the last 90 days."
    assert say("complaint", complaints=2) == "2 complaints in the last 90 days."
    assert say("complaint", "zh", complaints=1) == "近90天有1次投诉。"
    assert say("far_overdue", recency_days=3, usual_gap_days=1.4) == \
        "No order for 3 days, more than twice its usual gap of 1 day."
    assert say("overdue", recency_days=1, usual_gap_days=30.5) == \
        "No order for 1 day; this account usually orders every 30 days."
    assert say("age", age_days=1, typical_age_days=954) == "A customer for 1 day (typical: 954)."


def test_an_account_that_ordered_today_is_not_said_to_have_gone_zero_days_without():
    assert say("overdue", recency_days=0, usual_gap_days=12.0) == \
        "Ordered today; this account usually orders every 12 days."
    assert say("overdue", "zh", recency_days=0, usual_gap_days=12.0) == \
        "今天刚下过单；该客户通常每12天下单一次。"
    not_due = dict(usual_gap_days=130.0, horizon_days=90)
    assert say("not_due", recency_days=0, **not_due) == \
        "Orders about every 130 days and ordered today: the next is not due within 90 days."
    assert say("not_due", recency_days=3, **not_due) == \
        "Orders about every 130 days, last 3 days ago: the next is not due within 90 days."
    assert "上次在今天" in say("not_due", "zh", recency_days=0, **not_due)


def test_amounts_stay_plain_numbers():
    """Amounts are another change's (currencies): the params keep numbers, said as before."""
    assert say("spend_12m", spend_12m=58469.12, typical_spend_12m=1234.5) == \
        "58,469 spent in the last 12 months (typical: 1,234)."


def test_the_plural_and_ago_helpers():
    assert [ago(0), ago(1), ago(2)] == ["today", "1 day ago", "2 days ago"]
    assert [ago(0, "zh"), ago(5, "zh")] == ["今天", "5天前"]
    assert [plural(1.4, "day"), plural(0.6, "day"), plural(1.5, "day")] == \
        ["1 day", "1 day", "2 days"]
    assert plural(1, "day", "separate days") == "1 day"
    assert not re.search(r"\d{4}-\d{2}-\d{2}", say("repeat_days", order_days=2,
                                                   first_order="2024-03-03",
                                                   typical_order_days=1))
