from datetime import date

import pytest

from bot.commands.dates import parse_when

SUN = date(2026, 11, 22)  # a Sunday
WED = date(2026, 11, 25)


@pytest.mark.parametrize("text, today, expected", [
    ("2026-12-05", SUN, date(2026, 12, 5)), ("2026/12/5", SUN, date(2026, 12, 5)),
    ("12/25", SUN, date(2026, 12, 25)), ("25/12", SUN, date(2026, 12, 25)),
    ("5/5", SUN, date(2027, 5, 5)), ("1/15", SUN, date(2027, 1, 15)),  # next January
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


@pytest.mark.parametrize("text, expected", [
    ("15 Dec", date(2026, 12, 15)), ("Dec 15", date(2026, 12, 15)), ("dec 15th", date(2026, 12, 15)),
    ("15 Dec 2026", date(2026, 12, 15)), ("Dec 15, 2027", date(2027, 12, 15)),
    ("3 January", date(2027, 1, 3)), ("2026年12月15日", date(2026, 12, 15)),
    ("next month", date(2026, 12, 22)), ("下个月", date(2026, 12, 22)), ("下月", date(2026, 12, 22)),
    ("in 2 months", date(2027, 1, 22)), ("2个月后", date(2027, 1, 22)),
])
def test_dates_as_written_and_as_the_bot_prints_them(text, expected):
    assert parse_when(text, SUN) == expected


def test_next_month_from_the_31st_is_that_months_last_day():
    assert parse_when("next month", date(2027, 1, 31)) == date(2027, 2, 28)


@pytest.mark.parametrize("text", ["12/5", "3/4", "3/4/2027"])
def test_a_numeric_date_that_reads_both_ways_is_ambiguous(text):
    from bot.commands.dates import AmbiguousDate
    from storage.importing.parse import parse_date

    with pytest.raises(AmbiguousDate):
        parse_when(text, SUN)
    with pytest.raises(ValueError, match="ambiguous"):
        parse_date(text + ("" if text.count("/") == 2 else "/2027"))


@pytest.mark.parametrize("chat, imported", [("13/4", "13/4/2027"), ("4/13", "4/13/2027"),
                                            ("12/25", "12/25/2027")])
def test_chat_and_import_read_numeric_dates_by_one_rule(chat, imported):
    from storage.importing.parse import parse_date

    in_chat = parse_when(chat, SUN)
    assert (in_chat.month, in_chat.day) == (lambda d: (d.month, d.day))(parse_date(imported))


@pytest.mark.parametrize("text, expected", [
    ("steps", False), ("quarter's volumes", False), ("someday", True), ("15 Dec", True),
    ("下周三", True), ("带样品", False), ("2026-13-45", True), ("month", True),
])
def test_what_looks_like_a_date(text, expected):
    from bot.commands.dates import looks_like_date

    assert looks_like_date(text) is expected


@pytest.mark.parametrize("words, expected", [
    (["2", "weeks"], (14, 2)), (["14"], (14, 1)), (["3w"], (21, 1)), (["10", "days"], (10, 2)),
    (["2周"], (14, 1)), (["10", "天"], (10, 2)), (["ACME"], None), ([], None),
])
def test_durations(words, expected):
    from bot.commands.dates import parse_days

    assert parse_days(words) == expected
