"""/visit, /due and /feedback as reps use them."""
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from bot.commands import Request, dispatch
from messages.render import render
from storage.models import Account, Feedback, Interaction
from tests.commands_support import TODAY, ask


def interactions(engine, key):
    with engine.connect() as conn:
        return conn.execute(sa.select(Interaction.kind, Interaction.occurred_on, Interaction.summary,
                                      Interaction.next_date, Interaction.source)
                            .join(Account, Account.id == Interaction.account_id)
                            .where(Account.key == key, Interaction.occurred_on == TODAY)).all()


def test_visit_with_kind_notes_and_next_date(services):
    reply, text = ask(services, "/visit ACME call discussed Q1 volumes next in 2 weeks", rep="rep.tom")
    assert text.splitlines() == [
        "Logged: call with ACME Corp (ACME) on 22 Nov 2026.",
        "Notes: discussed Q1 volumes",
        "Next visit due 6 Dec 2026 (as you planned)."]
    assert interactions(services.engine, "ACME") == [
        ("call", TODAY, "discussed Q1 volumes", date(2026, 12, 6), "console")]


def test_visit_by_multi_word_name_without_kind_uses_the_cadence(services):
    reply, text = ask(services, "/visit ACME Corp walked the plant", rep="rep.tom")
    ctx = reply.context
    assert (ctx["key"], ctx["kind"], ctx["note"]) == ("ACME", "visit", "walked the plant")
    cadence = services.scoring.cadence_days[ctx["tier"]]
    assert ctx["due"] == TODAY + timedelta(days=cadence)
    assert f"every {cadence} days" in text


def test_visit_in_chinese(services):
    reply, text = ask(services, "/拜访 华锐 电话 沟通下季度需求 下次 下周三", rep="rep.zhang")
    assert text.splitlines()[0] == "已记录：2026年11月22日 与 上海华锐精密制造有限公司（CN-0001）电话。"
    assert interactions(services.engine, "CN-0001")[0][3] == date(2026, 11, 25)


def test_a_retried_request_stores_one_interaction(services):
    request = Request("slack", "U0TOMBK01", "/visit ACME call follow-up", request_id="evt-123")
    first = dispatch(request, services)
    second = dispatch(request, services)
    assert (first.context["duplicate"], second.context["duplicate"]) == (False, True)
    assert len(interactions(services.engine, "ACME")) == 1
    text = render(second.template, second.context, locale="en")
    assert text.startswith("Already logged (this request arrived twice)")
    other = dispatch(Request("slack", "U0TOMBK01", "/visit ACME call follow-up", request_id="evt-124"),
                     services)
    assert other.context["duplicate"] is False and len(interactions(services.engine, "ACME")) == 2


@pytest.mark.parametrize("text, code", [
    ("/visit ACME call notes next someday", "bad_date"),
    ("/visit ACME call notes next 2020-01-01", "past_date"),
    ("/visit ACME call", "usage"),
    ("/visit", "usage"),
    ("/feedback ACME nps 11", "bad_score"),
    ("/feedback ACME complaint", "usage"),
    ("/feedback ACME", "usage"),
    ("/due soon", "usage"),
])
def test_mistakes_say_what_to_type(services, text, code):
    reply, rendered = ask(services, text, rep="rep.tom")
    assert reply.context.get("code") == code, rendered
    assert len(interactions(services.engine, "ACME")) == 0


def test_cannot_log_on_an_account_you_cannot_see(services):
    reply, _ = ask(services, "/visit ACME call sneaky", rep="rep.zhang")
    assert reply.context["code"] == "not_your_account"
    assert interactions(services.engine, "ACME") == []


def test_due_lists_oldest_first_and_a_visit_clears_it(services):
    reply, text = ask(services, "/due", rep="rep.tom")
    rows = reply.context["rows"]
    assert rows and [r["due"] for r in rows] == sorted(r["due"] for r in rows)
    assert all(r["due"] <= TODAY for r in rows)
    first = rows[0]
    ask(services, f"/visit {first['key']} call checked in", rep="rep.tom")
    after = ask(services, "/due", rep="rep.tom")[0].context["rows"]
    assert first["key"] not in [r["key"] for r in after]
    week = ask(services, "/due week", rep="rep.tom")[0].context["rows"]
    overdue = ask(services, "/due overdue", rep="rep.tom")[0].context["rows"]
    assert {r["key"] for r in overdue} <= {r["key"] for r in after} <= {r["key"] for r in week}
    assert all(r["due"] < TODAY for r in overdue)


def test_feedback_nps_and_complaint(services):
    _, text = ask(services, "/feedback ACME nps 4 slow support", rep="rep.tom")
    assert text.startswith("Recorded: NPS 4 from ACME Corp (ACME): slow support.")
    _, text = ask(services, "/反馈 华锐 投诉 发票又错了", rep="rep.zhang")
    assert text.startswith("已记录：上海华锐精密制造有限公司（CN-0001）的投诉：发票又错了。")
    with services.engine.connect() as conn:
        got = conn.execute(sa.select(Feedback.kind, Feedback.score, Feedback.comment)
                           .where(Feedback.given_on == TODAY).order_by(Feedback.id)).all()
    assert got[-2:] == [("nps", 4, "slow support"), ("complaint", None, "发票又错了")]


def test_snooze_puts_the_reminder_off_and_a_later_snooze_replaces_it(services):
    rows = ask(services, "/due", rep="rep.tom")[0].context["rows"]
    first = rows[0]["key"]
    reply, text = ask(services, f"/snooze {first}", rep="rep.tom")
    until = TODAY + timedelta(days=7)
    assert reply.template == "snoozed" and reply.context["until"] == until
    assert text.endswith("until 29 Nov 2026.")
    assert first not in [r["key"] for r in ask(services, "/due", rep="rep.tom")[0].context["rows"]]
    week = {r["key"]: r for r in ask(services, "/due week", rep="rep.tom")[0].context["rows"]}
    assert week[first]["due"] == until and week[first]["snoozed"] is True
    ask(services, f"/snooze {first} 3", rep="rep.tom")
    week = {r["key"]: r for r in ask(services, "/due week", rep="rep.tom")[0].context["rows"]}
    assert week[first]["due"] == TODAY + timedelta(days=3)
    _, zh = ask(services, "/延后 华锐 14", rep="rep.zhang")
    assert zh == "已延后：2026年12月6日之前不再提醒拜访 上海华锐精密制造有限公司（CN-0001）。"


@pytest.mark.parametrize("text", ["/snooze", "/snooze ACME 0", "/snooze ACME 91"])
def test_snooze_usage(services, text):
    reply, _ = ask(services, text, rep="rep.tom")
    assert (reply.template, reply.context["code"], reply.context["command"]) == (
        "error", "usage", "snooze")


def test_done_logs_a_visit_today_and_restarts_the_cadence(services):
    first = ask(services, "/due", rep="rep.tom")[0].context["rows"][0]["key"]
    reply, text = ask(services, f"/done {first}", rep="rep.tom")
    assert reply.template == "visit_logged" and reply.context["kind"] == "visit"
    assert reply.context["note"] == "Marked done from a reminder"
    assert reply.context["due"] == TODAY + timedelta(
        days=services.scoring.cadence_days[reply.context["tier"]])
    assert first not in [r["key"] for r in ask(services, "/due", rep="rep.tom")[0].context["rows"]]
    reply, _ = ask(services, "/已拜访 华锐 续约已签", rep="rep.zhang")
    assert interactions(services.engine, "CN-0001") == [
        ("visit", TODAY, "续约已签", None, "console")]
