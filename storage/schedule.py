"""Delivery times: parsing "mon 09:00" / "09:00" and finding the latest slot before now.

Pure functions (no I/O, no clock): the scheduler passes `now`. Local times are built in
the rep's IANA zone with zoneinfo, so a 09:00 slot stays 09:00 local across DST changes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_WORDS = {**{d: i for i, d in enumerate(DAYS)},
             **{name: i for i, name in enumerate(("monday", "tuesday", "wednesday", "thursday",
                                                  "friday", "saturday", "sunday"))},
             **{name: i for i, name in enumerate(("周一", "周二", "周三", "周四", "周五", "周六",
                                                  "周日"))}, "周天": 6}
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class BadTime(ValueError):
    pass


def parse_clock(value: str) -> time:
    match = _TIME.match(value.strip())
    if not match:
        raise BadTime(f"{value!r} is not a time of day; write it as HH:MM, like 09:00")
    return time(int(match.group(1)), int(match.group(2)))


def parse_weekly(value: str, default_day: str = "mon") -> tuple[int, time]:
    """"mon 09:00", "Monday 9:30", "周一 09:00" or just "09:00" (on `default_day`) ->
    (weekday with Monday = 0, as Python counts; not APScheduler's or cron's), time."""
    parts = value.strip().split()
    if len(parts) == 1:
        return DAY_WORDS[default_day], parse_clock(parts[0])
    if len(parts) == 2 and parts[0].casefold() in DAY_WORDS:
        return DAY_WORDS[parts[0].casefold()], parse_clock(parts[1])
    raise BadTime(f"{value!r} is not a weekly time; write it like 'mon 09:00' (mon..sun)")


@dataclass(frozen=True)
class Slot:
    kind: str          # digest or reminder
    period: str        # the ledger's period: ISO week "2026-W48" or day "2026-11-23"
    at: datetime       # when it is due, in UTC
    local_day: date


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(timezone.utc)


def latest_digest_slot(now: datetime, zone: str, weekday: int, at: time) -> Slot:
    """This week's digest time if it has passed in the rep's zone, else last week's."""
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    day = today - timedelta(days=(today.weekday() - weekday) % 7)
    when = _local(day, at, tz)
    if when > now:
        day -= timedelta(days=7)
        when = _local(day, at, tz)
    year, week, _ = day.isocalendar()
    return Slot("digest", f"{year}-W{week:02d}", when, day)


def latest_reminder_slot(now: datetime, zone: str, at: time) -> Slot:
    """Today's reminder time if it has passed in the rep's zone, else yesterday's."""
    tz = ZoneInfo(zone)
    day = now.astimezone(tz).date()
    when = _local(day, at, tz)
    if when > now:
        day -= timedelta(days=1)
        when = _local(day, at, tz)
    return Slot("reminder", day.isoformat(), when, day)
