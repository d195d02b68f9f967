"""The scheduler: digests and reminders at each rep's local time, exactly once."""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from bot.scheduler.leader import Leader
from bot.scheduler.outbox import Outbox
from bot.scheduler.runner import Deliverer, Scheduler
from bot.settings import Settings
from bot.slack.app import web_client
from bot.slack.sender import SlackSender
from bot.wecom.client import DatabaseTokenStore, WeComClient
from bot.wecom.sender import WeComSender
from storage.models import Delivery, Rep
from tests.fakes.wecom import AGENT_ID, CORP_ID, SECRET, FakeWeCom
from tests.slack_support import TOKEN


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


# Monday 23 Nov 2026, 14:05 UTC: 09:05 in New York, 08:05 in Chicago, 15:05 in Berlin,
# 22:05 in Shanghai.
MONDAY = utc(2026, 11, 23, 14, 5)


@pytest.fixture
def wecom():
    server = FakeWeCom()
    yield server
    server.close()


def make_deliverer(services, slack, wecom=None, engine=None, **settings):
    settings = Settings(database_url="sqlite://", slack_bot_token=TOKEN,
                        slack_signing_secret="x", slack_api_url=slack.api_url, **settings)
    wecom_sender = None
    if wecom is not None:
        client = WeComClient(CORP_ID, SECRET, agent_id=AGENT_ID, api_url=wecom.api_url,
                             store=DatabaseTokenStore(engine or services.engine))
        wecom_sender = WeComSender(client, AGENT_ID, sleep=lambda s: None)
    outbox = Outbox(SlackSender(web_client(settings), sleep=lambda s: None), wecom_sender)
    if engine is not None:
        from dataclasses import replace
        services = replace(services, engine=engine, _index=None)
    slept = []
    deliverer = Deliverer(services, outbox, settings, sleep=slept.append)
    deliverer.slept = slept
    return deliverer


def ledger(engine, kind="digest"):
    with engine.connect() as conn:
        return {(key, period): (status, channel) for key, period, status, channel in conn.execute(
            sa.select(Rep.key, Delivery.period, Delivery.status, Delivery.channel)
            .join(Rep, Rep.id == Delivery.recipient_id).where(Delivery.kind == kind))}


def posts_to(slack, user):
    return [c for c in slack.of("chat.postMessage") if c.args["channel"] == "D" + user[1:]]


def test_digests_go_out_at_each_reps_local_time_once(services, slack):
    deliverer = make_deliverer(services, slack)
    counts = deliverer.sweep(("digest",), now=MONDAY)
    book = ledger(services.engine)
    # New York (09:00 EST = 14:00 UTC) is due; the admin (09:00 UTC) is 5 h late, within grace.
    assert book[("rep.tom", "2026-W48")] == ("sent", "slack")
    assert book[("mgr.sarah", "2026-W48")] == ("sent", "slack")
    assert book[("admin", "2026-W48")] == ("sent", "slack")
    # Berlin's 09:00 was 6 h 05 ago: past the 6 h grace window, recorded as skipped.
    assert book[("rep.lucas", "2026-W48")][0] == "skipped"
    # Chicago's Monday 09:00 hasn't come: last week's was long ago (skipped), this one waits.
    assert book[("rep.priya", "2026-W47")][0] == "skipped"
    assert ("rep.priya", "2026-W48") not in book
    # Reps without a channel (WeCom not configured here) are left alone.
    assert not any(key == "rep.zhang" for key, _ in book)
    assert counts["sent"] == 3
    # Run again, and again an hour later: nothing is sent twice; Chicago gets its own.
    deliverer.sweep(("digest",), now=MONDAY + timedelta(minutes=1))
    deliverer.sweep(("digest",), now=MONDAY + timedelta(hours=1))
    assert ledger(services.engine)[("rep.priya", "2026-W48")] == ("sent", "slack")
    for user in ("U0TOMBK01", "U0SARAH01", "U0ADMIN01", "U0PRIYA01"):
        assert len(posts_to(slack, user)) == 1, user
    assert posts_to(slack, "U0LUCAS01") == []
    tom = posts_to(slack, "U0TOMBK01")[0]
    assert tom.args["text"].startswith("Weekly digest for Tom Baker")


