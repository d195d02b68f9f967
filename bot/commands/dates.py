"""Dates as reps type them, in English and Chinese, relative to today."""
from __future__ import annotations

import re
from datetime import date, timedelta

WEEKDAYS_EN = {"mon": 0, "monday": 0, "tue": 1, "tues": 1, "tuesday": 1, "wed": 2,
               "wednesday": 2, "thu": 3, "thur": 3, "thurs": 3, "thursday": 3, "fri": 4,
               "friday": 4, "sat": 5, "saturday": 5, "sun": 6, "sunday": 6}
WEEKDAYS_ZH = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
UNITS = {"day": 1, "days": 1, "d": 1, "week": 7, "weeks": 7, "w": 7, "天": 1, "日": 1,
         "周": 7, "星期": 7, "个星期": 7}
DATE_HELP = "2026-12-05, 12/5, tomorrow, next tue, in 2 weeks, 明天, 下周三, 3天后"


def parse_when(text: str, today: date) -> date | None:
    """The date `text` means, or None if it is not a date."""
    t = text.strip().casefold()
    if not t:
        return None
    simple = {"today": 0, "今天": 0, "tomorrow": 1, "明天": 1, "后天": 2, "yesterday": -1,
              "昨天": -1}
    if t in simple:
        return today + timedelta(days=simple[t])
    if m := re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", t):
        return _date(int(m[1]), int(m[2]), int(m[3]))
    if m := re.fullmatch(r"(?:(\d{4})年)?(\d{1,2})月(\d{1,2})[日号]?", t):
        return _upcoming(today, m[1], int(m[2]), int(m[3]))
    if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})", t):  # month/day, as both US and China write it
        return _upcoming(today, None, int(m[1]), int(m[2]))
    if m := re.fullmatch(r"in\s+(\d{1,3})\s*(days?|weeks?|d|w)", t):
        return today + timedelta(days=int(m[1]) * UNITS[m[2]])
    if m := re.fullmatch(r"(\d{1,3})\s*(天|日|周|星期|个星期)后", t):
        return today + timedelta(days=int(m[1]) * UNITS[m[2]])
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


def _date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


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
