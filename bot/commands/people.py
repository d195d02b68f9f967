"""Who is asking, and which accounts they may see."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from bot.commands.core import Request, Services, UserError
from storage.models import Account, Rep

VISIBILITIES = ("own", "team", "all")


@dataclass(frozen=True)
class Person:
    id: int
    key: str
    name: str
    role: str
    manager_id: int | None
    locale: str | None


def identify(request: Request, services: Services) -> Person:
    """The rep behind a chat user, or a UserError telling them how to get added."""
    column = {"slack": Rep.slack_user_id, "wecom": Rep.wecom_userid, "console": Rep.key}.get(
        request.platform)
    if column is None:
        raise UserError("unknown_platform", platform=request.platform)
    with services.engine.connect() as conn:
        row = conn.execute(sa.select(Rep.id, Rep.key, Rep.name, Rep.role, Rep.manager_id,
                                     Rep.locale).where(column == request.user_id)).first()
    if row is None:
        raise UserError("unknown_user", platform=request.platform, user_id=request.user_id)
    return Person(*row)


def team_ids(person: Person, services: Services) -> set[int]:
    """The person's team: a manager's reps and the manager; a rep's manager's team."""
    lead = person.id if person.role == "manager" else person.manager_id
    if lead is None:
        return {person.id}
    with services.engine.connect() as conn:
        members = set(conn.execute(sa.select(Rep.id).where(Rep.manager_id == lead)).scalars())
    return members | {lead, person.id}


def visible_owner_ids(person: Person, services: Services, scope: str | None = None) -> set[int] | None:
    """Owner ids whose accounts `person` may read in `scope`; None means every account.

    Admins see everything. Others are bounded by the visibility setting (own, team, all);
    managers see at least their team."""
    setting = services.settings.visibility
    if person.role == "admin":
        widest = "all"
    elif person.role == "manager":
        widest = "all" if setting == "all" else "team"
    else:
        widest = setting
    scope = scope or widest
    if VISIBILITIES.index(scope) > VISIBILITIES.index(widest):
        raise UserError("scope_not_allowed", scope=scope, allowed=widest)
    if scope == "all":
        return None
    if scope == "team":
        return team_ids(person, services)
    return {person.id}


def check_can_read(person: Person, services: Services, account_id: int) -> None:
    owners = visible_owner_ids(person, services)
    if owners is None:
        return
    with services.engine.connect() as conn:
        owner = conn.execute(sa.select(Account.owner_id).where(Account.id == account_id)).scalar()
    if owner not in owners:
        raise UserError("not_your_account")


def check_can_write(person: Person, services: Services, account_id: int) -> None:
    """Logging a visit, a snooze, /done or feedback: writes follow reads. A rep may write
    on exactly the accounts they may read (TIERBOT_VISIBILITY), never on one they cannot
    see; changing ownership or tiers (/assign, /override) stays with managers in their team."""
    check_can_read(person, services, account_id)
