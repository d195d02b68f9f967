"""`tierbot serve` as an admin runs it: a real process, its port, /healthz, Slack traffic."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.slack_support import SECRET, TOKEN, slash

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake(slack):
    return slack


def _prepared_env(db_url, tmp_path, **extra):
    env = {"TIERBOT_DATABASE_URL": db_url, **extra}
    runner = CliRunner()
    for args in (["init"], ["demo", "--reset", "--accounts", "60"], ["score"]):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
    return env


def _start(env, tmp_path):
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "WECOM_", "TIERBOT_"))}
    full.update(env, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", "0"],
                            cwd=tmp_path, env=full, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise AssertionError(f"serve did not start: {line!r} {proc.stderr.read()}")
    return proc, line.split("listening on ", 1)[1].split()[0]


def test_serve_answers_slack_and_health(db_url, tmp_path, fake, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = _prepared_env(db_url, tmp_path)
    env.update(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=fake.api_url)
    proc, url = _start(env, tmp_path)
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=5) as response:
            assert json.loads(response.read()) == {"ok": True, "database": "ok",
                                                   "slack": "http", "wecom": "off"}
        status, _ = slash(url + "/slack/events", "/tier", "ACME", user="U0TOMBK01",
                          response_url=fake.response_url("serve"))
        assert status == 200
        [call] = fake.wait_for("response")
        assert "ACME Corp" in call.args["text"]
        assert fake.of("auth.test"), "the bot checks its token at start"
    finally:
        proc.terminate()
        out, errors = proc.communicate(timeout=10)
    assert proc.returncode == 0, errors
    assert "tierbot stopped." in out
    assert TOKEN not in out + errors and SECRET not in out + errors


def test_serve_refuses_half_a_slack_configuration(db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = _prepared_env(db_url, tmp_path)
    result = CliRunner().invoke(app, ["serve", "--port", "0"],
                                env={**env, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": ""})
    assert result.exit_code == 2
    assert "SLACK_SIGNING_SECRET" in result.output


def test_serve_explains_a_rejected_token(db_url, tmp_path, fake, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = _prepared_env(db_url, tmp_path)
    result = CliRunner().invoke(app, ["serve", "--port", "0"], env={
        **env, "SLACK_BOT_TOKEN": "xoxb-wrong", "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url})
    assert result.exit_code == 2
    assert "SLACK_BOT_TOKEN" in result.output and "xoxb-wrong" not in result.output


def test_serve_refuses_half_a_wecom_configuration(db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = _prepared_env(db_url, tmp_path)
    result = CliRunner().invoke(app, ["serve", "--port", "0"], env={
        **env, "WECOM_CORP_ID": "ww0123", "WECOM_AGENT_ID": "1000002", "WECOM_SECRET": "s3cret"})
    assert result.exit_code == 2
    assert "WECOM_TOKEN, WECOM_ENCODING_AES_KEY" in result.output
    assert "s3cret" not in result.output
