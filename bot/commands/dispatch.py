"""One dispatch for every transport: parse the command, find the rep, run, reply."""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Callable

from bot.commands import accounts as account_commands
from bot.commands import evidence, logbook, manage
from bot.commands.core import Reply, Request, Services, UserError
from bot.commands.people import identify

log = logging.getLogger("tierbot.commands")


@dataclass(frozen=True)
class Command:
    name: str
    aliases: tuple[str, ...]
    run: Callable


def help_command(args: list[str], ctx) -> Reply:
    """/help [command]: one command's help, or the list (saying so when `foo` is none)."""
    if not args:
        return Reply("help", {"topic": None})
    command = _BY_WORD.get(args[0].lstrip("/／").casefold())
    if command is None:
        return Reply("help", {"topic": None, "unknown": args[0][:40]})
    return Reply("help", {"topic": command.name})


COMMANDS = [
    Command("tier", ("分层",), account_commands.tier),
    Command("at-risk", ("风险", "atrisk", "at_risk"), account_commands.at_risk),
    Command("accounts", ("客户", "book"), account_commands.accounts),
    Command("digest", ("周报",), account_commands.digest),
    Command("visit", ("拜访", "log"), logbook.visit),
    Command("due", ("待办",), logbook.due),
    Command("snooze", ("延后",), logbook.snooze),
    Command("done", ("已拜访", "完成"), logbook.done),
    Command("feedback", ("反馈",), logbook.feedback),
    Command("assign", ("分配",), manage.assign),
    Command("override", ("调整",), manage.override),
    Command("backtest", ("回测",), evidence.backtest),
    Command("help", ("帮助", "tierbot-help", "?"), help_command),
]
_BY_WORD = {word: c for c in COMMANDS for word in (c.name, *c.aliases)}


def parse(text: str) -> tuple[Command, list[str]]:
    """'/tier ACME why' -> (tier, ['ACME', 'why']); the slash is optional, case ignored."""
    words = text.replace("\u3000", " ").split()
    if not words:
        raise UserError("usage", command="help")
    word = words[0].lstrip("/／").casefold()
    command = _BY_WORD.get(word)
    if command is None:
        raise UserError("unknown_command", word=words[0][:40],
                        commands=[c.name for c in COMMANDS])
    return command, words[1:]


def dispatch(request: Request, services: Services) -> Reply:
    """Run one request. User mistakes become helpful replies; anything else is logged with a
    reference id and answered with a short apology, never a stack trace."""
    locale = request.locale or request.fallback_locale(services)
    try:
        person = identify(request, services)
        locale = request.locale or person.locale or request.fallback_locale(services)
        command, args = parse(request.text)
        reply = command.run(args, account_commands.Context(person, services, locale, request))
    except UserError as exc:
        reply = Reply("error", {"code": exc.code, **exc.params})
    except Exception:
        ref = uuid.uuid4().hex[:8]
        log.exception("command failed [ref %s] platform=%s user=%s", ref, request.platform,
                      request.user_id)
        reply = Reply("oops", {"ref": ref})
    reply.locale = locale
    return reply