def test_new_york_digest_across_the_dst_change(services, slack):
    deliverer = make_deliverer(services, slack)
    # Monday 2 Nov 2026, the day after DST ended: 09:00 EST is 14:00 UTC, not 13:00.
    deliverer.sweep(("digest",), now=utc(2026, 11, 2, 13, 30), only={"rep.tom"})
    assert ("rep.tom", "2026-W45") not in ledger(services.engine)
    deliverer.sweep(("digest",), now=utc(2026, 11, 2, 14, 0), only={"rep.tom"})
    assert ledger(services.engine)[("rep.tom", "2026-W45")] == ("sent", "slack")


def test_each_rep_gets_their_own_channel_and_language(services, slack, wecom):
    deliverer = make_deliverer(services, slack, wecom)
    # Monday 09:10 in Shanghai.
    deliverer.sweep(("digest",), now=utc(2026, 11, 23, 1, 10))
    book = ledger(services.engine)
    assert book[("rep.zhang", "2026-W48")] == ("sent", "wecom")
    assert book[("rep.chen", "2026-W48")] == ("sent", "slack")  # has both ids: Slack first
    sent = [c.body for c in wecom.of("message/send") if c.body["touser"] == "ZhangMin"]
    assert sent[0]["msgtype"] == "markdown"
    assert sent[0]["markdown"]["content"].startswith("张敏的每周周报") or \
        "周报" in sent[0]["markdown"]["content"].splitlines()[0]
    assert sent[1]["msgtype"] == "image"  # the chart, uploaded first
    assert wecom.of("media/upload")


def test_digest_chart_is_uploaded_to_slack(services, slack):
    deliverer = make_deliverer(services, slack)
    deliverer.sweep(("digest",), now=MONDAY, only={"rep.tom"})
    [upload] = slack.of("upload")
    assert upload.raw[:8] == b"\x89PNG\r\n\x1a\n" or b"\x89PNG" in upload.raw
    [complete] = slack.of("files.completeUploadExternal")
    assert complete.args["channel_id"] == "D0TOMBK01"


def test_crash_mid_run_sends_the_rest_on_the_next_start(services, slack):
    deliverer = make_deliverer(services, slack)
    deliverer.workers = 1  # a crash stops the whole process: one worker models it exactly

    class Crash(BaseException):
        pass

    real = deliverer.outbox.digest
    calls = []

    def crashing(rep, *args):
        calls.append(rep.key)
        if len(calls) == 2:
            raise Crash()  # the process dies while sending the second digest
        return real(rep, *args)

    deliverer.outbox.digest = crashing
    with pytest.raises(Crash):
        deliverer.sweep(("digest",), now=MONDAY)
    statuses = [s for s, _ in ledger(services.engine).values()]
    assert statuses.count("sent") == 1 and statuses.count("sending") == 1
    # The next start: a new leader releases the half-done row and sweeps.
    from storage.deliveries import release_orphans
    restarted = make_deliverer(services, slack)
    assert release_orphans(services.engine) == 1
    restarted.sweep(("digest",), now=MONDAY + timedelta(minutes=2))
    for user in ("U0TOMBK01", "U0SARAH01", "U0ADMIN01"):
        assert len(posts_to(slack, user)) == 1, user
    assert [s for s, _ in ledger(services.engine).values()].count("sending") == 0


def test_two_schedulers_at_once_deliver_each_digest_once(services, slack, db_url):
    from storage.engine import build_engine
    engines = [build_engine(db_url), build_engine(db_url)]
    deliverers = [make_deliverer(services, slack, engine=e) for e in engines]
    barrier = threading.Barrier(2)
    errors = []

    def run(d):
        try:
            barrier.wait()
            d.sweep(("digest",), now=MONDAY)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in deliverers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in engines:
        e.dispose()
    assert errors == []
    for user in ("U0TOMBK01", "U0SARAH01", "U0ADMIN01"):
        assert len(posts_to(slack, user)) == 1, user


