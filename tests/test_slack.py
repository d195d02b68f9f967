"""The Slack adapter end to end: a real HTTP server, real signed requests, a fake Slack."""
from __future__ import annotations

import pytest

from bot.server import HttpServer
from bot.settings import Settings
from bot.slack.app import SlackAdapter
from tests.slack_support import SECRET, TOKEN, event, interactive, signed_post, slash


@pytest.fixture
def fake(slack):
    return slack


@pytest.fixture
def bot(services, fake):
    settings = Settings(database_url="sqlite://", slack_bot_token=TOKEN,
                        slack_signing_secret=SECRET, slack_api_url=fake.api_url)
    adapter = SlackAdapter(services, settings)
    server = HttpServer("127.0.0.1", 0, {"/slack/events": adapter.http_route}).start()
    server.events = server.url + "/slack/events"
    yield server
    server.stop()
    adapter.close()


def test_tier_slash_command_answers_on_response_url(bot, fake):
    status, body = slash(bot.events, "/tier", "ACME", user="U0TOMBK01",
                         response_url=fake.response_url("r1"))
    assert (status, body) == (200, "")
    [call] = fake.wait_for("response")
    assert call.path == "/response/r1"
    assert call.args["response_type"] == "ephemeral"
    assert "ACME Corp" in call.args["text"]


def _response(fake, name):
    return [c for c in fake.wait_for("response") if c.path.endswith("/" + name)]


COMMAND_TEXTS = [
    ("/tier", "ACME why", "ACME Corp"),
    ("/at-risk", "team", "At-risk accounts (your team's"),
    ("/accounts", "", "book as of 22 Nov 2026"),
    ("/digest", "", "Digest"),
    ("/visit", "ACME call discussed Q1 volumes next in 2 weeks", "Logged: call with ACME Corp"),
    ("/due", "week", "visits"),
    ("/snooze", "ACME 14", "Snoozed"),
    ("/done", "ACME signed the renewal", "Logged: visit with ACME Corp"),
    ("/feedback", "ACME nps 9 happy with delivery", "Recorded: NPS 9"),
    ("/assign", "ACME rep.priya", "ACME"),
    ("/override", "ACME strategic board decision", "strategic"),
    ("/tierbot-help", "visit", "/visit <account>"),
]


@pytest.mark.parametrize("command, text, expected", COMMAND_TEXTS,
                         ids=[c[0] for c in COMMAND_TEXTS])
def test_every_slash_command(bot, fake, command, text, expected):
    user = "U0SARAH01"  # the manager: may assign and override in her team
    status, _ = slash(bot.events, command, text, user=user, response_url=fake.response_url("c"))
    assert status == 200
    [call] = fake.wait_for("response")
    shown = call.args["text"] + "\n" + "\n".join(
        b["text"]["text"] for b in call.args["blocks"] if b["type"] == "section")
    assert expected.casefold() in shown.casefold(), shown
    assert "went wrong" not in shown and "I don't know the command" not in shown
    assert len(call.args["blocks"]) <= 50


def test_tier_card_has_the_account_buttons(bot, fake):
    slash(bot.events, "/tier", "ACME", user="U0TOMBK01", response_url=fake.response_url("t"))
    [call] = fake.wait_for("response")
    actions = [b for b in call.args["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions[0]["elements"]] == [
        "tierbot_log_visit", "tierbot_snooze", "tierbot_done"]
    assert [e["text"]["text"] for e in actions[0]["elements"]] == [
        "Log visit", "Snooze 7 days", "Done"]


def test_public_word_posts_in_channel(bot, fake):
    slash(bot.events, "/tier", "ACME public", user="U0TOMBK01", response_url=fake.response_url("p"))
    [call] = fake.wait_for("response")
    assert call.args["response_type"] == "in_channel"
    assert "ACME Corp" in call.args["text"]


def test_chinese_user_gets_chinese(bot, fake):
    slash(bot.events, "/tier", "华锐", user="U0CHENJ01", response_url=fake.response_url("zh"))
    [call] = fake.wait_for("response")
    assert "上海华锐精密制造有限公司" in call.args["text"]
    actions = [b for b in call.args["blocks"] if b["type"] == "actions"][0]
    assert [e["text"]["text"] for e in actions["elements"]] == ["记录拜访", "延后7天", "已拜访"]


def test_unknown_user_is_told_how_to_get_added(bot, fake):
    slash(bot.events, "/tier", "ACME", user="U0STRANGER", response_url=fake.response_url("u"))
    [call] = fake.wait_for("response")
    assert "U0STRANGER" in call.args["text"] and "admin" in call.args["text"]


def test_user_text_cannot_ping_the_channel(bot, fake, services):
    slash(bot.events, "/visit", "ACME call <!channel> please read <@U0SARAH01>",
          user="U0TOMBK01", response_url=fake.response_url("x"))
    [call] = fake.wait_for("response")
    everything = str(call.args)
    assert "<!channel>" not in everything and "<@U0SARAH01>" not in everything
    assert "&lt;!channel&gt;" in everything


@pytest.mark.parametrize("how", ["forged", "stale", "unsigned"])
def test_unverified_requests_are_refused(bot, fake, services, how):
    body = "command=%2Fvisit&text=ACME+call+forged&user_id=U0TOMBK01&response_url=" + \
        fake.response_url("f")
    import time
    kwargs = {"forged": {"secret": "not-the-secret"},
              "stale": {"timestamp": int(time.time()) - 6 * 60},
              "unsigned": {"headers": {"X-Slack-Signature": ""}}}[how]
    status, _ = signed_post(bot.events, body, "application/x-www-form-urlencoded", **kwargs)
    assert status == 401
    import sqlalchemy as sa
    from storage.models import Interaction
    with services.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Interaction).where(
            Interaction.summary == "forged")).scalar() == 0
    assert fake.of("response") == []


