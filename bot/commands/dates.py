"""Dates and durations as reps type them, in English and Chinese, relative to today.

Numeric day/month dates (`12/5`) follow the importer's one rule (`month_and_day`): taken
when only one order is a date, refused as ambiguous otherwise.
"""
from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

from storage.importing.parse import MONTHS, AmbiguousDate, month_and_day

__all__ = ["AmbiguousDate", "looks_like_date", "parse_days", "parse_when"]

WEEKDAYS_EN = {"mon": 0, "monday": 0, "tue": 1, "tues": 1, "tuesday": 1, "wed": 2,
               "wednesday": 2, "thu": 3, "thur": 3, "thurs": 3, "thursday": 3, "fri": 4,
               "friday": 4, "sat": 5, "saturday": 5, "sun": 6, "sunday": 6}
WEEKDAYS_ZH = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
UNITS = {"day": 1, "days": 1, "d": 1, "week": 7, "weeks": 7, "w": 7, "天": 1, "日": 1,
         "周": 7, "星期": 7, "个星期": 7}
_DAY_WORDS = {"today", "tomorrow", "yesterday", "in", "next", "this", "week", "weeks", "month",
              "months", "day", "days", "d", "w"}
_SIMPLE = {"today": 0, "今天": 0, "tomorrow": 1, "明天": 1, "后天": 2, "yesterday": -1,
           "昨天": -1}
_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
_DAY_MONTH = re.compile(rf"(\d{{1,2}})(?:st|nd|rd|th)?\s*({_MONTH_NAMES})\.?,?(?:\s+(\d{{4}}))?")
_MONTH_DAY = re.compile(rf"({_MONTH_NAMES})\.?\s*(\d{{1,2}})(?:st|nd|rd|th)?,?(?:\s+(\d{{4}}))?")


def parse_when(text: str, today: date) -> date | None:
    """The date `text` means, or None if it is not a date. Raises `AmbiguousDate` for a
    numeric date that reads both ways (`3/4`)."""
    t = " ".join(text.strip().casefold().split())
    if not t:
        return None
    if t in _SIMPLE:
        return today + timedelta(days=_SIMPLE[t])
    if m := re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", t):
        return _date(int(m[1]), int(m[2]), int(m[3]))
    if m := re.fullmatch(r"(?:(\d{4})\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?", t):
        return _upcoming(today, m[1], int(m[2]), int(m[3]))
    if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})(?:/(\d{4}))?", t):
        month, day_ = month_and_day(int(m[1]), int(m[2]))
        return _upcoming(today, m[3], month, day_)
    if m := _DAY_MONTH.fullmatch(t):    # 15 Dec, 15 Dec 2026 (how the bot prints dates)
        return _upcoming(today, m[3], MONTHS[m[2]], int(m[1]))
    if m := _MONTH_DAY.fullmatch(t):    # Dec 15, Dec 15, 2026
        return _upcoming(today, m[3], MONTHS[m[1]], int(m[2]))
    if m := re.fullmatch(r"in\s+(\d{1,3})\s*(days?|weeks?|d|w)", t):
        return today + timedelta(days=int(m[1]) * UNITS[m[2]])
    if m := re.fullmatch(r"in\s+(\d{1,2})\s*months?", t):
        return _add_months(today, int(m[1]))
    if m := re.fullmatch(r"(\d{1,3})\s*(天|日|周|星期|个星期)后", t):
        return today + timedelta(days=int(m[1]) * UNITS[m[2]])
    if m := re.fullmatch(r"(\d{1,2})\s*个月后", t):
        return _add_months(today, int(m[1]))
    if t in ("next month", "下个月", "下月"):
        return _add_months(today, 1)
    if m := re.fullmatch(r"(next\s+)?([a-z]+)", t):
        if m[2] in WEEKDAYS_EN:
            return _weekday(today, WEEKDAYS_EN[m[2]], next_week=bool(m[1]))
        if m[2] == "week" and m[1]:
            return today + timedelta(days=7)
    if m := re.fullmatch(r"(下|这|本)?(?:周|星期|礼拜)([一二三四五六日天])", t):
        return _weekday(today, WEEKDAYS_ZH[m[2]], next_week=m[1] == "下")
    if t in ("下周", "下星期"):
        return today + timedelta(days=7)
    return None


def looks_like_date(text: str) -> bool:
    """Whether every word of `text` is made of date material (numbers, month and weekday
    names, date words, 周/月/天...): "next steps" is a note, "next someday" a bad date."""
    words = text.casefold().split()
    return bool(words) and all(_date_word(w) for w in words)


def _date_word(word: str) -> bool:
    w = word.strip(".,")
    return (re.fullmatch(r"[\d/\-.,年月日号]+(st|nd|rd|th)?", w) is not None
            or w in _DAY_WORDS or w in WEEKDAYS_EN or w in MONTHS or w.endswith("day")
            or re.search(r"[天日周月号]|星期|礼拜", w) is not None)


def parse_days(words: list[str]) -> tuple[int, int] | None:
    """A duration at the end of `words` ("14", "2 weeks", "10d", "2周", "14 天"):
    (days, how many words it took), or None."""
    for n in (2, 1):
        if len(words) < n:
            continue
        t = "".join(words[-n:]).casefold()
        if m := re.fullmatch(r"(\d{1,3})(days?|weeks?|d|w|天|日|周|星期|个星期)?", t):
            return int(m[1]) * UNITS.get(m[2] or "day", 1), n
    return None


def _date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _add_months(today: date, months: int) -> date:
    """The same day `months` later, or that month's last day (31 Jan + 1 month = 28 Feb)."""
    y, m = divmod(today.month - 1 + months, 12)
    year, month = today.year + y, m + 1
    return date(year, month, min(today.day, calendar.monthrange(year, month)[1]))


def _upcoming(today: date, year: str | None, month: int, day_: int) -> date | None:
    """A month and day without a year: the next such date from today (today included)."""
    if year:
        return _date(int(year), month, day_)
    this_year = _date(today.year, month, day_)
    if this_year is None:
        return None
    return this_year if this_year >= today else _date(today.year + 1, month, day_)


def _weekday(today: date, weekday: int, *, next_week: bool) -> date:
    """'tue' is the coming Tuesday (not today); 'next tue' / 下周二 is in next week."""
    if next_week:
        monday_next = today + timedelta(days=7 - today.weekday())
        return monday_next + timedelta(days=weekday)
    ahead = (weekday - today.weekday()) % 7 or 7
    return today + timedelta(days=ahead)
