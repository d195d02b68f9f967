"""The WeCom adapter end to end: real encrypted callbacks to a real HTTP server, replies
through a fake WeCom API."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from wechatpy.enterprise.crypto import WeChatCrypto

from bot.server import HttpServer
from bot.settings import Settings
from bot.wecom.app import WeComAdapter
from storage.inbound import SLACK_WINDOW, claim_retention, prune_events
from storage.models import Account, InboundEvent, Interaction, PlatformToken, ReminderSnooze
from tests.fakes.wecom import (AGENT_ID, CORP_ID, DROP, SECRET, FakeWeCom, card_event_xml,
                               get_verification, new_aes_key, post_callback, send_callback,
                               signed_callback, text_xml)
from tests.test_manage_commands import owner_key
from tests.test_wecom_tokens import DISTINCT_SECRET, refuse_token_writes, secret_pieces

TOKEN = "wecomCallbackToken"


@pytest.fixture
def fake(request):
    server = FakeWeCom(secret=getattr(request, "param", SECRET))
    yield server
    server.close()


@pytest.fixture
def aes_key():
    return new_aes_key()


@pytest.fixture
def crypto(aes_key):
    return WeChatCrypto(TOKEN, aes_key, CORP_ID)


def wecom_settings(fake, aes_key):
    return Settings(database_url="sqlite://", wecom_corp_id=CORP_ID, wecom_agent_id=AGENT_ID,
                    wecom_secret=fake.secret, wecom_token=TOKEN, wecom_encoding_aes_key=aes_key,
                    wecom_api_url=fake.api_url)


@pytest.fixture
def bot(services, fake, aes_key):
    adapter = WeComAdapter(services, wecom_settings(fake, aes_key))
    server = HttpServer("127.0.0.1", 0, {"/wecom/callback": adapter.http_route}).start()
    server.callback = server.url + "/wecom/callback"
    server.adapter = adapter
    yield server
    server.stop()
    adapter.close()


def sent_markdown(fake, count=1):
    calls = fake.wait_for("message/send", count)
    return [c.body for c in calls]


def test_url_verification_answers_the_plaintext(bot, crypto):
    assert get_verification(bot.callback, crypto, "4985231876543210987") == (
        200, "4985231876543210987")
    status, _ = get_verification(bot.callback, crypto, "4985231876543210987", forge=True)
    assert status == 401


def test_tier_in_chinese_is_answered_through_message_send(bot, fake, crypto):
    status, body = post_callback(bot.callback, crypto, text_xml("ZhangMin", "/分层 华锐", "1001"))
    assert (status, body) == (200, "")
    [sent] = sent_markdown(fake)
    assert sent["touser"] == "ZhangMin" and sent["agentid"] == AGENT_ID
    assert sent["msgtype"] == "markdown"
    assert "上海华锐精密制造有限公司" in sent["markdown"]["content"]
    assert len(sent["markdown"]["content"].encode()) <= 2048
    [token] = fake.of("gettoken")
    assert token.params == {"corpid": CORP_ID, "corpsecret": SECRET}


@pytest.mark.parametrize("text, user, expected", [
    ("分层 华锐", "ZhangMin", "上海华锐精密制造有限公司"),
    ("/tier CN-0001", "ZhangMin", "上海华锐精密制造有限公司"),
    ("/风险 团队", "LiWei", "流失风险"),
    ("/客户", "ZhangMin", "客户"),
    ("/周报", "LiWei", "周报"),
    ("/拜访 华锐 电话 沟通下季度需求 下次 下周三", "ZhangMin", "已记录"),
    ("/待办 本周", "ZhangMin", "拜访"),
    ("/已拜访 华锐 续约已签", "ZhangMin", "已记录"),
    ("/延后 华锐 14", "ZhangMin", "已延后"),
    ("/反馈 华锐 净推荐值 9 交付及时", "ZhangMin", "净推荐值"),
    ("/分配 华锐 rep.wang", "LiWei", "华锐"),
    ("/调整 华锐 战略级 董事会决定", "LiWei", "战略级"),
    ("/帮助", "ZhangMin", "tierbot 命令"),
])
def test_each_command_in_chinese(bot, fake, crypto, text, user, expected):
    assert post_callback(bot.callback, crypto, text_xml(user, text, "2001"))[0] == 200
    [sent] = sent_markdown(fake)
    content = sent["markdown"]["content"]
    assert expected in content, content
    assert "出错" not in content and "不认识命令" not in content
    assert len(content.encode("utf-8")) <= 2048


def test_a_retried_message_runs_once(bot, fake, crypto, services):
    xml = text_xml("ZhangMin", "/拜访 华锐 电话 只记一次", "3001")
    for _ in range(4):  # the first delivery and WeCom's three retries
        assert post_callback(bot.callback, crypto, xml)[0] == 200
    sent_markdown(fake)
    post_callback(bot.callback, crypto, text_xml("ZhangMin", "/帮助", "3002"))
    assert len(sent_markdown(fake, 2)) == 2
    time.sleep(0.2)
    assert len(fake.of("message/send")) == 2
    with services.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Interaction).where(
            Interaction.summary == "只记一次")).scalar() == 1


def test_forged_signature_and_wrong_corp_id_are_refused(bot, fake, crypto, aes_key):
    assert post_callback(bot.callback, crypto, text_xml("ZhangMin", "/帮助", "4001"),
                         forge=True)[0] == 401
    other = WeChatCrypto(TOKEN, aes_key, "wwSomeOtherCorp0000")
    assert post_callback(bot.callback, other, text_xml("ZhangMin", "/帮助", "4002",
                                                       corp_id="wwSomeOtherCorp0000"),
                         corp_id="wwSomeOtherCorp0000")[0] == 403
    wrong_key = WeChatCrypto(TOKEN, new_aes_key(), CORP_ID)
    assert post_callback(bot.callback, wrong_key, text_xml("ZhangMin", "/帮助", "4003"))[0] == 400
    time.sleep(0.3)
    assert fake.of("message/send") == []


def test_card_buttons_are_handled_once_per_card(bot, fake, crypto, services):
    now = int(time.time())
    post_callback(bot.callback, crypto, card_event_xml("ZhangMin", "done:CN-0001", "task-1", now))
    [first] = sent_markdown(fake)
    assert first["markdown"]["content"].startswith("已记录")
    # A second click on the same card (a new event) logs nothing new.
    post_callback(bot.callback, crypto, card_event_xml("ZhangMin", "done:CN-0001", "task-1",
                                                       now + 5))
    second = sent_markdown(fake, 2)[1]
    assert second["markdown"]["content"].startswith("已记录过")
    post_callback(bot.callback, crypto, card_event_xml("ZhangMin", "snooze:CN-0001", "task-1",
                                                       now + 6))
    assert sent_markdown(fake, 3)[2]["markdown"]["content"].startswith("已延后")
    post_callback(bot.callback, crypto, card_event_xml("ZhangMin", "tier:CN-0001", "task-1",
                                                       now + 7))
    assert "上海华锐精密制造有限公司" in sent_markdown(fake, 4)[3]["markdown"]["content"]
    with services.engine.connect() as conn:
        visits = conn.execute(sa.select(sa.func.count()).select_from(Interaction).join(
            Account, Account.id == Interaction.account_id).where(
            Account.key == "CN-0001", Interaction.source == "wecom")).scalar()
        snoozed = conn.execute(sa.select(ReminderSnooze.until).join(
            Account, Account.id == ReminderSnooze.account_id).where(
            Account.key == "CN-0001")).scalar()
    assert visits == 1 and snoozed is not None


def test_unknown_member_is_told_how_to_get_added(bot, fake, crypto):
    post_callback(bot.callback, crypto, text_xml("Stranger", "/帮助", "5001"))
    [sent] = sent_markdown(fake)
    assert "Stranger" in sent["markdown"]["content"]


def test_token_is_shared_through_the_database(bot, fake, crypto, services, aes_key):
    post_callback(bot.callback, crypto, text_xml("ZhangMin", "/帮助", "6001"))
    sent_markdown(fake)
    with services.engine.connect() as conn:
        assert conn.execute(sa.select(PlatformToken.value)).scalars().all() == ["TOKEN-1"]
    # Another instance on the same database uses the same token: no new gettoken.
    other = WeComAdapter(services, wecom_settings(fake, aes_key))
    assert other.sender.markdown("ZhangMin", "hello").ok
    other.close()
    assert len(fake.of("gettoken")) == 1


def test_token_expiry_mid_send_is_refreshed_and_the_send_retried(bot, fake, crypto):
    post_callback(bot.callback, crypto, text_xml("ZhangMin", "/帮助", "7001"))
    sent_markdown(fake)
    fake.expire_tokens()
    post_callback(bot.callback, crypto, text_xml("ZhangMin", "/帮助", "7002"))
    calls = sent_markdown(fake, 3)  # one refused with 42001, then the retry
    assert len(fake.of("gettoken")) == 2
    sends = fake.of("message/send")
    assert [c.params["access_token"] for c in sends] == ["TOKEN-1", "TOKEN-1", "TOKEN-2"]
    assert calls[-1]["markdown"]["content"] == calls[0]["markdown"]["content"]


def test_the_server_route_and_serve_wiring(services, fake, aes_key, crypto):
    from bot.serve import build
    running = build(services, wecom_settings(fake, aes_key), port=0)
    running.server.start()
    try:
        url = running.server.url + "/wecom/callback"
        assert get_verification(url, crypto, "hello") == (200, "hello")
        assert running.wecom is True
    finally:
        running.stop()


WINDOW = 300  # the default TIERBOT_WECOM_CALLBACK_WINDOW


def claims(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(InboundEvent.event_id).where(
            InboundEvent.source == "wecom")).scalars())


def test_a_replayed_callback_outside_the_window_is_refused(bot, fake, crypto, services,
                                                           caplog):
    assert bot.adapter.window == WINDOW
    captured = signed_callback(crypto, text_xml("LiWei", "分配 CN-0001 rep.wang", "9001"))
    assert send_callback(bot.callback, captured) == (200, "")
    sent_markdown(fake)
    assert owner_key(services.engine, "CN-0001") == "rep.wang"
    # A newer assignment, sent fresh, still works.
    assert post_callback(bot.callback, crypto,
                         text_xml("LiWei", "分配 CN-0001 rep.chen", "9002"))[0] == 200
    sent_markdown(fake, 2)
    assert owner_key(services.engine, "CN-0001") == "rep.chen"
    # A day later, its claim pruned, someone replays the captured, validly signed callback.
    later = timedelta(days=1)
    assert prune_events(services.engine, window=timedelta(seconds=WINDOW),
                        now=datetime.now(timezone.utc) + later) == 2
    caplog.clear()
    bot.adapter.clock = lambda: time.time() + later.total_seconds()
    assert send_callback(bot.callback, captured) == (401, "stale timestamp")
    time.sleep(0.3)
    assert len(fake.of("message/send")) == 2
    assert owner_key(services.engine, "CN-0001") == "rep.chen"
    [line] = [r.getMessage() for r in caplog.records if r.name == "tierbot.wecom"]
    assert line.startswith("wecom callback refused: timestamp -") and len(line) < 100
    assert captured[1].decode() not in caplog.text  # no body in the log


def test_timestamps_from_the_future_or_not_numbers_are_refused(bot, fake, crypto):
    ahead = int(time.time()) + WINDOW + 60
    assert post_callback(bot.callback, crypto, text_xml("ZhangMin", "/帮助", "9101"),
                         timestamp=ahead) == (401, "stale timestamp")
    query, body = signed_callback(crypto, text_xml("ZhangMin", "/帮助", "9102"))
    bad = query.replace("timestamp=", "timestamp=x")
    assert send_callback(bot.callback, (bad, body)) == (400, "bad timestamp")
    # Just inside the window (a slow clock at WeCom's end) is still answered.
    assert post_callback(bot.callback, crypto, text_xml("ZhangMin", "/帮助", "9103"),
                         timestamp=int(time.time()) - WINDOW + 30)[0] == 200
    sent_markdown(fake)
    time.sleep(0.3)
    assert len(fake.of("message/send")) == 1


def test_claims_outlive_the_window(bot, fake, crypto, services):
    post_callback(bot.callback, crypto, text_xml("ZhangMin", "/帮助", "9201"))
    sent_markdown(fake)
    window = timedelta(seconds=WINDOW)
    now = datetime.now(timezone.utc)
    assert claim_retention(window) > 2 * window
    # The last moment a copy of the callback could pass the clock check: the claim is there.
    assert prune_events(services.engine, window=window, now=now + 2 * window) == 0
    assert claims(services.engine) == {"msg:9201"}
    assert prune_events(services.engine, window=window,
                        now=now + claim_retention(window) + timedelta(seconds=5)) == 1
    assert claims(services.engine) == set()


def test_claims_outlive_slacks_window_too():
    """Slack event claims share the table: their window is slack_sdk's, 5 minutes either way."""
    from slack_sdk.signature import SignatureVerifier
    verifier = SignatureVerifier("signing-secret")
    edge = int(time.time()) - int(SLACK_WINDOW.total_seconds())

    def valid(ts: int) -> bool:
        return verifier.is_valid("body", str(ts), verifier.generate_signature(
            timestamp=str(ts), body="body"))
    assert valid(edge + 5) and not valid(edge - 5)
    assert claim_retention(timedelta(seconds=30)) > 2 * SLACK_WINDOW


