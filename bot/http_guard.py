"""What stands between a socket and a route: timeouts, size limits, concurrency, access log.

uvicorn parses HTTP with h11, which already refuses what a hand-written parser got wrong:
an invalid Content-Length (`-1`, `abc`) is a 400 that closes the connection (one fixed
warning line from uvicorn, no traceback), chunked bodies are decoded, and a body is always
framed by its length, so nothing inside a body is ever read as a request. On top of that:

- `protocol_with_header_timeout`: a connection must complete a request's headers within
  `header_timeout` seconds of opening (or of its previous response), or it is closed.
  uvicorn's keep-alive timeout is cancelled by the first byte a client sends, and it has no
  deadline for a request's headers at all, so a client dripping a header byte now and then
  (or never sending one) would otherwise hold its connection forever.
- `Guard`, an ASGI middleware: a cap on requests in progress (503 beyond it), the body
  read whole within `body_timeout` (408) and at most `max_body` bytes (413, refused by
  Content-Length before reading, by counting for chunked bodies); both refusals close the
  connection. It then hands the route the body it read, and writes one access-log line per
  request in which nothing the client sent can start a line of its own.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("tierbot.http")


@dataclass(frozen=True)
class HttpLimits:
    """The server's limits (seconds, bytes, counts); `from_settings` reads TIERBOT_HTTP_*."""

    header_timeout: float = 10.0
    body_timeout: float = 15.0
    keepalive_timeout: float = 5.0
    max_body: int = 1_000_000
    workers: int = 16
    max_requests: int = 1000
    drain_timeout: float = 20.0

    @classmethod
    def from_settings(cls, settings) -> "HttpLimits":
        return cls(header_timeout=settings.http_header_timeout,
                   body_timeout=settings.http_body_timeout,
                   keepalive_timeout=settings.http_keepalive_timeout,
                   max_body=settings.http_max_body, workers=settings.http_workers,
                   max_requests=settings.http_max_requests,
                   drain_timeout=settings.http_drain_timeout)


def protocol_with_header_timeout(seconds: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing connections whose request headers are not complete
    `seconds` after the connection opened or its previous response was sent. The deadline
    is not moved by data arriving (a slow drip of header bytes is still cut off)."""

    class HeaderTimeoutH11(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_timer()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:  # a request's headers are in
                self._cancel_header_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._arm_header_timer()  # kept alive: the next request has the same deadline

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

        def _arm_header_timer(self) -> None:
            self._cancel_header_timer()
            self._header_timer = self.loop.call_later(seconds, self._header_timeout)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timeout(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                log.debug("closed a connection that sent no complete request headers in %ss",
                          seconds)
                self.transport.close()

    return HeaderTimeoutH11


_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def printable(value: str | bytes, limit: int = 200) -> str:
    """A client-supplied string made safe for one log line: printable ASCII only (anything
    else, newlines included, becomes a \\xNN escape), at most `limit` characters."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    cut = value[:limit]
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", cut) + \
        ("..." if len(value) > limit else "")


class _Refused(Exception):
    def __init__(self, status: int, text: str):
        self.status, self.text = status, text


class Guard:
    """ASGI middleware applying `HttpLimits` to every HTTP request (see the module doc)."""

    def __init__(self, app, limits: HttpLimits):
        self.app = app
        self.limits = limits
        self.in_progress = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status: list[int] = []

        async def send_logged(message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        self.in_progress += 1
        try:
            if self.in_progress > self.limits.max_requests:
                await _refuse(send_logged, 503, "busy, try again")
            else:
                await self._serve(scope, receive, send_logged)
        finally:
            self.in_progress -= 1
            self._access_log(scope, status[0] if status else None, started)

    async def _serve(self, scope, receive, send) -> None:
        try:
            body = await self._read_body(scope, receive)
        except _Refused as refused:
            await _refuse(send, refused.status, refused.text)
            return
        if body is None:
            return  # the client went away mid-body: nobody to answer

        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # http.disconnect, once the response is done

        await self.app(scope, replay, send)

    async def _read_body(self, scope, receive) -> bytes | None:
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and int(declared) > self.limits.max_body:  # h11 checked digits
            raise _Refused(413, "request too large")
        chunks, size = [], 0
        try:
            async with asyncio.timeout(self.limits.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.limits.max_body:
                        raise _Refused(413, "request too large")
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            raise _Refused(408, "request body too slow") from None

    def _access_log(self, scope, status: int | None, started: float) -> None:
        client = scope.get("client")
        who = printable(f"{client[0]}:{client[1]}" if client else "-", 60)
        log.info('%s "%s %s" %s %.1f ms', who, printable(scope.get("method", ""), 10),
                 printable(scope.get("raw_path") or b""), status or "-",
                 (time.monotonic() - started) * 1000)


async def _refuse(send, status: int, text: str) -> None:
    """An error answer that closes the connection: whatever the client sent after the
    headers is never read, so none of it can be taken for another request."""
    body = text.encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
