"""Logging from chat: /visit, /feedback; and what falls due: /due."""
from __future__ import annotations

import uuid
from datetime import timedelta

from bot.commands.accounts import Context, find_account
from bot.commands.core import Reply, UserError
from bot.commands.dates import AmbiguousDate, looks_like_date, parse_days, parse_when
from bot.commands.people import check_can_write, visible_owner_ids
from storage.logbook import (add_feedback, log_interaction, revisits, snooze_reminder,
                              visits_due)

KINDS = {"visit": "visit", "拜访": "visit", "call": "call", "电话": "call", "meeting": "meeting",
         "会议": "meeting", "email": "email", "邮件": "email", "review": "review", "复盘": "review"}
NEXT_WORDS = {"next", "下次", "下次拜访"}
MAX_NOTE = 2000


def _idempotency_key(ctx: Context, what: str) -> str:
    """Platform retries resend the same request id: the same key stores nothing new."""
    req = ctx.request
    if req.request_id:
        return f"{what}:{req.platform}:{req.request_id}"
    return f"{what}:{req.platform}:{uuid.uuid4().hex}"


def read_date(text: str, ctx: Context):
    """The date a rep typed, or a UserError saying how to write one (ambiguous 3/4 too)."""
    try:
        when = parse_when(text, ctx.services.today())
    except AmbiguousDate:
        raise UserError("ambiguous_date", text=text[:60]) from None
    if when is None:
        raise UserError("bad_date", text=text[:60])
    return when


def _split_next(args: list[str], ctx: Context):
    """Take a trailing 'next <date>' off the end: (remaining words, the date or None).

    Only a date after the last 'next' is one: "Discussed next steps" is all note. Words
    after 'next' that look like a date but are not one are refused, not kept as note."""
    for i in range(len(args) - 1, 0, -1):
        if args[i].casefold() not in NEXT_WORDS:
            continue
        tail = " ".join(args[i + 1:])
        if not looks_like_date(tail):
            return args, None
        if tail.casefold() in ("week", "month"):  # "next week", "next month"
            tail = "next " + tail
        when = read_date(tail, ctx)
        if when < ctx.services.today():
            raise UserError("past_date", date=when)
        return args[:i], when
    return args, None


def _split_account(words: list[str], ctx: Context):
    """(account match, kind, note words): the account is the words before a kind word, or
    the longest leading words that name one account."""
    for k in range(1, len(words)):
        if words[k].casefold() in KINDS:
            return find_account(" ".join(words[:k]), ctx), KINDS[words[k].casefold()], words[k + 1:]
    index = ctx.services.accounts()
    for k in range(min(len(words), 6), 0, -1):
        result = index.find(" ".join(words[:k]))
        if result.status == "one" and result.account.via in ("key", "name", "alias"):
            return find_account(" ".join(words[:k]), ctx), "visit", words[k:]
    return find_account(words[0], ctx), "visit", words[1:]


def visit(args: list[str], ctx: Context) -> Reply:
    words, next_date = _split_next(args, ctx)
    if not words:
        raise UserError("usage", command="visit")
    match, kind, note_words = _split_account(words, ctx)
    note = " ".join(note_words)[:MAX_NOTE]
    if not note:
        raise UserError("usage", command="visit")
    check_can_write(ctx.person, ctx.services, match.account_id)
    today = ctx.services.today()
    row, created = log_interaction(
        ctx.services.engine, account_id=match.account_id, rep_id=ctx.person.id, kind=kind,
        occurred_on=today, summary=note, next_date=next_date, source=ctx.request.platform,
        idempotency_key=_idempotency_key(ctx, "visit"))
    return _visit_reply(match, row, created, next_date, ctx)


SNOOZE_DEFAULT_DAYS = 7
SNOOZE_MAX_DAYS = 90
DONE_NOTE = {"en": "Visit marked done", "zh": "已标记为已拜访"}


def _visit_reply(match, row, created: bool, next_date, ctx: Context) -> Reply:
    due = visits_due(ctx.services.engine, None, ctx.services.today(),
                     ctx.services.scoring.cadence_days, account_id=match.account_id)[0]
    return Reply("visit_logged", {"key": match.key, "name": match.name, "kind": row["kind"],
                                  "day": row["occurred_on"], "note": row["summary"],
                                  "due": due["due"], "tier": due["tier"], "cadence": due["cadence"],
                                  "basis": due["basis"], "duplicate": not created})


