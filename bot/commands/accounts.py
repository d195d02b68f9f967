"""Reading accounts: /tier, /at-risk, /help."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from bot.commands.core import Reply, Request, Services, UserError
from bot.commands.people import Person, check_can_read, visible_owner_ids
from messages.render import money
from messages.risk import reason_sentence, stage_sentence
from messages.warnings import describe, top_reason
from scoring.warnings import Warning
from storage.cards import account_card, at_risk_accounts, book_by_tier
from storage.logbook import visits_due
from storage.lookup import CONTAINS_CAP
from storage.models import Account
from storage.scores import scores_currency

WHY_WORDS = {"why", "为什么", "原因", "详情"}
SCOPE_WORDS = {"mine": "own", "我的": "own", "team": "team", "团队": "team", "all": "all",
               "全部": "all"}
MAX_LIST = 50
# What "my book" means by role: a rep's own, a manager's team, an admin's everything.
DEFAULT_SCOPE = {"rep": "own", "manager": "team", "admin": "all"}


@dataclass(frozen=True)
class Context:
    person: Person
    services: Services
    locale: str
    request: Request


CHOICES_SHOWN = 5


def money_currency(ctx: Context) -> str:
    """The currency of the scores' money figures: the current run's reporting currency."""
    return scores_currency(ctx.services.engine, ctx.services.settings.currency)


def amount_in(currency: str, locale: str):
    """`describe`'s money formatter: amounts of the run said in its currency."""
    return lambda value: money(value, currency, locale)


def find_account(query: str, ctx: Context):
    """The one account `query` names among those the person may see, or a UserError
    ("choose": the best CHOICES_SHOWN matches they may see, best first, and how many more)."""
    result = ctx.services.accounts().find(query, limit=CONTAINS_CAP)
    owners = visible_owner_ids(ctx.person, ctx.services)
    matches = result.matches
    hidden = 0
    if owners is not None and matches:
        with ctx.services.engine.connect() as conn:
            owner_of = dict(conn.execute(sa.select(Account.id, Account.owner_id).where(
                Account.id.in_([m.account_id for m in matches]))).all())
        visible = [m for m in matches if owner_of.get(m.account_id) in owners]
        if result.status == "one" and not visible:
            raise UserError("not_your_account")
        hidden = len(matches) - len(visible)
        matches = visible
    if result.status == "one" and matches:
        return matches[0]
    if result.status == "several" and len(matches) == 1:
        return matches[0]
    if result.status == "several" and matches:
        # Past the lookup's cap we can't count exactly: "50 or more" less those not visible.
        capped = result.total >= CONTAINS_CAP
        raise UserError("choose", query=query, command=_command_word(ctx),
                        matches=[(m.key, m.name) for m in matches[:CHOICES_SHOWN]],
                        more=max(0, len(matches) - CHOICES_SHOWN) if not capped
                        else max(0, result.total - hidden - CHOICES_SHOWN),
                        capped=capped)
    raise UserError("no_account", query=query,
                    suggestions=[(m.key, m.name) for m in matches[:3]])


def _command_word(ctx: Context) -> str:
    """The command as the person typed it ("/tier", "/分层"), to show how to narrow it down."""
    words = ctx.request.text.replace("\u3000", " ").split()
    return "/" + words[0].lstrip("/／")[:20] if words else "/tier"


def tier(args: list[str], ctx: Context) -> Reply:
    why = len(args) > 1 and args[-1].casefold() in WHY_WORDS
    query = " ".join(args[:-1] if why else args)
    if not query:
        raise UserError("usage", command="tier")
    match = find_account(query, ctx)
    check_can_read(ctx.person, ctx.services, match.account_id)
    today = ctx.services.today()
    card = account_card(ctx.services.engine, match.account_id, today)
    snapshot = card["snapshot"]
    if snapshot is None:
        raise UserError("not_scored", key=match.key, name=match.name)
    details = snapshot["details"]
    currency = money_currency(ctx)
    warnings = [describe(Warning(w["code"], w["params"]), ctx.locale,
                         amount_in(currency, ctx.locale))
                for w in details.get("warnings", [])]
    playbook = ctx.services.scoring.playbook.get(snapshot["tier"], {})
    # The due date the same way /due, reminders and the digest compute it (live).
    [due] = visits_due(ctx.services.engine, None, today, ctx.services.scoring.cadence_days,
                       account_id=match.account_id)
    record = card.get("risk_model") or {}
    last = card["last_order"]
    if last is not None and not last["currency"]:  # recorded before currencies were
        card["last_order"] = last | {"currency": ctx.services.settings.currency}
    return Reply("tier", {
        "card": card, "s": snapshot, "why": why, "warnings": warnings, "due": due,
        "matched": details.get("matched", {}) if snapshot["tier_rule"] != "override" else {},
        "rule_label": ctx.services.scoring.rule_label(snapshot["tier_rule"], ctx.locale),
        "risk": risk_view(snapshot, record, ctx.locale, currency),
        "playbook": playbook.get(ctx.locale) or playbook.get("en", []),
        "currency": currency, "today": today,
    })


