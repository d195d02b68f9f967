"""Sending to WeCom members for the scheduler: markdown, cards, images, limits, failures."""
from __future__ import annotations

import pytest

from bot.wecom.cards import account_card, task_id
from bot.wecom.client import DatabaseTokenStore, WeComClient
from bot.wecom.sender import WeComSender
from messages.channels import to_wecom
from tests.fakes.wecom import AGENT_ID, CORP_ID, DROP, SECRET, FakeWeCom


@pytest.fixture
def fake():
    server = FakeWeCom()
    yield server
    server.close()


class Clock:
    def __init__(self):
        self.now, self.slept = 1000.0, []

    def sleep(self, seconds):
        self.slept.append(round(seconds, 3))
        self.now += seconds

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def sender(engine, fake, clock):
    client = WeComClient(CORP_ID, SECRET, agent_id=AGENT_ID, api_url=fake.api_url,
                         store=DatabaseTokenStore(engine))
    return WeComSender(client, AGENT_ID, sleep=clock.sleep, clock=clock)


def test_busy_and_frequency_limit_back_off_and_retry(sender, fake, clock):
    fake.fail("message/send", 45009)
    fake.fail("message/send", -1)
    result = sender.markdown("ZhangMin", "你好")
    assert result.ok and result.ref
    assert len(fake.of("message/send")) == 3 and clock.slept == [1.0, 2.0]


def test_persistent_failures_become_typed_results(sender, fake):
    fake.fail("message/send", 45009, times=5)
    result = sender.markdown("ZhangMin", "你好")
    assert (result.ok, result.retryable) == (False, True) and result.error.startswith("45009")
    assert len(fake.of("message/send")) == 3  # bounded: three tries
    fake.fail("message/send", 40003)  # invalid user id: not worth retrying
    result = sender.markdown("Nobody", "你好")
    assert (result.ok, result.retryable) == (False, False) and result.error.startswith("40003")


def test_token_refresh_is_bounded(sender, fake):
    fake.fail("message/send", 42001, times=10)
    result = sender.markdown("ZhangMin", "你好")
    assert (result.ok, result.retryable) == (False, True)
    assert len(fake.of("message/send")) == 3 and len(fake.of("gettoken")) == 3


def test_an_unreachable_token_refresh_is_a_failed_send_that_names_no_secret(sender, fake,
                                                                          caplog):
    caplog.set_level("DEBUG")
    assert sender.markdown("ZhangMin", "你好").ok
    fake.expire_tokens()
    fake.fail("gettoken", DROP)  # WeCom hangs up on the refresh
    result = sender.markdown("ZhangMin", "你好")
    assert (result.ok, result.retryable) == (False, True)
    assert result.error == "gettoken: ConnectionError"
    assert len(fake.of("gettoken")) == 2 and len(fake.of("message/send")) == 2
    assert "wecom gettoken failed: ConnectionError" in caplog.text
    assert "gettoken?corpid=" in caplog.text  # urllib3's request line, with the secret masked
    assert SECRET not in caplog.text and "TOKEN-1" not in caplog.text
    assert sender.markdown("ZhangMin", "你好").ok  # the next send fetches a token again


def test_long_chinese_markdown_stays_within_2048_bytes(sender, fake):
    text = "\n".join(f"{i}. 上海华锐精密制造有限公司 · 逾期{i}天 · 最近联系 2026年11月{i % 28 + 1}日"
                     for i in range(1, 200))
    sender.markdown("ZhangMin", to_wecom(text, "zh"))
    [call] = fake.of("message/send")
    content = call.body["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 2048
    assert content.endswith("行") and "……还有" in content.splitlines()[-1]
    # Even unframed text is cut to the limit on a character boundary, never mid-character.
    sender.markdown("ZhangMin", "客" * 3000)
    raw = fake.of("message/send")[1].body["markdown"]["content"]
    assert len(raw.encode("utf-8")) <= 2048 and set(raw) == {"客"}


def test_card_with_buttons(sender, fake):
    card = account_card(key="CN-0001", name="上海华锐精密制造有限公司", title="拜访提醒",
                        description="已逾期 12 天", facts=[("分层", "重点级"), ("上次联系", "10月3日")],
                        locale="zh", task=task_id("reminder", "ZhangMin", "2026-11-23", "CN-0001"))
    assert sender.card("ZhangMin", card).ok
    [call] = fake.of("message/send")
    sent = call.body["template_card"]
    assert call.body["msgtype"] == "template_card"
    assert [b["text"] for b in sent["button_list"]] == ["已拜访", "延后7天", "查看详情"]
    assert [b["key"] for b in sent["button_list"]] == ["done:CN-0001", "snooze:CN-0001",
                                                       "tier:CN-0001"]
    assert sent["task_id"] == "reminder-ZhangMin-2026-11-23-CN-0001"


def test_image_is_uploaded_then_sent(sender, fake):
    png = b"\x89PNG\r\n\x1a\n" + bytes(300)
    assert sender.image("ZhangMin", png, "tiers.png").ok
    [upload] = fake.of("media/upload")
    assert upload.params["type"] == "image" and png in upload.raw
    [call] = fake.of("message/send")
    assert call.body["msgtype"] == "image" and call.body["image"] == {"media_id": "MEDIA-1"}


def test_sends_to_one_member_are_spaced_to_30_a_minute(sender, fake, clock):
    for i in range(31):
        assert sender.markdown("ZhangMin", f"第{i}条").ok
    assert clock.slept == [60.0]  # the 31st waited for the first to leave the minute
    assert sender.markdown("WangLei", "另一位成员").ok and clock.slept == [60.0]