def test_failed_sends_retry_with_backoff_then_are_marked_failed(services, slack):
    deliverer = make_deliverer(services, slack, send_attempts=3)
    # Slack answers 503 three times (the SDK's own tries): our second try gets through.
    slack.fail("chat.postMessage", status=503, times=3)
    assert deliverer.sweep(("digest",), now=MONDAY, only={"rep.tom"})["sent"] == 1
    assert deliverer.slept == [2.0]
    with services.engine.connect() as conn:
        row = conn.execute(sa.select(Delivery.attempts, Delivery.status)).one()
    assert tuple(row) == (2, "sent")
    # Sarah's digest never gets through: failed after 3 tries, and the error is kept.
    slack.fail("chat.postMessage", status=503, times=100)
    assert deliverer.sweep(("digest",), now=MONDAY, only={"mgr.sarah"})["failed"] == 1
    assert deliverer.slept == [2.0, 2.0, 4.0]
    assert ledger(services.engine)[("mgr.sarah", "2026-W48")] == ("failed", "slack")
    # It shows in the manager's next digest.
    from bot.scheduler.outbox import Recipient
    sarah = [r for r in deliverer.recipients({"mgr.sarah"})][0]
    assert isinstance(sarah, Recipient)
    template, context, locale = deliverer.digest_content(sarah)
    from messages.render import render
    text = render(template, context, locale=locale)
    assert "Deliveries that failed this week" in text and "http_503" in text


def test_a_permanent_error_is_not_retried(services, slack):
    deliverer = make_deliverer(services, slack)
    slack.fail("conversations.open", status=200, error="user_not_found")
    assert deliverer.sweep(("digest",), now=MONDAY, only={"rep.tom"})["failed"] == 1
    assert deliverer.slept == []


def test_reminders_list_whats_due_with_buttons_and_at_most_n(services, slack):
    deliverer = make_deliverer(services, slack, reminders_per_day=2)
    deliverer.sweep(("reminder",), now=MONDAY, only={"rep.tom"})
    [post] = posts_to(slack, "U0TOMBK01")
    blocks = post.args["blocks"]
    actions = [b for b in blocks if b["type"] == "actions"]
    assert len(actions) == 2
    assert [e["action_id"] for e in actions[0]["elements"]] == [
        "tierbot_log_visit", "tierbot_snooze", "tierbot_done"]
    assert "accounts are due a visit" in post.args["text"]
    assert blocks[-1]["type"] == "context" and "more" in blocks[-1]["elements"][0]["text"]
    # Once a day: the same day's sweep sends nothing more.
    deliverer.sweep(("reminder",), now=MONDAY + timedelta(hours=2), only={"rep.tom"})
    assert len(posts_to(slack, "U0TOMBK01")) == 1


def test_snoozed_and_done_accounts_are_not_reminded(services, slack):
    from tests.commands_support import ask
    deliverer = make_deliverer(services, slack, reminders_per_day=50)
    today = date(2026, 11, 23)
    from storage.logbook import visits_due
    tom = deliverer.recipients({"rep.tom"})[0]
    due = [r for r in visits_due(services.engine, tom.id, today, services.scoring.cadence_days)
           if r["due"] <= today]
    assert len(due) >= 2
    ask(services, f"/snooze {due[0]['key']}", rep="rep.tom")
    ask(services, f"/done {due[1]['key']}", rep="rep.tom")
    deliverer.sweep(("reminder",), now=MONDAY, only={"rep.tom"})
    [post] = posts_to(slack, "U0TOMBK01")
    shown = str(post.args["blocks"])
    assert f"({due[0]['key']})" not in shown and f"({due[1]['key']})" not in shown
    assert f"({due[2]['key']})" in shown if len(due) > 2 else True


