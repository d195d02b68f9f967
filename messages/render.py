"""One renderer for every reply: `render(template, context, channel=, locale=)`.

Templates live in `templates/<channel>/<locale>/<name>.j2`, falling back to `en`. Jinja
runs with StrictUndefined (a missing value is a bug, not an empty string) and
autoescaping off: each channel escapes user text through its own filter (`esc`), so a
note can never mention @channel or break the format.
"""
from __future__ import annotations

import math
import re
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).parent / "templates"
CHANNELS = ("text", "slack", "wecom")
LOCALES = ("en", "zh")
TIER_NAMES = {"en": {t: t for t in ("strategic", "key", "potential", "general", "at-risk")},
              "zh": {"strategic": "战略级", "key": "重点级", "potential": "潜力级",
                     "general": "一般", "at-risk": "流失风险"}}
STAGE_NAMES = {"en": {s: s for s in ("new", "growing", "mature", "declining", "dormant")},
               "zh": {"new": "新客", "growing": "成长", "mature": "成熟", "declining": "衰退",
                      "dormant": "沉睡"}}
# What users read for stored codes: interaction kinds, what was delivered, and where.
KIND_NAMES = {"en": {k: k for k in ("visit", "call", "meeting", "email", "review")},
              "zh": {"visit": "拜访", "call": "电话", "meeting": "会议", "email": "邮件",
                     "review": "复盘"}}
DELIVERY_NAMES = {"en": {"digest": "digest", "reminder": "reminder", "alert": "at-risk alert",
                         "slack": "Slack", "wecom": "WeCom", "console": "console"},
                  "zh": {"digest": "周报", "reminder": "拜访提醒", "alert": "流失预警",
                         "slack": "Slack", "wecom": "企业微信", "console": "控制台"}}
# The tier rules' condition fields (scoring/config.py FIELDS), as a card shows what matched.
# English keeps the names tiers.toml uses, so an admin can find the rule's condition.
FIELD_NAMES = {"en": {}, "zh": {"r_score": "R分", "f_score": "F分", "m_score": "M分",
                                "recency_days": "距上次下单天数", "frequency": "订单数",
                                "monetary": "采购额", "churn_risk": "流失风险",
                                "risk_rank": "风险排名", "p_alive": "存活概率",
                                "lifecycle": "生命周期", "age_days": "客户天数",
                                "days_to_due": "距应下单天数"}}
# A currency's sign; any other is written as its code and a space ("CHF 1,250"). JP¥ so a
# yen amount never reads as yuan.
CURRENCY_SIGNS = {"USD": "$", "CNY": "¥", "EUR": "€", "GBP": "£", "JPY": "JP¥", "HKD": "HK$"}
WHOLE_UNITS = frozenset({"JPY", "KRW"})  # currencies without cents
WAN, YI = Decimal(10_000), Decimal(100_000_000)


def escape_text(value: object) -> str:
    """Console: strip control characters (ANSI escapes included) so output can't be spoofed."""
    return "".join(ch for ch in str(value) if ch in "\n\t" or ch.isprintable())


