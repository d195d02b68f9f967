"""/visit, /due and /feedback as reps use them."""
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from bot.commands import Request, dispatch
from messages.render import render
from storage.models import Account, Feedback, Interaction, ReminderSnooze
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
    assert text.startswith("Already logged, nothing new stored")
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
    assert reply.context["note"] == "Visit marked done"  # typed: not "from a reminder"
    assert reply.context["due"] == TODAY + timedelta(
        days=services.scoring.cadence_days[reply.context["tier"]])
    assert first not in [r["key"] for r in ask(services, "/due", rep="rep.tom")[0].context["rows"]]
    reply, _ = ask(services, "/已拜访 华锐 续约已签", rep="rep.zhang")
    assert interactions(services.engine, "CN-0001") == [
        ("visit", TODAY, "续约已签", None, "console")]


# --- what a rep types must be understood (issue 13) ----------------------------------------

@pytest.mark.parametrize("text, note, planned", [
    ("/visit ACME call Discussed next steps", "Discussed next steps", None),
    ("/visit ACME discussed next quarter's volumes", "discussed next quarter's volumes", None),
    ("/visit ACME call agreed next steps next 15 Dec", "agreed next steps", date(2026, 12, 15)),
    ("/visit ACME call pricing next Dec 15", "pricing", date(2026, 12, 15)),
    ("/visit ACME call pricing next 15 Dec 2026", "pricing", date(2026, 12, 15)),
    ("/visit ACME call pricing next month", "pricing", date(2026, 12, 22)),
    ("/visit ACME call pricing next week", "pricing", date(2026, 11, 29)),
])
def test_only_a_trailing_next_date_is_a_date(services, text, note, planned):
    reply, rendered = ask(services, text, rep="rep.tom")
    assert reply.template == "visit_logged", rendered
    assert interactions(services.engine, "ACME")[0][2:4] == (note, planned)


def test_the_dates_the_bot_prints_read_back_in_both_languages(services):
    from messages.render import day

    when = date(2027, 1, 3)
    for locale, text in (("en", f"/visit ACME call ok next {day(when, 'en')}"),
                         ("zh", f"/拜访 ACME 电话 好 下次 {day(when, 'zh')}")):
        reply, rendered = ask(services, text, rep="rep.tom", locale=locale)
        assert reply.template == "visit_logged", rendered
    assert [r[3] for r in interactions(services.engine, "ACME")] == [when, when]
    reply, _ = ask(services, "/拜访 ACME 电话 报价 下次 下个月", rep="rep.tom", locale="zh")
    assert reply.context["day"] == TODAY and interactions(services.engine, "ACME")[-1][3] == \
        date(2026, 12, 22)


@pytest.mark.parametrize("locale, hint", [("en", "5 Dec, Dec 5 or 2026-12-05"),
                                          ("zh", "12月5日 或 2026-12-05")])
def test_an_ambiguous_numeric_date_is_refused_saying_how_to_write_it(services, locale, hint):
    reply, text = ask(services, "/visit ACME call pricing next 12/5", rep="rep.tom", locale=locale)
    assert reply.context["code"] == "ambiguous_date" and hint in text
    assert interactions(services.engine, "ACME") == []
    reply, _ = ask(services, "/visit ACME call pricing next 12/25", rep="rep.tom")
    assert interactions(services.engine, "ACME")[0][3] == date(2026, 12, 25)


def test_the_date_hint_is_chinese_in_chinese(services):
    _, text = ask(services, "/拜访 ACME 电话 报价 下次 2026-02-30", rep="rep.tom", locale="zh")
    assert "无法识别日期" in text and "tomorrow" not in text and "next" not in text


