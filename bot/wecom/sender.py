"""Sending to a WeCom member: markdown, template cards and images, with typed results.

Bounded retries: an expired or invalid token (40014, 42001) is refreshed and the call
retried once per try; WeCom's frequency limit (45009) and "system busy" (-1) back off and
retry; anything else is a failure the caller records. Sends to one member are spaced so
no member gets more than 30 messages a minute (WeCom's per-member limit).
"""
from __future__ import annotations

import io
import logging
import threading
import time
from collections import defaultdict, deque

import requests
from wechatpy.exceptions import WeChatClientException

from bot.delivery import SendResult
from bot.wecom.client import WeComClient
from messages.channels import WECOM_MAX_BYTES

log = logging.getLogger("tierbot.wecom.send")

TOKEN_ERRORS = {40014, 42001, 40001}
BUSY_ERRORS = {45009, -1}
PER_MEMBER_PER_MINUTE = 30


class WeComSender:
    def __init__(self, client: WeComClient, agent_id: int, *, attempts: int = 3,
                 backoff: float = 1.0, sleep=time.sleep, clock=time.monotonic):
        self.client, self.agent_id = client, agent_id
        self.attempts, self.backoff = attempts, backoff
        self._sleep, self._clock = sleep, clock
        self._sent: dict[str, deque] = defaultdict(deque)
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)

    def markdown(self, user_id: str, content: str) -> SendResult:
        data = content.encode("utf-8")
        if len(data) > WECOM_MAX_BYTES:  # callers frame text with to_wecom; never send more
            content = data[:WECOM_MAX_BYTES].decode("utf-8", "ignore")
        return self._send(user_id, {"msgtype": "markdown", "markdown": {"content": content}})

    def card(self, user_id: str, card: dict) -> SendResult:
        return self._send(user_id, {"msgtype": "template_card", "template_card": card})

    def image(self, user_id: str, png: bytes, filename: str = "chart.png") -> SendResult:
        def upload():
            media = io.BytesIO(png)
            media.name = filename
            return self.client.media.upload("image", media)["media_id"]
        media_id = self._call(upload, f"image upload for {user_id}")
        if not isinstance(media_id, str):
            return media_id
        return self._send(user_id, {"msgtype": "image", "image": {"media_id": media_id}})

    def _send(self, user_id: str, msg: dict) -> SendResult:
        with self._locks[user_id]:
            self._space(user_id)
            result = self._call(lambda: self.client.message.send(self.agent_id, user_id, msg=msg),
                                f"{msg['msgtype']} to {user_id}")
        if isinstance(result, SendResult):
            return result
        invalid = result.get("invaliduser")
        if invalid:
            return SendResult.failed(f"invaliduser: {invalid}", retryable=False)
        return SendResult.sent(result.get("msgid"))

    def _space(self, user_id: str) -> None:
        """Wait so that this member gets at most 30 messages in any 60 seconds."""
        sent = self._sent[user_id]
        now = self._clock()
        while sent and now - sent[0] >= 60:
            sent.popleft()
        if len(sent) >= PER_MEMBER_PER_MINUTE:
            self._sleep(60 - (now - sent[0]))
            sent.popleft()
        sent.append(self._clock())

    def _call(self, action, what: str):
        """The action's result, or a SendResult describing why it failed."""
        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            try:
                return action()
            except WeChatClientException as exc:
                code = exc.errcode
                if code in TOKEN_ERRORS and not last:
                    log.info("wecom token rejected (%s), fetching a new one", code)
                    try:
                        self.client.refresh_token()
                    except WeChatClientException as fetch:
                        return SendResult.failed(f"gettoken: {fetch.errcode} {fetch.errmsg}",
                                                 retryable=True)
                    except requests.RequestException as fetch:
                        log.warning("wecom gettoken failed: %s", type(fetch).__name__)
                        return SendResult.failed(f"gettoken: {type(fetch).__name__}",
                                                 retryable=True)
                    continue
                if code in BUSY_ERRORS and not last:
                    self._sleep(self.backoff * 2 ** (attempt - 1))
                    continue
                log.warning("wecom %s failed: %s %s", what, code, exc.errmsg)
                return SendResult.failed(f"{code}: {exc.errmsg}",
                                         retryable=code in TOKEN_ERRORS | BUSY_ERRORS or code is None)
            except requests.RequestException as exc:
                if not last:
                    self._sleep(self.backoff * 2 ** (attempt - 1))
                    continue
                log.warning("wecom %s failed: %s", what, type(exc).__name__)
                return SendResult.failed(f"connection: {type(exc).__name__}", retryable=True)
        return SendResult.failed("gave up", retryable=True)  # pragma: no cover