@pytest.mark.parametrize("fake", [DISTINCT_SECRET], indirect=True)
def test_no_secret_or_token_in_any_log(bot, fake, crypto, services, caplog):
    caplog.set_level("DEBUG")
    post_callback(bot.callback, crypto, text_xml("ZhangMin", "/帮助", "9301"))
    sent_markdown(fake)
    fake.expire_tokens()
    fake.fail("gettoken", DROP)  # the refresh finds WeCom unreachable
    post_callback(bot.callback, crypto, text_xml("ZhangMin", "/帮助", "9302"))
    fake.wait_for("gettoken", 2)
    post_callback(bot.callback, crypto, text_xml("ZhangMin", "/帮助", "9303"))
    sent_markdown(fake, 3)  # 9301, 9302 refused (42001), 9303 with a new token
    fake.expire_tokens()
    refuse_token_writes(services.engine)  # and now the database refuses the new token
    post_callback(bot.callback, crypto, text_xml("ZhangMin", "/帮助", "9304"))
    # The refresh (its token can't be stored), then the error reply's own send: the stored
    # token is the expired one (a refresh replaces it, it never deletes it first), so that
    # send is refused once more and refreshes again.
    fake.wait_for("gettoken", 6)
    time.sleep(0.3)
    assert fake.tokens_issued == 5
    log = caplog.text
    assert "gettoken?corpid=" in log and "access_token=***" in log  # urllib3's request lines
    assert "ConnectionError" in log and "token writes refused" in log
    for token in fake.valid_tokens | {f"TOKEN-{n}" for n in range(1, 5)}:
        assert token not in log
    assert not {piece for piece in secret_pieces(DISTINCT_SECRET, 6) if piece in log}
