"""The WeCom adapter end to end: real encrypted callbacks to a real HTTP server, replies
through a fake WeCom API."""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from wechatpy.enterprise.crypto import WeChatCrypto

from bot.server import HttpServer
from bot.settings import Settings
from bot.wecom.app import WeComAdapter
from storage.models import Account, Interaction, PlatformToken, ReminderSnooze
from tests.fakes.wecom import (AGENT_ID, CORP_ID, SECRET, FakeWeCom, card_event_xml,
                               get_verification, new_aes_key, post_callback, text_xml)

TOKEN = "wecomCallbackToken"


@pytest.fixture
def fake():
    server = FakeWeCom()
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
                    wecom_secret=SECRET, wecom_token=TOKEN, wecom_encoding_aes_key=aes_key,
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
