"""The words on the scheduler's WeCom cards (revisit reminders, at-risk alerts) and on the
digest's chart upload, in English and Chinese. The adapter lays them out (bot/wecom/cards.py);
dates, tiers and risks are said the way every reply says them (messages/render.py)."""
from __future__ import annotations

from messages.render import TIER_NAMES, day, plural, risk

REMINDER = {
    "en": {"title": "Revisit due", "today": "due today", "tier": "Tier",
           "last": "Last contact", "never": "never"},
    "zh": {"title": "拜访提醒", "overdue": "逾期{n}天", "today": "今天到期", "tier": "分层",
           "last": "最近联系", "never": "从未联系"},
}
ALERT = {
    "en": {"title": "At-risk alert", "was": "Was", "risk": "Churn risk"},
    "zh": {"title": "流失预警", "was": "原分层", "risk": "流失风险"},
}
CHART_TITLE = {"en": "Tiers this week", "zh": "本周客户分层"}


def _words(table: dict, locale: str) -> dict:
    return table.get(locale, table["zh"])  # WeCom's members read Chinese unless they chose


def reminder_card(row: dict, locale: str) -> dict:
    """Title, description and facts of one account's revisit reminder card."""
    words = _words(REMINDER, locale)
    late = row["days_overdue"]
    if late <= 0:
        when = words["today"]
    elif "overdue" in words:
        when = words["overdue"].format(n=late)
    else:  # English counts need their noun's number ("1 day overdue")
        when = plural(late, "day") + " overdue"
    names = TIER_NAMES.get(locale, TIER_NAMES["en"])
    return {"title": words["title"], "description": when,
            "facts": [(words["tier"], names.get(row["tier"], row["tier"])),
                      (words["last"], day(row["last"], locale) if row["last"]
                       else words["never"])]}


def alert_card(row: dict, locale: str) -> dict:
    """Title, description (the reason) and facts of one account's at-risk alert card."""
    words = _words(ALERT, locale)
    names = TIER_NAMES.get(locale, TIER_NAMES["en"])
    return {"title": words["title"], "description": row.get("reason") or words["title"],
            "facts": [(words["was"], names.get(row["previous_tier"], row["previous_tier"])),
                      (words["risk"], risk(row["churn_risk"]))]}


def chart_title(locale: str) -> str:
    return CHART_TITLE.get(locale, CHART_TITLE["en"])
