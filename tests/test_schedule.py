"""Delivery slots in each rep's local time, across DST changes."""
from datetime import date, datetime, time, timezone

import pytest

from storage.schedule import BadTime, latest_digest_slot, latest_reminder_slot, parse_weekly


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


def test_parse_weekly_counts_monday_as_zero():
    assert parse_weekly("mon 09:00") == (0, time(9))
    assert parse_weekly("Sunday 7:05") == (6, time(7, 5))
    assert parse_weekly("周五 16:30") == (4, time(16, 30))
    assert parse_weekly("08:15", default_day="wed") == (2, time(8, 15))
    with pytest.raises(BadTime):
        parse_weekly("mon 9")


def test_new_york_digest_follows_the_clock_change():
    # DST ended on Sunday 1 Nov 2026: Monday 2 Nov 09:00 EST is 14:00 UTC.
    early = latest_digest_slot(utc(2026, 11, 2, 13, 59), "America/New_York", 0, time(9))
    assert early.period == "2026-W44" and early.local_day == date(2026, 10, 26)
    assert early.at == utc(2026, 10, 26, 13, 0)  # the week before, still EDT (UTC-4)
    slot = latest_digest_slot(utc(2026, 11, 2, 14, 0), "America/New_York", 0, time(9))
    assert (slot.period, slot.at) == ("2026-W45", utc(2026, 11, 2, 14, 0))
    # DST starts on 14 Mar 2027: Monday 15 Mar 09:00 EDT is 13:00 UTC.
    spring = latest_digest_slot(utc(2027, 3, 15, 13, 0), "America/New_York", 0, time(9))
    assert (spring.period, spring.at) == ("2027-W11", utc(2027, 3, 15, 13, 0))


def test_shanghai_monday_morning_is_sunday_night_utc():
    slot = latest_digest_slot(utc(2026, 11, 23, 1, 0), "Asia/Shanghai", 0, time(9))
    assert (slot.period, slot.at, slot.local_day) == ("2026-W48", utc(2026, 11, 23, 1, 0),
                                                      date(2026, 11, 23))
    before = latest_digest_slot(utc(2026, 11, 23, 0, 59), "Asia/Shanghai", 0, time(9))
    assert before.period == "2026-W47"


def test_reminder_slot_is_daily_in_local_time():
    slot = latest_reminder_slot(utc(2026, 11, 23, 8, 0), "Europe/Berlin", time(9))
    assert (slot.period, slot.at) == ("2026-11-23", utc(2026, 11, 23, 8, 0))
    assert latest_reminder_slot(utc(2026, 11, 23, 7, 59), "Europe/Berlin",
                                time(9)).period == "2026-11-22"
    # A time that doesn't exist on the spring-forward day still yields one slot that day.
    gap = latest_reminder_slot(utc(2027, 3, 28, 12, 0), "Europe/Berlin", time(2, 30))
    assert gap.period == "2027-03-28"