def test_a_signed_request_within_five_minutes_is_accepted(bot, fake):
    import time
    status, _ = slash(bot.events, "/tierbot-help", "", user="U0TOMBK01",
                      response_url=fake.response_url("h"), timestamp=int(time.time()) - 4 * 60)
    assert status == 200
    fake.wait_for("response")


def _dm(text, user="U0TOMBK01", **extra):
    return {"type": "message", "channel": "D0TOMBK01", "channel_type": "im", "user": user,
            "text": text, "ts": "1763800000.000100", **extra}


def test_direct_message_runs_the_command(bot, fake):
    status, _ = event(bot.events, _dm("tier ACME"), event_id="Ev0001")
    assert status == 200
    [call] = fake.wait_for("chat.postMessage")
    assert call.args["channel"] == "D0TOMBK01" and "ACME Corp" in call.args["text"]


def test_slack_retries_never_double_an_action(bot, fake, services):
    import sqlalchemy as sa
    from storage.models import Interaction
    dm = _dm("visit ACME call retried once")
    assert event(bot.events, dm, event_id="Ev0002")[0] == 200
    fake.wait_for("chat.postMessage")
    for retry in (1, 2):
        assert event(bot.events, dm, event_id="Ev0002", retry=retry)[0] == 200
    # A later, different event still runs: the bot is not stuck.
    event(bot.events, _dm("tier ACME"), event_id="Ev0003")
    fake.wait_for("chat.postMessage", 2)
    assert len(fake.of("chat.postMessage")) == 2
    with services.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Interaction).where(
            Interaction.summary == "retried once")).scalar() == 1


def test_an_event_whose_first_delivery_failed_is_handled_once(bot, fake):
    # The first delivery never reached us; Slack's first retry is the first we see.
    assert event(bot.events, _dm("tier ACME"), event_id="Ev0004", retry=1)[0] == 200
    fake.wait_for("chat.postMessage")
    assert event(bot.events, _dm("tier ACME"), event_id="Ev0004", retry=2)[0] == 200
    event(bot.events, _dm("help"), event_id="Ev0005")
    fake.wait_for("chat.postMessage", 2)
    assert len(fake.of("chat.postMessage")) == 2


def test_bot_posts_and_edits_are_ignored(bot, fake):
    event(bot.events, _dm("tier ACME", bot_id="B0BOT001"), event_id="Ev0006")
    event(bot.events, _dm("tier ACME", subtype="message_changed"), event_id="Ev0007")
    event(bot.events, _dm("help"), event_id="Ev0008")
    [call] = fake.wait_for("chat.postMessage")
    assert "tierbot commands" in call.args["text"]


def test_mention_answers_privately_unless_public(bot, fake):
    mention = {"type": "app_mention", "channel": "C0SALES01", "user": "U0TOMBK01",
               "text": "<@UBOT0001> tier ACME", "ts": "1763800000.000200"}
    event(bot.events, mention, event_id="Ev0010")
    [call] = fake.wait_for("chat.postEphemeral")
    assert (call.args["channel"], call.args["user"]) == ("C0SALES01", "U0TOMBK01")
    assert "ACME Corp" in call.args["text"]
    event(bot.events, dict(mention, text="<@UBOT0001> tier ACME public"), event_id="Ev0011")
    [post] = fake.wait_for("chat.postMessage")
    assert post.args["channel"] == "C0SALES01" and "ACME Corp" in post.args["text"]