def escape_slack(value: object) -> str:
    """Slack mrkdwn: &, < and > escaped, so <!channel> and <@U123> stay plain text."""
    return escape_text(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_wecom(value: object) -> str:
    """WeCom markdown: markup characters and @ defused, so text can't format or mention."""
    out = escape_text(value)
    for ch in "\\`*_[]<>#~|":
        out = out.replace(ch, "\\" + ch)
    return out.replace("@", "＠")


ESCAPES = {"text": escape_text, "slack": escape_slack, "wecom": escape_wecom}


def money(value: object, currency: str, locale: str = "en") -> str:
    """Every money figure a user reads, always with its currency. The one rule:

    - the currency's sign ($, ¥, €, £, HK$, JP¥), else its code: "CHF 1,250";
    - whole units from 1,000 up ("$58,469"), cents below ("$980.50"): the big figures are
      read at a glance, and a small order's cents are part of it (JPY, KRW: always whole);
    - Chinese, and only for CNY: from 1万 in 万 with one decimal ("¥5.8万"), from 1亿 in 亿
      with two ("¥1.25亿"); other currencies keep thousands in Chinese too ("$58,469"),
      and English never shows 万;
    - a minus before the sign ("-$1,234"); no amount (None, NaN): "—".
    """
    if value is None:
        return "—"
    amount = Decimal(str(value))
    if not amount.is_finite():
        return "—"
    sign = CURRENCY_SIGNS.get(currency, f"{currency} ")
    minus = "-" if amount < 0 else ""
    size = abs(amount)
    if locale == "zh" and currency == "CNY" and round(size) >= WAN:
        if round(size / WAN, 1) >= WAN:
            return f"{minus}{sign}{size / YI:,.2f}亿"
        return f"{minus}{sign}{size / WAN:,.1f}万"
    if currency in WHOLE_UNITS or round(size, 2) >= 1000:
        text = f"{size:,.0f}"
    else:
        text = f"{size:,.2f}"
    if text.strip("0.,") == "":
        minus = ""  # -0.001 is "$0.00", not "-$0.00"
    return f"{minus}{sign}{text}"


def day(value: date | str | None, locale: str = "en") -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if locale == "zh":
        return f"{value.year}年{value.month}月{value.day}日"
    return value.strftime("%-d %b %Y")


_ISO_WEEK = re.compile(r"(\d{4})-W(\d{2})")


def period(value: str, locale: str = "en") -> str:
    """A delivery's ledger period as a reader says it: a digest's ISO week ("2026-W48": week
    48 of 2026), a reminder's day (the date as `day` says it), an alert's score run."""
    week = _ISO_WEEK.fullmatch(value)
    if week:
        year, number = week[1], int(week[2])
        return f"{year}年第{number}周" if locale == "zh" else f"week {number} of {year}"
    if value.startswith("run-") and value[4:].isdigit():
        return f"第{value[4:]}次评分" if locale == "zh" else f"score run {value[4:]}"
    try:
        return day(date.fromisoformat(value), locale)
    except ValueError:
        return value


def plural(n: int | float, singular: str, plural_form: str | None = None, width: int = 0) -> str:
    """English count and noun: "1 day", "2 days", "1,204 accounts" (right-aligned to `width`).

    English has only one/other, so two forms suffice (no gettext catalogue needed); the
    Chinese templates have no plurals and don't use this. A fraction is said in whole
    units, rounded as "%.0f" rounds it, and the noun agrees with what is printed:
    1.4 days is "1 day"."""
    number = f"{n:,}" if isinstance(n, int) else f"{n:,.0f}"
    word = singular if number == "1" else (plural_form or singular + "s")
    return f"{number:>{width}} {word}"


def ago(days: int, locale: str = "en") -> str:
    """How long ago, in whole days: "today", "1 day ago", "12 days ago" (今天, 12天前)."""
    if locale == "zh":
        return "今天" if days == 0 else f"{days}天前"
    return "today" if days == 0 else plural(days, "day") + " ago"


def pct(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def risk(value: float | None) -> str:
    """A churn risk or a chance (a probability in %, 0-100) as every reply says it: the
    card, /at-risk, alerts and the digest. Whole percent, the one precision a rep compares;
    but a probability strictly between 0 and 100 never reads as a certain 100% or an
    impossible 0%: it is ">99%" or "<1%"."""
    if value is None:
        return "—"
    shown = math.floor(value + 0.5)
    if shown >= 100 and value < 100:
        return ">99%"
    if shown <= 0 and value > 0:
        return "<1%"
    return f"{shown}%"


def rank(value: float | None) -> str:
    """A risk rank (the % of the book with a lower risk) as "riskier than N% of the book"
    says it: rounded down, so it stays true (99.7 is riskier than 99%, not than 100%)."""
    return "—" if value is None else f"{math.floor(value)}%"


@lru_cache(maxsize=None)
def _environment(channel: str, locale: str) -> jinja2.Environment:
    # A channel without its own template yet uses the text one, still through the
    # channel's own `esc`, so what it shows is escaped for that channel.
    paths = [TEMPLATES / channel / locale, TEMPLATES / channel / "en",
             TEMPLATES / "text" / locale, TEMPLATES / "text" / "en"]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([str(p) for p in paths]),
                             undefined=jinja2.StrictUndefined, autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
    env.filters["esc"] = ESCAPES[channel]
    env.filters["money"] = lambda v, currency: money(v, currency, locale)
    env.filters["day"] = lambda v: day(v, locale)
    env.filters["period"] = lambda v: period(v, locale)
    env.filters["pct"] = pct
    env.filters["plural"] = plural
    env.filters["ago"] = lambda v: ago(v, locale)
    env.filters["kind"] = lambda v: KIND_NAMES[locale].get(v, v)
    env.filters["delivery"] = lambda v: DELIVERY_NAMES[locale].get(v, v)
    env.filters["field"] = lambda v: FIELD_NAMES[locale].get(v, v)
    env.filters["risk"] = risk
    env.filters["rank"] = rank
    env.globals["tiers"] = TIER_NAMES[locale]
    env.globals["stages"] = STAGE_NAMES[locale]
    return env


def render(template: str, context: dict, *, channel: str = "text", locale: str = "en") -> str:
    """The template as text for `channel` (escaped for it), before any channel framing."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    locale = locale if locale in LOCALES else "en"
    return _environment(channel, locale).get_template(f"{template}.j2").render(**context).strip()


def render_for(template: str, context: dict, *, channel: str, locale: str = "en"):
    """What the channel receives: text, Slack Block Kit (a dict) or WeCom markdown."""
    from messages.channels import to_slack, to_wecom

    text = render(template, context, channel=channel, locale=locale)
    if channel == "slack":
        return to_slack(text, locale)
    if channel == "wecom":
        return to_wecom(text, locale)
    return text
