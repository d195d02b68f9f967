"""`tierbot serve` as an admin runs it: a real process, its port, /healthz, Slack traffic."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.slack_support import SECRET, TOKEN, signed_request_head, slash, slash_body

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


def test_sigterm_finishes_the_request_in_progress_and_refuses_new_connections(
        db_url, tmp_path, fake, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = _prepared_env(db_url, tmp_path)
    env.update(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=fake.api_url)
    proc, url = _start(env, tmp_path)
    address = (urlsplit(url).hostname, urlsplit(url).port)
    body = slash_body("/tier", "ACME", user="U0TOMBK01", response_url=fake.response_url("drain"))
    try:
        with socket.create_connection(address, timeout=10) as sock:
            sock.sendall(signed_request_head(address[1], body, extra="Expect: 100-continue\r\n"))
            # "100 Continue": the request is in progress, the server waits for its body.
            assert sock.recv(100).startswith(b"HTTP/1.1 100 ")
            proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while True:  # the listening socket closes: new connections are refused
                try:
                    socket.create_connection(address, timeout=1).close()
                except ConnectionRefusedError:
                    break
                assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
                time.sleep(0.05)
            sock.sendall(body.encode())
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
    finally:
        out, errors = proc.communicate(timeout=30)
    assert answer.startswith(b"HTTP/1.1 200 "), (answer, errors)
    assert proc.returncode == 0, errors
    assert "tierbot stopped." in out
    # The acknowledged command's work finished before the process ended.
    [call] = fake.of("response")
    assert "ACME Corp" in call.args["text"]


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


def test_serve_says_when_slack_cannot_be_reached(db_url, tmp_path, monkeypatch):
    """Not "cannot listen on the port": the port is fine, Slack is out of reach."""
    monkeypatch.chdir(tmp_path)
    env = _prepared_env(db_url, tmp_path)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    port = closed.getsockname()[1]
    try:
        result = CliRunner().invoke(app, ["serve", "--port", "0"], env={
            **env, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": f"http://127.0.0.1:{port}/api/"})
    finally:
        closed.close()
    assert result.exit_code == 2
    assert "Slack could not be reached" in result.output and "cannot listen" not in result.output
    assert TOKEN not in result.output and "Traceback" not in result.output


def test_serve_refuses_half_a_wecom_configuration(db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = _prepared_env(db_url, tmp_path)
    result = CliRunner().invoke(app, ["serve", "--port", "0"], env={
        **env, "WECOM_CORP_ID": "ww0123", "WECOM_AGENT_ID": "1000002", "WECOM_SECRET": "s3cret"})
    assert result.exit_code == 2
    assert "WECOM_TOKEN, WECOM_ENCODING_AES_KEY" in result.output
    assert "s3cret" not in result.output


@pytest.mark.parametrize("key, problem", [
    ("k" * 40, "the one set has 40 characters"),
    ("k" * 43 + "=", "the one set has 44 characters"),          # pasted with base64 padding
    ("k" * 40 + "-_!", "characters other than letters and digits"),  # not base64
])
def test_serve_names_a_bad_wecom_encoding_aes_key(db_url, tmp_path, monkeypatch, key, problem):
    """One message naming the variable and what it must be; exit 2; no traceback; the key
    (a secret) never printed. As an admin meets it: a real `tierbot serve` process."""
    monkeypatch.chdir(tmp_path)
    env = {"TIERBOT_DATABASE_URL": db_url}
    assert CliRunner().invoke(app, ["init"], env=env).exit_code == 0
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "WECOM_", "TIERBOT_"))}
    full.update(env, PYTHONPATH=str(ROOT), WECOM_CORP_ID="ww0123", WECOM_AGENT_ID="1000002",
                WECOM_SECRET="s3cret", WECOM_TOKEN="t0ken", WECOM_ENCODING_AES_KEY=key)
    done = subprocess.run([sys.executable, "-m", "bot.cli", "serve", "--port", "0",
                           "--no-scheduler"], cwd=tmp_path, env=full, capture_output=True,
                          text=True, timeout=60)
    said = done.stdout + done.stderr
    assert done.returncode == 2, said
    assert "Cannot start: WECOM_ENCODING_AES_KEY must be the 43-character EncodingAESKey from " \
           "the WeCom admin console" in said
    assert problem in said
    assert "Traceback" not in said and "listening on" not in said
    assert key not in said and "s3cret" not in said and "t0ken" not in said


@pytest.mark.parametrize("level, chatty", [(None, False), ("debug", True)])
def test_the_schedulers_own_workings_are_logged_only_when_asked(db_url, tmp_path, monkeypatch,
                                                                 level, chatty):
    """APScheduler's "Added job", "Running job" (every 15 s) and Alembic's "Context impl" are
    noise in `serve`'s log unless TIERBOT_LOG_LEVEL=DEBUG; tierbot's own INFO stays."""
    monkeypatch.chdir(tmp_path)
    env = {"TIERBOT_DATABASE_URL": db_url}
    assert CliRunner().invoke(app, ["init"], env=env).exit_code == 0
    if level:
        env["TIERBOT_LOG_LEVEL"] = level
    proc, _ = _start(env, tmp_path)  # with its scheduler, which ticks once at start
    time.sleep(1.5)
    proc.terminate()
    out, errors = proc.communicate(timeout=30)
    assert proc.returncode == 0, errors
    assert "tierbot.scheduler: this instance now runs the scheduler" in errors
    assert ("apscheduler" in errors) is chatty and ("alembic" in errors) is chatty
    assert ("Running job" in errors) is chatty


def test_a_bad_log_level_is_named(db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["serve", "--port", "0"], env={
        "TIERBOT_DATABASE_URL": db_url, "TIERBOT_LOG_LEVEL": "loud"})
    assert result.exit_code == 2
    assert "Configuration error in TIERBOT_LOG_LEVEL" in result.output
