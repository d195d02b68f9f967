"""/assign and /override: who may, what is recorded, and what the card shows."""
import json
from datetime import date

import pytest
import sqlalchemy as sa

from bot.scoring_jobs import rescore
from storage.models import Account, AuditEntry, Rep, TierOverride
from tests.commands_support import ask


def owner_key(engine, key):
    with engine.connect() as conn:
        return conn.execute(sa.select(Rep.key).join(Account, Account.owner_id == Rep.id)
                            .where(Account.key == key)).scalar_one()


def audit(engine):
    with engine.connect() as conn:
        return conn.execute(sa.select(AuditEntry.action, Rep.key, AuditEntry.details)
                            .join(Rep, Rep.id == AuditEntry.actor_id).order_by(AuditEntry.id)).all()


@pytest.mark.parametrize("actor, target, allowed, code", [
    ("mgr.sarah", "rep.priya", True, None),        # within her team
    ("admin", "rep.zhang", True, None),             # admins anywhere
    ("mgr.sarah", "rep.zhang", False, "outside_team"),
    ("mgr.li", "rep.zhang", False, "not_your_account"),  # Li can't even see ACME
    ("rep.tom", "rep.priya", False, "managers_only"),
])
def test_assign_permissions_and_audit(services, actor, target, allowed, code):
    reply, text = ask(services, f"/assign ACME {target}", rep=actor, locale="en")
    if allowed:
        assert reply.template == "assigned" and owner_key(services.engine, "ACME") == target
        action, who, details = audit(services.engine)[-1]
        assert (action, who) == ("assign", actor)
        assert json.loads(details)["from"] != json.loads(details)["to"]
    else:
        assert reply.context["code"] == code
        assert owner_key(services.engine, "ACME") == "rep.tom" and audit(services.engine) == []


def test_assign_to_unknown_rep(services):
    reply, text = ask(services, "/assign ACME rep.ghost")
    assert reply.context["code"] == "unknown_rep" and "rep.ghost" in text


def test_override_shows_at_once_survives_a_rescore_and_clears(services):
    before = ask(services, "/tier ACME")[0].context["s"]["tier"]
    target = "potential" if before != "potential" else "key"
    reply, text = ask(services, f"/override ACME {target} board decision until 2027-03-31")
    assert reply.template == "override_set" and reply.context["before"] == before
    card = ask(services, "/tier ACME")
    s = card[0].context["s"]
    assert (s["tier"], s["tier_rule"], s["previous_tier"]) == (target, "override", before)
    assert "Override: board decision, by Sarah Chen, until 31 Mar 2027" in card[1]
    rescore(services.engine, services.scoring, date(2026, 11, 29))
    assert ask(services, "/tier ACME")[0].context["s"]["tier"] == target  # still wins
    reply, text = ask(services, "/override ACME clear")
    assert reply.context["had"] is True and "back on its scored tier" in text
    s = ask(services, "/tier ACME")[0].context["s"]
    assert s["tier"] == before and s["tier_rule"] != "override"
    with services.engine.connect() as conn:
        rows = conn.execute(sa.select(TierOverride.tier, TierOverride.cleared_at.is_not(None))).all()
    assert rows == [(target, True)]
    assert [a for a, _, _ in audit(services.engine)] == ["override", "override-clear"]


@pytest.mark.parametrize("text, code", [
    ("/override ACME strategic", "needs_reason"),
    ("/override ACME vip because", "usage"),
    ("/override ACME key reason until someday", "bad_date"),
    ("/override ACME key reason until 2020-01-01", "past_expiry"),
])
def test_override_mistakes(services, text, code):
    assert ask(services, text)[0].context["code"] == code


def test_override_in_chinese_by_a_rep_is_refused_and_by_a_manager_works(services):
    reply, text = ask(services, "/调整 华锐 战略级 董事会决定", rep="rep.zhang")
    assert reply.context["code"] == "managers_only" and "只有经理和管理员" in text
    reply, text = ask(services, "/调整 华锐 战略级 董事会决定 至 2027年3月31日", rep="mgr.li")
    assert reply.template == "override_set" and "战略级" in text and "2027年3月31日" in text


def test_an_override_expiring_in_the_past_says_the_expiry_is_past(services):
    _, text = ask(services, "/override ACME key reason until 1 Jan 2020")
    assert text.startswith("The override's expiry date is in the past (1 Jan 2020)")
    assert "next visit" not in text


def test_an_admins_accounts_is_the_whole_book(services):
    reply, text = ask(services, "/accounts", rep="admin")
    with services.engine.connect() as conn:
        book = conn.execute(sa.select(sa.func.count()).select_from(Account)).scalar_one()
    scored = reply.context["total"]
    assert reply.context["scope"] == "all" and scored > 0 and scored <= book
    assert text.startswith(f"The whole book as of 22 Nov 2026: {scored:,} accounts")


def test_a_change_read_then_written_waits_for_another_writer_instead_of_failing(services):
    """A write committed by another connection between a change's read and its write: on
    SQLite a plain BEGIN fails at once with "database is locked"; the change must wait."""
    import threading

    from storage import changes

    engine = services.engine
    with engine.connect() as conn:
        account = conn.execute(sa.select(Account.id).order_by(Account.id)).scalar()
        rep = conn.execute(sa.select(Rep.id).order_by(Rep.id.desc())).scalar()
    other = sa.create_engine(engine.url, connect_args={"timeout": 30}
                             if engine.dialect.name == "sqlite" else {})
    done: list = []

    def write_elsewhere():
        with other.begin() as c:
            c.execute(sa.update(Account).where(Account.id != account)
                      .values(name=Account.name + " (renamed)"))
        done.append(True)

    fired: list = []

    @sa.event.listens_for(engine, "after_cursor_execute")
    def between(conn, cursor, statement, *args):
        if not fired and statement.lstrip().upper().startswith("SELECT") and "accounts" in statement:
            fired.append(True)
            t = threading.Thread(target=write_elsewhere)
            t.start()
            t.join(1.0)  # committed at once with a plain BEGIN; waits for us with IMMEDIATE

    try:
        old = changes.reassign(engine, account_id=account, new_owner_id=rep, actor_id=rep)
    finally:
        sa.event.remove(engine, "after_cursor_execute", between)
    assert fired
    with engine.connect() as conn:
        assert conn.execute(sa.select(Account.owner_id).where(Account.id == account)).scalar() == rep
    assert old is not None
    for _ in range(100):
        if done:
            break
        threading.Event().wait(0.1)
    assert done  # the other writer got its turn afterwards
    other.dispose()