def test_done_twice_on_one_account_and_day_logs_one_visit(services):
    first, _ = ask(services, "/done ACME", rep="rep.tom")
    second, text = ask(services, "/done ACME met the buyer", rep="rep.tom")
    assert (first.context["duplicate"], second.context["duplicate"]) == (False, True)
    assert text.startswith("Already logged, nothing new stored")
    # The reminder's Done button (a platform request id) is the same visit, too.
    dispatch(Request("slack", "U0TOMBK01", "done ACME", request_id="1700000000.1:ACME"), services)
    assert interactions(services.engine, "ACME") == [
        ("visit", TODAY, "Visit marked done", None, "console")]


@pytest.mark.parametrize("text, days", [
    ("/snooze ACME 2 weeks", 14), ("/snooze ACME 10 days", 10), ("/snooze ACME 3w", 21),
    ("/snooze ACME Corp 1 week", 7), ("/延后 ACME 2周", 14), ("/延后 ACME 10 天", 10),
    ("/snooze ACME 12", 12),
])
def test_snooze_takes_days_or_weeks(services, text, days):
    reply, rendered = ask(services, text, rep="rep.tom")
    assert reply.template == "snoozed", rendered
    assert reply.context["until"] == TODAY + timedelta(days=days)


def test_snooze_longer_than_90_days_in_weeks_is_refused(services):
    reply, _ = ask(services, "/snooze ACME 14 weeks", rep="rep.tom")
    assert (reply.context["code"], reply.context["command"]) == ("usage", "snooze")


def test_managers_get_due_team_with_owners_reps_do_not(services):
    reply, text = ask(services, "/due team week", rep="mgr.sarah")
    rows = reply.context["rows"]
    owners = {r["owner"] for r in rows}
    assert {"Tom Baker", "Priya Patel"} <= owners and "张敏" not in owners
    assert text.startswith("Your team's visits due within a week") and "· Tom Baker ·" in text
    mine = ask(services, "/due week", rep="mgr.sarah")[0].context["rows"]
    assert len(mine) < len(rows)
    everyone = ask(services, "/due team week", rep="admin")[0].context["rows"]
    assert {"张敏", "Tom Baker"} <= {r["owner"] for r in everyone}
    assert ask(services, "/due team", rep="rep.tom")[0].context["code"] == "managers_only"
    _, zh = ask(services, "/待办 团队", rep="mgr.li")
    assert zh.startswith("团队到期或逾期的拜访") and "张敏" in zh


WRITES = ["/visit {key} call sneaky", "/snooze {key}", "/done {key}",
          "/feedback {key} nps 9 fine"]


def _writes_stored(engine, key):
    with engine.connect() as conn:
        account = conn.execute(sa.select(Account.id).where(Account.key == key)).scalar_one()
        return sum(conn.execute(sa.select(sa.func.count()).select_from(t).where(
            t.c.account_id == account, *([t.c.given_on == TODAY] if t.name == "feedback" else
                                          [t.c.occurred_on == TODAY] if t.name == "interactions"
                                          else []))).scalar_one()
            for t in (Interaction.__table__, Feedback.__table__, ReminderSnooze.__table__))


@pytest.mark.parametrize("visibility, rep, key, allowed", [
    ("team", "rep.tom", "CN-0001", False),   # another team's account
    ("team", "rep.tom", "US-0002", True),    # a teammate's (Priya's) account
    ("own", "rep.tom", "US-0002", False),    # a teammate's, when reps see only their own
    ("own", "rep.tom", "ACME", True),
    ("all", "rep.tom", "CN-0001", True),     # everyone may read everything: and write
])
@pytest.mark.parametrize("command", WRITES)
def test_writes_follow_read_visibility(services, visibility, rep, key, allowed, command):
    from tests.commands_support import make_services

    services = make_services(services.engine, visibility=visibility)
    readable = ask(services, f"/tier {key}", rep=rep)[0].template == "tier"
    assert readable is allowed
    reply, text = ask(services, command.format(key=key), rep=rep)
    assert (reply.template != "error") is allowed, text
    assert (_writes_stored(services.engine, key) > 0) is allowed