def test_a_failure_after_the_ack_reaches_the_user_with_a_reference(bot, fake, services, caplog):
    import sqlalchemy as sa
    with services.engine.begin() as conn:  # the work after the ack will hit a broken store
        conn.execute(sa.text("DROP TABLE score_snapshots"))
    status, _ = slash(bot.events, "/tier", "ACME", user="U0TOMBK01",
                      response_url=fake.response_url("e"))
    assert status == 200
    [call] = fake.wait_for("response")
    assert call.args["response_type"] == "ephemeral"
    import re
    ref = re.search(r"ref(?:erence)?\W+([0-9a-f]{8})", call.args["text"])
    assert ref, call.args["text"]
    assert any(ref.group(1) in r.getMessage() for r in caplog.records)


def _click(bot, fake, action_id, key="ACME", name="ACME Corp", user="U0TOMBK01",
           message_ts="1763800000.000300", action_ts="1763800001.000001", response="b"):
    from bot.slack.views import account_value
    payload = {"type": "block_actions", "user": {"id": user}, "api_app_id": "A0TIERBOT",
               "token": "legacy", "team": {"id": "T0TIERBOT"}, "trigger_id": "t-" + action_ts,
               "container": {"type": "message", "message_ts": message_ts,
                             "channel_id": "C0SALES01", "is_ephemeral": True},
               "channel": {"id": "C0SALES01"}, "response_url": fake.response_url(response),
               "actions": [{"action_id": action_id, "block_id": f"tierbot_account:{key}",
                            "value": account_value(key, name), "type": "button",
                            "action_ts": action_ts}]}
    return interactive(bot.events, payload)


def _submission(view: dict, *, kind="call", day="2026-11-20", notes="walked the plant",
                next_day=None, user="U0TOMBK01"):
    values = {
        "kind": {"value": {"type": "static_select", "selected_option": {"value": kind}}},
        "date": {"value": {"type": "datepicker", "selected_date": day}},
        "notes": {"value": {"type": "plain_text_input", "value": notes}},
        "next": {"value": {"type": "datepicker", "selected_date": next_day}},
    }
    submitted = dict(view, id="V0MODAL01", state={"values": values})
    return {"type": "view_submission", "team": {"id": "T0TIERBOT"}, "user": {"id": user},
            "api_app_id": "A0TIERBOT", "token": "legacy", "trigger_id": "t-submit",
            "view": submitted}


def _opened_view(fake):
    import json
    [call] = fake.wait_for("views.open")
    view = call.args["view"]
    return call, (json.loads(view) if isinstance(view, str) else view)


def test_log_visit_button_opens_the_modal(bot, fake):
    assert _click(bot, fake, "tierbot_log_visit")[0] == 200
    call, view = _opened_view(fake)
    assert call.args["trigger_id"] == "t-1763800001.000001"
    assert view["callback_id"] == "tierbot_visit"
    assert [b.get("block_id") for b in view["blocks"][1:]] == ["kind", "date", "notes", "next"]
    assert view["blocks"][2]["element"]["initial_date"] == "2026-11-22"
    assert "ACME Corp" in view["blocks"][0]["text"]["text"]


def test_modal_round_trip_logs_the_interaction(bot, fake, services):
    import sqlalchemy as sa
    from storage.models import Account, Interaction
    _click(bot, fake, "tierbot_log_visit")
    _, view = _opened_view(fake)
    status, body = interactive(bot.events, _submission(view, next_day="2026-12-04"))
    assert (status, body) == (200, "")
    [dm] = fake.wait_for("chat.postMessage")
    assert dm.args["channel"] == "U0TOMBK01"
    assert dm.args["text"].startswith("Logged: call with ACME Corp (ACME) on 20 Nov 2026.")
    with services.engine.connect() as conn:
        rows = conn.execute(sa.select(Interaction.kind, Interaction.occurred_on,
                                      Interaction.summary, Interaction.next_date,
                                      Interaction.source)
                            .join(Account, Account.id == Interaction.account_id)
                            .where(Account.key == "ACME",
                                   Interaction.summary == "walked the plant")).all()
    from datetime import date
    assert rows == [("call", date(2026, 11, 20), "walked the plant", date(2026, 12, 4), "slack")]


@pytest.mark.parametrize("change, block, message", [
    ({"day": "2026-11-23"}, "date", "in the future"),
    ({"notes": "   "}, "notes", "Write a line"),
    ({"next_day": "2026-11-01"}, "next", "can't be in the past"),
    ({"kind": "lunch"}, "kind", "Choose one of"),
])
def test_modal_mistakes_show_inline_and_store_nothing(bot, fake, services, change, block, message):
    import json

    import sqlalchemy as sa
    from storage.models import Interaction
    _click(bot, fake, "tierbot_log_visit")
    _, view = _opened_view(fake)
    with services.engine.connect() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(Interaction)).scalar()
    status, body = interactive(bot.events, _submission(view, **change))
    assert status == 200
    answer = json.loads(body)
    assert answer["response_action"] == "errors" and list(answer["errors"]) == [block]
    assert message in answer["errors"][block]
    # Something after it, to be sure the submission's own work (if any) has run too.
    event(bot.events, _dm("help"), event_id="Ev-after")
    [post] = fake.wait_for("chat.postMessage")
    assert "tierbot commands" in post.args["text"]
    with services.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Interaction)).scalar() == before
    assert len(fake.of("chat.postMessage")) == 1


