"""tierbot digest and tierbot deliveries as an admin uses them."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.slack_support import TOKEN

runner = CliRunner()


@pytest.fixture
def env(db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"TIERBOT_DATABASE_URL": db_url}
    for args in (["init"], ["demo", "--reset", "--accounts", "60"], ["score"]):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
    return env


def test_preview(env):
    result = runner.invoke(app, ["digest", "--preview", "--rep", "rep.tom"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Weekly digest for Tom Baker (your accounts)")
    zh = runner.invoke(app, ["digest", "--preview", "--rep", "rep.zhang", "--locale", "zh"], env=env)
    assert "周报" in zh.output.splitlines()[0]


def test_digest_needs_one_mode_and_a_platform_to_send(env):
    result = runner.invoke(app, ["digest"], env=env)
    assert result.exit_code == 2 and "--preview" in result.output and "--send-now" in result.output
    result = runner.invoke(app, ["digest", "--send-now"], env=env)
    assert result.exit_code == 2 and "SLACK_BOT_TOKEN" in result.output


def test_send_now_respects_the_ledger_and_deliveries_shows_it(env, slack):
    env = {**env, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": "x",
           "SLACK_API_URL": slack.api_url}
    first = runner.invoke(app, ["digest", "--send-now", "--rep", "rep.tom"], env=env)
    assert first.exit_code == 0, first.output
    assert first.output.strip() == "digests: 1 sent"
    again = runner.invoke(app, ["digest", "--send-now", "--rep", "rep.tom"], env=env)
    assert again.output.strip() == "digests: 1 already"
    assert len(slack.of("chat.postMessage")) == 1
    slack.fail("chat.postMessage", status=200, error="channel_not_found", times=10)
    failed = runner.invoke(app, ["digest", "--send-now", "--rep", "mgr.sarah"], env=env)
    assert failed.exit_code == 1 and "1 failed" in failed.output
    listing = runner.invoke(app, ["deliveries"], env=env)
    assert "rep.tom" in listing.output and "sent" in listing.output
    only_failed = runner.invoke(app, ["deliveries", "--failed"], env=env)
    assert "mgr.sarah" in only_failed.output and "channel_not_found" in only_failed.output
    assert "rep.tom" not in only_failed.output
    unknown = runner.invoke(app, ["digest", "--send-now", "--rep", "nobody"], env=env)
    assert unknown.exit_code == 1 and "no rep with the key 'nobody'" in unknown.output
