"""Managers' changes from chat: /assign and /override. Managers act within their team."""
from __future__ import annotations

import sqlalchemy as sa

from bot.commands.accounts import Context, find_account
from bot.commands.core import Reply, UserError
from bot.commands.logbook import read_date
from bot.commands.people import team_ids
from storage.changes import clear_override, reassign, set_override
from storage.models import Account, Rep

TIER_WORDS = {"strategic": "strategic", "战略级": "strategic", "战略": "strategic",
              "key": "key", "重点级": "key", "重点": "key", "potential": "potential",
              "潜力级": "potential", "潜力": "potential", "general": "general", "一般": "general",
              "at-risk": "at-risk", "atrisk": "at-risk", "流失风险": "at-risk"}
UNTIL_WORDS = {"until", "至", "直到"}
CLEAR_WORDS = {"clear", "清除", "取消"}


def _require_manager(ctx: Context) -> None:
    if ctx.person.role not in ("manager", "admin"):
        raise UserError("managers_only")


def _check_in_team(ctx: Context, *owner_ids: int | None) -> None:
    if ctx.person.role == "admin":
        return
    team = team_ids(ctx.person, ctx.services)
    if any(o not in team for o in owner_ids):
        raise UserError("outside_team")


def _owner_of(ctx: Context, account_id: int) -> int | None:
    with ctx.services.engine.connect() as conn:
        return conn.execute(sa.select(Account.owner_id).where(Account.id == account_id)).scalar()


def assign(args: list[str], ctx: Context) -> Reply:
    _require_manager(ctx)
    if len(args) < 2:
        raise UserError("usage", command="assign")
    with ctx.services.engine.connect() as conn:
        rep = conn.execute(sa.select(Rep.id, Rep.key, Rep.name).where(Rep.key == args[-1])).first()
    if rep is None:
        raise UserError("unknown_rep", rep=args[-1][:40])
    match = find_account(" ".join(args[:-1]), ctx)
    old_owner = _owner_of(ctx, match.account_id)
    _check_in_team(ctx, old_owner, rep.id)
    reassign(ctx.services.engine, account_id=match.account_id, new_owner_id=rep.id,
             actor_id=ctx.person.id)
    return Reply("assigned", {"key": match.key, "name": match.name, "rep": rep.name,
                              "unchanged": old_owner == rep.id})


def override(args: list[str], ctx: Context) -> Reply:
    _require_manager(ctx)
    if len(args) >= 2 and args[-1].casefold() in CLEAR_WORDS:
        match = find_account(" ".join(args[:-1]), ctx)
        _check_in_team(ctx, _owner_of(ctx, match.account_id))
        cleared = clear_override(ctx.services.engine, account_id=match.account_id,
                                 actor_id=ctx.person.id, today=ctx.services.today())
        return Reply("override_cleared", {"key": match.key, "name": match.name, "had": cleared})
    k = next((i for i, w in enumerate(args) if i > 0 and w.casefold() in TIER_WORDS), None)
    if k is None:
        raise UserError("usage", command="override")
    tier, rest = TIER_WORDS[args[k].casefold()], args[k + 1:]
    until = None
    u = next((i for i, w in enumerate(rest) if w.casefold() in UNTIL_WORDS), None)
    if u is not None:
        until = read_date(" ".join(rest[u + 1:]), ctx)
        if until < ctx.services.today():
            raise UserError("past_expiry", date=until)
        rest = rest[:u]
    reason = " ".join(rest)
    if not reason:
        raise UserError("needs_reason")
    match = find_account(" ".join(args[:k]), ctx)
    _check_in_team(ctx, _owner_of(ctx, match.account_id))
    before = set_override(ctx.services.engine, account_id=match.account_id, tier=tier,
                          reason=reason[:500], expires_on=until, actor_id=ctx.person.id,
                          actor_name=ctx.person.name, today=ctx.services.today())
    return Reply("override_set", {"key": match.key, "name": match.name, "tier": tier,
                                  "before": before, "reason": reason[:500], "until": until})