def test_wecom_reminders_are_cards(services, slack, wecom):
    deliverer = make_deliverer(services, slack, wecom, reminders_per_day=2)
    deliverer.sweep(("reminder",), now=utc(2026, 11, 23, 1, 30), only={"rep.zhang"})
    sent = [c.body for c in wecom.of("message/send")]
    cards = [s for s in sent if s["msgtype"] == "template_card"]
    assert len(cards) == 2
    assert [b["text"] for b in cards[0]["template_card"]["button_list"]] == [
        "已拜访", "延后7天", "查看详情"]
    assert cards[0]["template_card"]["main_title"]["title"] == "拜访提醒"


def test_wecom_cards_say_dates_and_risks_as_replies_do(services, slack, wecom):
    """A reminder card's last contact is a date as every reply prints it (2026年10月3日,
    not 2026-10-03), in the member's language; an overdue count agrees with its noun."""
    import re

    from messages.cards import alert_card, reminder_card
    from messages.render import day

    deliverer = make_deliverer(services, slack, wecom, reminders_per_day=5)
    deliverer.sweep(("reminder",), now=utc(2026, 11, 23, 1, 30), only={"rep.zhang"})
    cards = [c.body["template_card"] for c in wecom.of("message/send")
             if c.body["msgtype"] == "template_card"]
    assert cards
    for card in cards:
        facts = dict((f["keyname"], f["value"]) for f in card["horizontal_content_list"])
        assert re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日", facts["最近联系"]) or \
            facts["最近联系"] == "从未联系"
        seen = [card["main_title"], card["sub_title_text"], card["horizontal_content_list"]]
        assert not re.search(r"\d{4}-\d{2}-\d{2}", str(seen))  # (task_id is not shown)
    row = {"tier": "key", "days_overdue": 1, "last": date(2026, 10, 3)}
    assert reminder_card(row, "en")["description"] == "1 day overdue"
    assert reminder_card(row, "en")["facts"][1] == ("Last contact", day(row["last"], "en"))
    assert reminder_card({**row, "days_overdue": 12}, "zh")["description"] == "逾期12天"
    alert = alert_card({"previous_tier": "key", "churn_risk": 99.7, "reason": ""}, "zh")
    assert alert["facts"] == [("原分层", "重点级"), ("流失风险", ">99%")]


def test_failed_deliveries_in_the_digest_say_their_period_in_words():
    from messages.render import period, render

    assert period("2026-W48") == "week 48 of 2026" and period("2026-W48", "zh") == "2026年第48周"
    assert period("2026-11-23") == "23 Nov 2026" and period("2026-11-23", "zh") == "2026年11月23日"
    assert period("run-7") == "score run 7" and period("run-7", "zh") == "第7次评分"
    failed = [{"name": "Tom Baker", "kind": "reminder", "period": "2026-11-23",
               "channel": "slack", "last_error": "http_503"}]
    context = {"scope": "team", "person": "Sarah", "today": date(2026, 11, 23),
               "book": {"as_of": None}, "failed": failed}
    en = render("digest", context, locale="en")
    assert "  - Tom Baker: reminder for 23 Nov 2026 via Slack: http_503" in en.splitlines()
    zh = render("digest", context, locale="zh")
    assert "  - Tom Baker：2026年11月23日的拜访提醒（Slack）：http_503" in zh.splitlines()


def test_leader_election_sqlite_lease(bare_engine, db_url):
    from storage.engine import is_sqlite
    from storage.migrate import upgrade
    if not is_sqlite(bare_engine):
        pytest.skip("the lease is SQLite's")
    upgrade(bare_engine)
    a, b = Leader(bare_engine), Leader(bare_engine)
    now = utc(2026, 11, 23, 9)
    assert a.acquire(now) and not b.acquire(now)
    assert a.acquire(now + timedelta(seconds=30))  # renewed
    assert not b.acquire(now + timedelta(seconds=60))
    assert b.acquire(now + timedelta(seconds=91))  # a stopped renewing: b takes over
    assert not a.acquire(now + timedelta(seconds=92))


