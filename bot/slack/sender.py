"""Pushing to a Slack user (for the scheduler): a DM, and a PNG in that DM.

The WebClient retries 429 (honouring Retry-After), 5xx and connection errors a bounded
number of times; what is left becomes a `SendResult` the caller records. Slack's
`ratelimited` error in a 200 answer is retried here the same way.
"""
from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.delivery import SendResult

log = logging.getLogger("tierbot.slack.send")

# Errors that will not go away by trying again.
PERMANENT = {"channel_not_found", "user_not_found", "not_in_channel", "account_inactive",
             "is_archived", "invalid_auth", "not_authed", "token_revoked", "missing_scope",
             "cannot_dm_bot", "user_disabled", "invalid_blocks", "msg_too_long", "no_text"}


class SlackSender:
    def __init__(self, client: WebClient, *, ratelimited_tries: int = 3,
                 sleep=time.sleep):
        self.client = client
        self._channels: dict[str, str] = {}
        self._lock = threading.Lock()
        self._tries = ratelimited_tries
        self._sleep = sleep

    def dm(self, user_id: str, message: dict) -> SendResult:
        """Post `message` ({"text", "blocks"}) in the user's DM with the bot."""
        def post():
            channel = self._dm_channel(user_id)
            response = self.client.chat_postMessage(channel=channel, text=message["text"],
                                                    blocks=message.get("blocks"))
            return response.get("ts")
        return self._send(post, f"DM to {user_id}")

    def upload_png(self, user_id: str, png: bytes, *, filename: str, title: str,
                   comment: str | None = None) -> SendResult:
        """Share a PNG in the user's DM (files.getUploadURLExternal, upload, complete)."""
        def upload():
            channel = self._dm_channel(user_id)
            response = self.client.files_upload_v2(channel=channel, content=png,
                                                   filename=filename, title=title,
                                                   initial_comment=comment)
            files = response.get("files") or [response.get("file") or {}]
            return files[0].get("id")
        return self._send(upload, f"file to {user_id}")

    def _dm_channel(self, user_id: str) -> str:
        with self._lock:
            if user_id in self._channels:
                return self._channels[user_id]
        channel = self.client.conversations_open(users=user_id)["channel"]["id"]
        with self._lock:
            self._channels[user_id] = channel
        return channel

    def _send(self, action, what: str) -> SendResult:
        for attempt in range(1, self._tries + 1):
            try:
                return SendResult.sent(action())
            except SlackApiError as exc:
                status = exc.response.status_code
                data = exc.response.data if isinstance(exc.response.data, dict) else {}
                error = data.get("error") if status < 500 else None
                error = error or f"http_{status}"
                if error == "ratelimited" and status != 429 and attempt < self._tries:
                    self._sleep(min(_retry_after(exc.response.headers), 30))
                    continue
                retryable = error not in PERMANENT and (status == 429 or status >= 500
                                                        or error == "ratelimited")
                log.warning("slack %s failed: %s", what, error)
                return SendResult.failed(error, retryable=retryable)
            except (SlackClientError, OSError) as exc:
                log.warning("slack %s failed: %s", what, type(exc).__name__)
                return SendResult.failed(f"connection: {type(exc).__name__}", retryable=True)
        return SendResult.failed("ratelimited", retryable=True)  # pragma: no cover


def _retry_after(headers) -> int:
    """Seconds from a Retry-After header (1 when absent or unreadable)."""
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            value = value[0] if isinstance(value, (list, tuple)) else value
            try:
                return max(int(value), 0)
            except (TypeError, ValueError):
                return 1
    return 1