def test_modal_errors_in_chinese_for_a_chinese_rep(bot, fake):
    import json
    _click(bot, fake, "tierbot_log_visit", key="CN-0001", name="上海华锐精密制造有限公司",
           user="U0CHENJ01")
    _, view = _opened_view(fake)
    assert view["title"]["text"] == "记录拜访"
    _, body = interactive(bot.events, _submission(view, notes="", user="U0CHENJ01"))
    assert json.loads(body)["errors"] == {"notes": "请写一句沟通的内容。"}


def test_snooze_button(bot, fake, services):
    import sqlalchemy as sa
    from storage.models import Account, ReminderSnooze
    assert _click(bot, fake, "tierbot_snooze")[0] == 200
    [call] = fake.wait_for("response")
    assert call.args["text"].startswith("Snoozed: no revisit reminder for ACME Corp (ACME) until")
    assert call.args["replace_original"] is False
    with services.engine.connect() as conn:
        until = conn.execute(sa.select(ReminderSnooze.until).join(
            Account, Account.id == ReminderSnooze.account_id).where(Account.key == "ACME")).scalar()
    from datetime import date
    assert until == date(2026, 11, 29)


def test_done_button_logs_one_visit_even_if_clicked_twice(bot, fake, services):
    import sqlalchemy as sa
    from storage.models import Account, Interaction
    _click(bot, fake, "tierbot_done", action_ts="1763800001.000001")
    fake.wait_for("response")
    _click(bot, fake, "tierbot_done", action_ts="1763800002.000001")
    calls = fake.wait_for("response", 2)
    assert calls[0].args["text"].startswith("Logged: visit with ACME Corp")
    assert calls[1].args["text"].startswith("Already logged")
    with services.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Interaction).join(
            Account, Account.id == Interaction.account_id).where(
            Account.key == "ACME", Interaction.summary == "Visit marked done")).scalar() == 1


def test_buttons_respect_who_may_see_the_account(bot, fake):
    # Lucas may not read a Chinese team's account, even with a crafted button value.
    _click(bot, fake, "tierbot_snooze", key="CN-0001", name="x", user="U0LUCAS01")
    [call] = fake.wait_for("response")
    assert "not your account" in call.args["text"]


def test_manifest_declares_every_command_and_the_scopes_used():
    from pathlib import Path

    import yaml

    from bot.slack.app import SLASH_COMMANDS
    manifest = yaml.safe_load((Path(__file__).parent.parent / "slack-manifest.yml").read_text())
    commands = manifest["features"]["slash_commands"]
    assert [c["command"] for c in commands] == list(SLASH_COMMANDS)
    assert {c["url"] for c in commands} == {manifest["settings"]["interactivity"]["request_url"]}
    assert manifest["settings"]["event_subscriptions"]["request_url"].endswith("/slack/events")
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == {
        "app_mention", "message.im"}
    assert {"commands", "chat:write", "im:write", "im:history", "app_mentions:read",
            "files:write"} <= set(manifest["oauth_config"]["scopes"]["bot"])
    assert all(len(c["description"]) <= 100 for c in commands)


def test_socket_mode_acks_and_answers(services, fake):
    """With an app token the bot opens Socket Mode (apps.connections.open, then the
    WebSocket), acks each envelope on it and answers on the response_url."""
    from bot.serve import build
    from tests.fakes.slack_socket import FakeSocketMode
    socket_mode = FakeSocketMode()
    fake.socket_url = socket_mode.url
    settings = Settings(database_url="sqlite://", slack_bot_token=TOKEN, slack_signing_secret=SECRET,
                        slack_app_token=fake.app_token, slack_api_url=fake.api_url)
    running = build(services, settings, port=0)
    try:
        assert running.slack_mode == "socket"
        assert "/slack/events" not in running.server.routes
        socket_mode.wait_connected()
        assert fake.of("apps.connections.open")[0].headers["Authorization"] == \
            f"Bearer {fake.app_token}"
        socket_mode.send({"envelope_id": "env-1", "type": "slash_commands",
                          "accepts_response_payload": True, "payload": {
                              "command": "/tier", "text": "ACME", "user_id": "U0TOMBK01",
                              "team_id": "T0TIERBOT", "channel_id": "C0SALES01",
                              "response_url": fake.response_url("sock"),
                              "trigger_id": "t-sock"}})
        assert socket_mode.wait_for_ack("env-1")["envelope_id"] == "env-1"
        [call] = fake.wait_for("response")
        assert "ACME Corp" in call.args["text"]
    finally:
        running.stop()
        socket_mode.close()