def test_leader_election_postgres_advisory_lock(bare_engine):
    from storage.engine import build_engine, is_sqlite
    if is_sqlite(bare_engine):
        pytest.skip("advisory locks are PostgreSQL's")
    other = build_engine(str(bare_engine.url.render_as_string(hide_password=False)))
    a, b = Leader(bare_engine), Leader(other)
    try:
        assert a.acquire() and not b.acquire()
        assert a.acquire()
        a._drop()  # the leader's process dies: the server drops its session and its lock
        assert b.acquire()
        assert not Leader(bare_engine).acquire()
    finally:
        a.release()
        b.release()
        other.dispose()


def test_cron_jobs_fire_at_local_time_across_dst(services, slack):
    deliverer = make_deliverer(services, slack)
    scheduler = Scheduler(deliverer, Leader(services.engine), deliverer.settings)
    jobs = {j.id: j for j in scheduler.aps.get_jobs()}
    job = jobs["digest:America/New_York:mon:0900"]
    after = utc(2026, 10, 27, 0, 0)
    assert job.trigger.get_next_fire_time(None, after) == utc(2026, 11, 2, 14, 0)
    spring = utc(2027, 3, 9, 0, 0)
    assert job.trigger.get_next_fire_time(None, spring) == utc(2027, 3, 15, 13, 0)
    assert "reminder:Europe/Berlin:0900" in jobs and "leader" in jobs


def test_a_new_leader_catches_up(services, slack):
    deliverer = make_deliverer(services, slack)
    scheduler = Scheduler(deliverer, Leader(services.engine), deliverer.settings)
    scheduler.tick()  # becomes the leader and sweeps what is due now (real clock)
    assert scheduler.leader.leading
    with services.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Delivery)).scalar() > 0
    scheduler.leader.release()


def test_charts_drawn_in_a_child_process(services, slack):
    deliverer = make_deliverer(services, slack)
    deliverer.chart_processes = 1
    try:
        assert deliverer.sweep(("digest",), now=MONDAY)["sent"] == 3
    finally:
        deliverer.close()
    uploads = slack.of("upload")
    assert len(uploads) == 3 and all(b"\x89PNG" in u.raw for u in uploads)


def _wider_at_risk():
    """The shipped tier rules with the at-risk rule taking the riskiest 80%, not 20%."""
    from importlib import resources

    from scoring.config import parse_config
    import tomllib
    text = resources.files("scoring").joinpath("tiers.toml").read_text("utf-8")
    return parse_config(tomllib.loads(text.replace('["risk_rank", ">=", 80]',
                                                   '["risk_rank", ">=", 20]')))


def test_at_risk_alerts_once_per_score_run(services, slack, wecom):
    from bot.scoring_jobs import rescore
    deliverer = make_deliverer(services, slack, wecom)
    assert deliverer.sweep(("alert",), now=MONDAY).get("sent", 0) == 0  # one run: no movement
    # Three months later, with a much wider at-risk rule, so that several of each rep's
    # accounts move into the tier in this run.
    rescore(services.engine, _wider_at_risk(), date(2027, 2, 20))
    with services.engine.connect() as conn:
        moved = dict(conn.execute(sa.text(
            "SELECT r.key, count(*) FROM score_snapshots s JOIN accounts a ON a.id = s.account_id "
            "JOIN reps r ON r.id = a.owner_id WHERE s.run_id = (SELECT max(id) FROM score_runs) "
            "AND s.tier = 'at-risk' AND s.previous_tier <> 'at-risk' GROUP BY r.key")).all())
    assert moved.get("rep.tom") and moved.get("rep.zhang"), moved
    later = utc(2027, 2, 22, 14, 5)  # a Monday, 09:05 in New York
    deliverer.sweep(("alert",), now=later, only={"rep.tom"})
    [post] = posts_to(slack, "U0TOMBK01")
    assert "moved into the at-risk tier" in post.args["text"]
    actions = [b for b in post.args["blocks"] if b["type"] == "actions"]
    assert len(actions) == min(moved["rep.tom"], 16)
    assert "risk" in str(post.args["blocks"][1])
    deliverer.sweep(("alert",), now=later + timedelta(days=1), only={"rep.tom"})
    assert len(posts_to(slack, "U0TOMBK01")) == 1  # the same run is not alerted twice
    deliverer.sweep(("alert",), now=utc(2027, 2, 22, 1, 30), only={"rep.zhang"})
    cards = [c.body["template_card"] for c in wecom.of("message/send")
             if c.body["msgtype"] == "template_card"]
    assert len(cards) == min(moved["rep.zhang"], 10)
    assert cards[0]["main_title"]["title"] == "流失预警"
    assert [b["key"].split(":")[0] for b in cards[0]["button_list"]] == ["done", "snooze", "tier"]


