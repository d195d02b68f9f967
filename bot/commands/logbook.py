"""Logging from chat: /visit, /feedback; and what falls due: /due."""
from __future__ import annotations

import uuid
from datetime import timedelta

from bot.commands.accounts import Context, find_account
from bot.commands.core import Reply, UserError
from bot.commands.dates import DATE_HELP, parse_when
from bot.commands.people import check_can_read
from storage.logbook import add_feedback, log_interaction, visits_due

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


def _split_next(args: list[str], ctx: Context):
    """Take '... next <date>' off the end: (remaining words, the date or None)."""
    today = ctx.services.today()
    for i in range(len(args) - 1, 0, -1):
        if args[i].casefold() in NEXT_WORDS:
            when = parse_when(" ".join(args[i + 1:]), today)
            if when is None:
                raise UserError("bad_date", text=" ".join(args[i + 1:])[:60], examples=DATE_HELP)
            if when < today:
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
    check_can_read(ctx.person, ctx.services, match.account_id)
    today = ctx.services.today()
    row, created = log_interaction(
        ctx.services.engine, account_id=match.account_id, rep_id=ctx.person.id, kind=kind,
        occurred_on=today, summary=note, next_date=next_date, source=ctx.request.platform,
        idempotency_key=_idempotency_key(ctx, "visit"))
    due = visits_due(ctx.services.engine, None, today, ctx.services.scoring.cadence_days,
                     account_id=match.account_id)[0]
    return Reply("visit_logged", {"key": match.key, "name": match.name, "kind": row["kind"],
                                  "day": row["occurred_on"], "note": row["summary"],
                                  "due": due["due"], "tier": due["tier"],
                                  "cadence": ctx.services.scoring.cadence_days.get(due["tier"], 90),
                                  "planned": next_date is not None, "duplicate": not created})


def due(args: list[str], ctx: Context) -> Reply:
    mode = args[0].casefold() if args else "due"
    mode = {"overdue": "overdue", "逾期": "overdue", "week": "week", "本周": "week"}.get(mode, mode)
    if mode not in ("due", "overdue", "week") or len(args) > 1:
        raise UserError("usage", command="due")
    today = ctx.services.today()
    horizon = {"due": today, "overdue": today - timedelta(days=1),
               "week": today + timedelta(days=7)}[mode]
    rows = [r for r in visits_due(ctx.services.engine, ctx.person.id, today,
                                  ctx.services.scoring.cadence_days) if r["due"] <= horizon]
    return Reply("due", {"rows": rows, "mode": mode, "today": today})


FEEDBACK_KINDS = {"nps": "nps", "净推荐值": "nps", "complaint": "complaint", "投诉": "complaint"}


def feedback(args: list[str], ctx: Context) -> Reply:
    k = next((i for i, w in enumerate(args) if i > 0 and w.casefold() in FEEDBACK_KINDS), None)
    if k is None:
        raise UserError("usage", command="feedback")
    match = find_account(" ".join(args[:k]), ctx)
    check_can_read(ctx.person, ctx.services, match.account_id)
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