def at_risk(args: list[str], ctx: Context) -> Reply:
    scope, limit = None, 10
    for word in args:
        if word.casefold() in SCOPE_WORDS:
            scope = SCOPE_WORDS[word.casefold()]
        elif word.isdigit():
            limit = min(int(word), MAX_LIST)
        else:
            raise UserError("usage", command="at-risk")
    if scope is None:
        scope = DEFAULT_SCOPE.get(ctx.person.role, "own")
    owners = visible_owner_ids(ctx.person, ctx.services, scope)
    rows, total = at_risk_accounts(ctx.services.engine, owners, limit=max(limit, 1))
    currency = money_currency(ctx)
    for row in rows:
        row["reason"] = why_at_risk(row["details"], ctx.locale, currency)
    return Reply("at_risk", {"rows": rows, "scope": scope, "limit": limit, "total": total,
                             "max_list": MAX_LIST, "currency": currency})


def why_at_risk(details: dict, locale: str, currency: str) -> str:
    """The one-line reason an account is at risk: the risk's own strongest reason that
    raises it, else the first warning ("" when there is neither); money in `currency`."""
    for reason in details.get("risk_reasons", []):
        if reason["effect"] > 0:
            return reason_sentence(reason, locale, currency)
    return top_reason(details.get("warnings", []), locale, amount_in(currency, locale))


def risk_view(snapshot: dict, record: dict, locale: str, currency: str) -> dict:
    """What the card says about the risk, computed once so no two lines disagree: the risk
    and its rank, the chance of an order (when the risk is a probability), the reasons
    (raising first), the stage's reason, when the next order is/was expected. Which model
    made the risk, with its in-training AUC, is said once by /backtest, not on each card."""
    risk = snapshot.get("churn_risk")
    probability = record.get("kind", "learned") != "ranks"
    reasons = snapshot["details"].get("risk_reasons", [])
    ordered = sorted(reasons, key=lambda r: -r["effect"])
    as_of = snapshot["as_of"]
    expected = snapshot.get("next_order_date")
    overdue = (as_of - expected).days if expected and expected < as_of else 0
    return {
        "value": risk, "rank": snapshot.get("risk_rank"), "probability": probability,
        "horizon": record.get("horizon_days", 90),
        "chance": None if risk is None or not probability else 100.0 - risk,
        "up": [reason_sentence(r, locale, currency) for r in ordered if r["effect"] > 0],
        "down": [reason_sentence(r, locale, currency) for r in ordered if r["effect"] < 0],
        "stage": stage_sentence(snapshot["details"].get("lifecycle"), locale, currency),
        "expected": expected, "overdue_days": overdue,
    }


TIER_ORDER = ("strategic", "key", "potential", "general", "at-risk")


def accounts(args: list[str], ctx: Context) -> Reply:
    """The person's book by tier (a manager's: their team's; an admin's: the whole book;
    `mine` for their own)."""
    if len(args) > 1 or (args and args[0].casefold() not in SCOPE_WORDS):
        raise UserError("usage", command="accounts")
    scope = SCOPE_WORDS[args[0].casefold()] if args else DEFAULT_SCOPE.get(ctx.person.role, "own")
    owners = visible_owner_ids(ctx.person, ctx.services, scope)
    book = book_by_tier(ctx.services.engine, owners)
    by_tier = {t["tier"]: t for t in book["tiers"]}
    rows = [by_tier.get(t, {"tier": t, "accounts": 0, "revenue": 0.0}) for t in TIER_ORDER]
    return Reply("accounts", {"rows": rows, "moves": book["moves"], "as_of": book["as_of"],
                              "since": book["since"], "scope": scope,
                              "total": sum(r["accounts"] for r in rows),
                              "revenue": sum(r["revenue"] for r in rows),
                              "currency": money_currency(ctx)})


def digest(args: list[str], ctx: Context) -> Reply:
    """Preview this week's digest: a rep's own book, a manager's team, an admin's everything."""
    from storage.digest import digest_data

    if args:
        raise UserError("usage", command="digest")
    scope = DEFAULT_SCOPE.get(ctx.person.role, "own")
    owners = visible_owner_ids(ctx.person, ctx.services, scope)
    data = digest_data(ctx.services.engine, owners, today=ctx.services.today(),
                       cadence=ctx.services.scoring.cadence_days)
    currency = money_currency(ctx)
    for row in data["at_risk"]:
        row["reason"] = why_at_risk(row["details"], ctx.locale, currency)
    for row in data["moved"]:
        row["reason"] = top_reason(row["warnings"], ctx.locale, amount_in(currency, ctx.locale))
        row["rule_label"] = ctx.services.scoring.rule_label(row["tier_rule"], ctx.locale)
    return Reply("digest", data | {"scope": scope, "person": ctx.person.name,
                                   "today": ctx.services.today(),
                                   "currency": currency,
                                   "tier_order": TIER_ORDER, "max_list": MAX_LIST})