def _alert_setup(services):
    """A run dated 20 Feb 2027 that moves some of rep.tom's accounts into at-risk, made
    (created_at) at 02:00 New York on Monday 22 Feb 2027, before his 09:00 reminder time."""
    from bot.scoring_jobs import rescore
    result = rescore(services.engine, _wider_at_risk(), date(2027, 2, 20))
    assert result.moves  # some of rep.tom's accounts move into at-risk (checked by the sends)
    with services.engine.begin() as conn:
        conn.execute(sa.text("UPDATE score_runs SET created_at = :at WHERE id = :id"),
                     {"at": utc(2027, 2, 22, 7, 0), "id": result.run_id})
    return result.run_id


def test_an_alert_for_a_run_made_after_the_last_slot_is_not_missed(services, slack):
    """The bot starts at 07:00 New York, between the rescore (02:00) and the reminder time
    (09:00): yesterday's slot is long past, but the run didn't exist then."""
    run_id = _alert_setup(services)
    deliverer = make_deliverer(services, slack)
    deliverer.sweep(("alert",), now=utc(2027, 2, 22, 12, 0), only={"rep.tom"})
    assert ("rep.tom", f"run-{run_id}") not in ledger(services.engine, "alert")
    assert posts_to(slack, "U0TOMBK01") == []
    deliverer.sweep(("alert",), now=utc(2027, 2, 22, 14, 5), only={"rep.tom"})
    assert ledger(services.engine, "alert")[("rep.tom", f"run-{run_id}")] == ("sent", "slack")
    [post] = posts_to(slack, "U0TOMBK01")
    assert "moved into the at-risk tier" in post.args["text"]


def test_an_alert_whose_slot_passed_while_down_is_still_skipped(services, slack):
    """The rule is only about slots before the run: a run made before a slot the bot then
    missed by more than the grace window is recorded as missed, as before."""
    run_id = _alert_setup(services)
    deliverer = make_deliverer(services, slack)
    deliverer.sweep(("alert",), now=utc(2027, 2, 23, 12, 0), only={"rep.tom"})  # 22 h late
    status, _ = ledger(services.engine, "alert")[("rep.tom", f"run-{run_id}")]
    assert status == "skipped" and posts_to(slack, "U0TOMBK01") == []


def test_a_backdated_run_does_not_send_the_alerts_again(services, slack):
    from bot.scoring_jobs import rescore
    run_id = _alert_setup(services)
    deliverer = make_deliverer(services, slack)
    deliverer.sweep(("alert",), now=utc(2027, 2, 22, 14, 5), only={"rep.tom"})
    assert len(posts_to(slack, "U0TOMBK01")) == 1
    backdated = rescore(services.engine, services.scoring, date(2027, 1, 10))
    assert backdated.run_id > run_id and backdated.current == (run_id, date(2027, 2, 20))
    deliverer.sweep(("alert",), now=utc(2027, 2, 23, 14, 5), only={"rep.tom"})
    assert len(posts_to(slack, "U0TOMBK01")) == 1  # the current run is still run_id
    assert {p for k, p in ledger(services.engine, "alert")} == {f"run-{run_id}"}
