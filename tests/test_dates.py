from datetime import date

import pytest

from bot.commands.dates import parse_when

SUN = date(2026, 11, 22)  # a Sunday
WED = date(2026, 11, 25)


@pytest.mark.parametrize("text, today, expected", [
    ("2026-12-05", SUN, date(2026, 12, 5)), ("2026/12/5", SUN, date(2026, 12, 5)),
    ("12/5", SUN, date(2026, 12, 5)), ("1/15", SUN, date(2027, 1, 15)),  # next January
    ("11/22", SUN, date(2026, 11, 22)),
    ("today", SUN, SUN), ("tomorrow", SUN, date(2026, 11, 23)), ("Tomorrow", SUN, date(2026, 11, 23)),
    ("in 2 weeks", SUN, date(2026, 12, 6)), ("in 3 days", SUN, date(2026, 11, 25)),
    ("tue", WED, date(2026, 12, 1)), ("fri", WED, date(2026, 11, 27)), ("wed", WED, date(2026, 12, 2)),
    ("next tue", WED, date(2026, 12, 1)), ("next tue", SUN, date(2026, 11, 24)),
    ("next week", SUN, date(2026, 11, 29)),
    ("明天", SUN, date(2026, 11, 23)), ("后天", SUN, date(2026, 11, 24)), ("今天", SUN, SUN),
    ("下周三", WED, date(2026, 12, 2)), ("下周三", SUN, date(2026, 11, 25)),
    ("周五", WED, date(2026, 11, 27)), ("星期一", WED, date(2026, 11, 30)),
    ("3天后", SUN, date(2026, 11, 25)), ("2周后", SUN, date(2026, 12, 6)),
    ("12月5日", SUN, date(2026, 12, 5)), ("2027年1月3日", SUN, date(2027, 1, 3)),
])
def test_dates_reps_type(text, today, expected):
    assert parse_when(text, today) == expected


@pytest.mark.parametrize("text", ["", "soon", "2026-02-30", "13/45", "next", "in two weeks",
                                  "下下周", "pricing"])
def test_not_dates(text):
    assert parse_when(text, SUN) is None
