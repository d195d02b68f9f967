"""Sending to Slack for the scheduler: DMs and PNG uploads, rate limits and failures."""
from __future__ import annotations

import pytest

from bot.settings import Settings
from bot.slack.app import web_client
from bot.slack.sender import SlackSender
from tests.slack_support import TOKEN

MESSAGE = {"text": "Your weekly digest", "blocks": [
    {"type": "section", "text": {"type": "mrkdwn", "text": "Your weekly digest"}}]}


@pytest.fixture
def fake(slack):
    return slack


@pytest.fixture
def sender(fake):
    slept = []
    client = web_client(Settings(database_url="sqlite://", slack_bot_token=TOKEN,
                                 slack_api_url=fake.api_url))
    s = SlackSender(client, sleep=slept.append)
    s.slept = slept
    return s


def test_dm_opens_the_conversation_once_and_posts(sender, fake):
    first = sender.dm("U0TOMBK01", MESSAGE)
    second = sender.dm("U0TOMBK01", MESSAGE)
    assert first.ok and second.ok and first.ref != second.ref
    assert [c.args["users"] for c in fake.of("conversations.open")] == ["U0TOMBK01"]
    posts = fake.of("chat.postMessage")
    assert [p.args["channel"] for p in posts] == ["D0TOMBK01", "D0TOMBK01"]
    assert posts[0].args["blocks"] == MESSAGE["blocks"]
    assert posts[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_png_upload_goes_through_the_external_upload_flow(sender, fake):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 500
    result = sender.upload_png("U0TOMBK01", png, filename="tiers.png", title="Tiers this week")
    assert result.ok and result.ref == "F0FILE01"
    assert fake.of("files.getUploadURLExternal")[0].args["length"] == str(len(png))
    assert fake.of("upload")[0].raw.endswith(png[-20:]) or png in fake.of("upload")[0].raw
    [complete] = fake.of("files.completeUploadExternal")
    assert complete.args["channel_id"] == "D0TOMBK01"


def test_429_is_retried_after_retry_after(sender, fake):
    fake.fail("chat.postMessage", status=429, retry_after=1)
    result = sender.dm("U0TOMBK01", MESSAGE)
    assert result.ok
    posts = fake.of("chat.postMessage")
    assert len(posts) == 2 and posts[1].at - posts[0].at >= 1.0


def test_persistent_429_becomes_a_retryable_failure(sender, fake):
    fake.fail("chat.postMessage", status=429, retry_after=0, times=10)
    result = sender.dm("U0TOMBK01", MESSAGE)
    assert (result.ok, result.retryable) == (False, True)
    assert len(fake.of("chat.postMessage")) == 4  # the first try and 3 retries, then give up


def test_ratelimited_in_a_200_answer_is_retried(sender, fake):
    fake.fail("chat.postMessage", status=200, error="ratelimited", retry_after=2)
    result = sender.dm("U0TOMBK01", MESSAGE)
    assert result.ok and sender.slept == [2]


def test_server_errors_are_retried_a_bounded_number_of_times(sender, fake):
    fake.fail("chat.postMessage", status=500, times=1)
    assert sender.dm("U0TOMBK01", MESSAGE).ok
    fake.fail("chat.postMessage", status=503, times=10)
    result = sender.dm("U0TOMBK01", MESSAGE)
    assert (result.ok, result.retryable, result.error) == (False, True, "http_503")
    assert len(fake.of("chat.postMessage")) == 2 + 3


def test_permanent_errors_are_not_retried(sender, fake):
    fake.fail("conversations.open", status=200, error="user_not_found")
    result = sender.dm("U0GONE", MESSAGE)
    assert (result.ok, result.retryable, result.error) == (False, False, "user_not_found")
    assert fake.of("chat.postMessage") == []


def test_unreachable_slack_is_a_retryable_failure():
    client = web_client(Settings(database_url="sqlite://", slack_bot_token=TOKEN,
                                 slack_api_url="http://127.0.0.1:9/api/"))
    result = SlackSender(client, sleep=lambda s: None).dm("U0TOMBK01", MESSAGE)
    assert (result.ok, result.retryable) == (False, True)
    assert result.error.startswith("connection")
