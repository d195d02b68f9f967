"""One renderer for every reply: `render(template, context, channel=, locale=)`.

Templates live in `templates/<channel>/<locale>/<name>.j2`, falling back to `en`. Jinja
runs with StrictUndefined (a missing value is a bug, not an empty string) and
autoescaping off: each channel escapes user text through its own filter (`esc`), so a
note can never mention @channel or break the format.
"""
from __future__ import annotations

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
                         "slack": "Slack", "wecom": "WeCom"},
                  "zh": {"digest": "周报", "reminder": "拜访提醒", "alert": "流失预警",
                         "slack": "Slack", "wecom": "企业微信"}}
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


def plural(n: int | float, singular: str, plural_form: str | None = None, width: int = 0) -> str:
    """English count and noun: "1 day", "2 days", "1,204 accounts" (right-aligned to `width`).

    English has only one/other, so two forms suffice (no gettext catalogue needed); the
    Chinese templates have no plurals and don't use this."""
    word = singular if n == 1 else (plural_form or singular + "s")
    number = f"{n:,}" if isinstance(n, int) else f"{n:,.0f}"
    return f"{number:>{width}} {word}"


def pct(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def points(value: float | None) -> str:
    """A 0-100 figure (a risk or a chance, in %): whole numbers, but one decimal near the
    ends, so 99.7 never reads as a certain 100 nor 0.3 as an impossible 0."""
    if value is None:
        return "—"
    if value >= 99.95 or value < 0.05:
        return ">99.9" if value >= 99.95 else "<0.1"
    return f"{value:.1f}" if value > 99 or value < 1 else f"{value:.0f}"


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
    env.filters["pct"] = pct
    env.filters["plural"] = plural
    env.filters["kind"] = lambda v: KIND_NAMES[locale].get(v, v)
    env.filters["delivery"] = lambda v: DELIVERY_NAMES[locale].get(v, v)
    env.filters["points"] = points
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