def snooze(args: list[str], ctx: Context) -> Reply:
    """/snooze ACME [N days|weeks]: no revisit reminder for the account until then (7 days)."""
    days = SNOOZE_DEFAULT_DAYS
    duration = parse_days(args[1:])
    if duration is not None:
        days, taken = duration
        args = args[:-taken]
    if not args or not 1 <= days <= SNOOZE_MAX_DAYS:
        raise UserError("usage", command="snooze")
    match = find_account(" ".join(args), ctx)
    check_can_write(ctx.person, ctx.services, match.account_id)
    until = ctx.services.today() + timedelta(days=days)
    snooze_reminder(ctx.services.engine, account_id=match.account_id, rep_id=ctx.person.id,
                    until=until)
    return Reply("snoozed", {"key": match.key, "name": match.name, "until": until})


def done(args: list[str], ctx: Context) -> Reply:
    """/done ACME [notes]: the due visit happened; logs it (today) so the cadence restarts.

    Once per account and day, whoever says it and however often (a typed /done after the
    reminder's Done button logs nothing new); the note says only what happened."""
    if not args:
        raise UserError("usage", command="done")
    match = None
    for k in range(min(len(args), 6), 0, -1):
        if ctx.services.accounts().find(" ".join(args[:k])).status == "one":
            match, rest = find_account(" ".join(args[:k]), ctx), args[k:]
            break
    if match is None:
        match, rest = find_account(args[0], ctx), args[1:]
    check_can_write(ctx.person, ctx.services, match.account_id)
    today = ctx.services.today()
    note = " ".join(rest)[:MAX_NOTE] or DONE_NOTE.get(ctx.locale, DONE_NOTE["en"])
    row, created = log_interaction(
        ctx.services.engine, account_id=match.account_id, rep_id=ctx.person.id, kind="visit",
        occurred_on=today, summary=note, next_date=None, source=ctx.request.platform,
        idempotency_key=f"done:{match.account_id}:{today.isoformat()}")
    return _visit_reply(match, row, created, None, ctx)


DUE_MODES = {"overdue": "overdue", "逾期": "overdue", "week": "week", "本周": "week"}
TEAM_WORDS = {"team", "团队"}


def due(args: list[str], ctx: Context) -> Reply:
    """/due [team] [overdue|week]: visits due, oldest first; `team` (managers, admins):
    everyone's in the team (an admin's: the whole book), with each account's owner."""
    words = [w.casefold() for w in args]
    team = bool(words) and words[0] in TEAM_WORDS
    rest = words[1:] if team else words
    if len(rest) > 1 or (rest and rest[0] not in DUE_MODES):
        raise UserError("usage", command="due")
    mode = DUE_MODES[rest[0]] if rest else "due"
    owners: set[int] | None = {ctx.person.id}
    if team:
        if ctx.person.role not in ("manager", "admin"):
            raise UserError("managers_only")
        owners = visible_owner_ids(ctx.person, ctx.services, "team")
        if ctx.person.role == "admin":
            owners = None
    today = ctx.services.today()
    # Counted as the digest counts them (storage.logbook.revisits): overdue apart from
    # those due today (`/due`) or this week (`/due week`).
    due = revisits(ctx.services.engine, owners, today, ctx.services.scoring.cadence_days)
    upcoming = {"due": due["today"], "overdue": [], "week": due["this_week"]}[mode]
    return Reply("due", {"rows": due["overdue"] + upcoming, "overdue": due["overdue"],
                         "upcoming": upcoming, "mode": mode, "today": today, "team": team})


FEEDBACK_KINDS = {"nps": "nps", "净推荐值": "nps", "complaint": "complaint", "投诉": "complaint"}


def feedback(args: list[str], ctx: Context) -> Reply:
    k = next((i for i, w in enumerate(args) if i > 0 and w.casefold() in FEEDBACK_KINDS), None)
    if k is None:
        raise UserError("usage", command="feedback")
    match = find_account(" ".join(args[:k]), ctx)
    check_can_write(ctx.person, ctx.services, match.account_id)
    kind, rest = FEEDBACK_KINDS[args[k].casefold()], args[k + 1:]
    score = None
    if kind == "nps":
        if not rest or not rest[0].isdigit() or not 0 <= int(rest[0]) <= 10:
            raise UserError("bad_score", given=(rest[0] if rest else "")[:20])
        score, rest = int(rest[0]), rest[1:]
    comment = " ".join(rest)[:MAX_NOTE] or None
    if kind == "complaint" and not comment:
        raise UserError("usage", command="feedback")
    created = add_feedback(ctx.services.engine, account_id=match.account_id, kind=kind,
                           score=score, comment=comment, given_on=ctx.services.today(),
                           dedupe_key=_idempotency_key(ctx, "feedback"))
    return Reply("feedback_logged", {"key": match.key, "name": match.name, "kind": kind,
                                     "score": score, "comment": comment, "duplicate": not created})
