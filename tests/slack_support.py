"""Helpers for Slack tests: signed requests to a running `tierbot serve`-style server."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test-token"
FORM = "application/x-www-form-urlencoded"


def slack_headers(body: str, content_type: str, *, secret: str = SECRET,
                  timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with `body`: X-Slack-Signature over v0:timestamp:body."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature}


def slash_body(command: str, text: str, *, user: str, response_url: str,
               trigger: str = "13345224609.738474920.8088930838d88f008e0") -> str:
    return urlencode({"token": "legacy", "team_id": "T0TIERBOT", "team_domain": "tierbot",
                      "channel_id": "C0SALES01", "channel_name": "sales", "user_id": user,
                      "user_name": user.lower(), "command": command, "text": text,
                      "api_app_id": "A0TIERBOT", "response_url": response_url,
                      "trigger_id": trigger})


def signed_request_head(port: int, body: str, *, extra: str = "") -> bytes:
    """The request line and headers of a signed form POST to /slack/events, for tests
    that write to a socket themselves (the body is not included)."""
    lines = ["POST /slack/events HTTP/1.1", f"Host: 127.0.0.1:{port}",
             f"Content-Length: {len(body.encode())}",
             *(f"{k}: {v}" for k, v in slack_headers(body, FORM).items())]
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def signed_post(url: str, body: str, content_type: str, *, secret: str = SECRET,
                timestamp: int | None = None, headers: dict | None = None):
    """POST as Slack does: X-Slack-Signature over v0:timestamp:body. -> (status, body)."""
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        **slack_headers(body, content_type, secret=secret, timestamp=timestamp),
        **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def slash(url: str, command: str, text: str, *, user: str, response_url: str,
          trigger: str = "13345224609.738474920.8088930838d88f008e0", **kw):
    body = slash_body(command, text, user=user, response_url=response_url, trigger=trigger)
    return signed_post(url, body, "application/x-www-form-urlencoded", **kw)


def interactive(url: str, payload: dict, **kw):
    body = urlencode({"payload": json.dumps(payload)})
    return signed_post(url, body, "application/x-www-form-urlencoded", **kw)


def event(url: str, event: dict, *, event_id: str, retry: int | None = None, **kw):
    body = json.dumps({"token": "legacy", "team_id": "T0TIERBOT", "api_app_id": "A0TIERBOT",
                       "type": "event_callback", "event_id": event_id,
                       "event_time": int(time.time()), "event": event})
    headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} \
        if retry else {}
    return signed_post(url, body, "application/json", headers=headers, **kw)
