"""The one HTTP server of `tierbot serve`: Starlette under uvicorn, with the limits of
`bot.http_guard` in front of every route.

Routes are either plain functions `HttpRequest -> HttpResponse` (WeCom, /healthz), which
know nothing of any web framework and run on the server's bounded worker threads, or
Starlette endpoints (Slack, through bolt's own Starlette adapter). Blocking work never runs
on the event loop: the loop only moves bytes, so one slow database call delays nobody
else's acknowledgement, and thousands of idle or stalled connections cost a few KB each
instead of a thread each.
"""
from __future__ import annotations

import inspect
import json
import logging
import resource
import socket
import threading
import uuid
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Union
from urllib.parse import parse_qs

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute

from bot.http_guard import Guard, HttpLimits, protocol_with_header_timeout

log = logging.getLogger("tierbot.http")


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]      # lower-case names
    body: bytes

    def query_params(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.query, keep_blank_values=True).items()}


@dataclass
class HttpResponse:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data, status: int = 200) -> "HttpResponse":
        return cls(status, json.dumps(data, ensure_ascii=False),
                   {"Content-Type": "application/json; charset=utf-8"})


PlainRoute = Callable[[HttpRequest], HttpResponse]
Endpoint = Callable[[Request], Awaitable[Response]]
Route = Union[PlainRoute, Endpoint]


async def run_blocking(request: Request, fn, *args):
    """Run `fn(*args)` on the server's worker threads: at most `HttpLimits.workers` at once,
    the rest wait their turn without holding the event loop."""
    return await anyio.to_thread.run_sync(fn, *args, limiter=request.app.state.workers)


def build_app(routes: dict[str, Route], limits: HttpLimits):
    """The ASGI application: `routes` (exact path -> route) behind the `Guard`."""
    # Every route sees GET and POST and answers each as it should (405 for one it takes not).
    app = Starlette(routes=[StarletteRoute(path, _endpoint(path, route), methods=["GET", "POST"])
                            for path, route in routes.items()])
    app.state.workers = anyio.CapacityLimiter(limits.workers)
    return Guard(app, limits)


def _endpoint(path: str, route: Route) -> Endpoint:
    if inspect.iscoroutinefunction(route):
        async def call(request: Request) -> Response:
            return await route(request)
    else:
        async def call(request: Request) -> Response:
            plain = HttpRequest(request.method, path, request.url.query,
                                dict(request.headers), await request.body())
            return _to_starlette(await run_blocking(request, route, plain))

    async def endpoint(request: Request) -> Response:
        try:
            return await call(request)
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log.exception("request to %s failed [ref %s]", path, ref)
            return Response(f"internal error, ref {ref}", 500, media_type="text/plain")

    return endpoint


def _to_starlette(response: HttpResponse) -> Response:
    headers = {"Content-Type": "text/plain; charset=utf-8", **response.headers}
    return Response(response.body, response.status, headers=headers)


class HttpServer:
    """Serve `routes` on host:port (0 picks a free port; the socket is bound at once)."""

    def __init__(self, host: str, port: int, routes: dict[str, Route],
                 limits: HttpLimits | None = None):
        self.routes = dict(routes)
        self.limits = limits or HttpLimits()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.create_server((host, port), family=family, backlog=2048)
        config = uvicorn.Config(
            build_app(self.routes, self.limits),
            http=protocol_with_header_timeout(self.limits.header_timeout),
            timeout_keep_alive=self.limits.keepalive_timeout,
            timeout_graceful_shutdown=self.limits.drain_timeout,
            # uvicorn's limit_concurrency counts idle connections too (a few thousand
            # stalled sockets would turn every real request into a 503), so requests in
            # progress are capped by the Guard and blocking work by the worker limiter.
            limit_concurrency=None, backlog=2048, loop="asyncio", ws="none", lifespan="off",
            # Logging is the CLI's (one format); uvicorn's access log would print the
            # URL-decoded path, where %0A is a newline, so the Guard writes its own.
            log_config=None, access_log=False, server_header=False)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        # Waits are on this event, not Thread.join: a join interrupted by a signal (SIGTERM
        # -> KeyboardInterrupt) marks a running thread as finished on Python 3.11.
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        return self._socket.getsockname()[1]

    @property
    def url(self) -> str:
        host = self._socket.getsockname()[0]
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def start(self) -> "HttpServer":
        """Serve on a thread of its own; returns once connections are accepted."""
        def run() -> None:
            try:
                self._server.run([self._socket])
            finally:
                self._stopped.set()

        self._thread = threading.Thread(target=run, name="tierbot-http", daemon=True)
        self._thread.start()
        while not self._server.started:
            if self._stopped.wait(0.01):
                raise RuntimeError("the HTTP server stopped while starting (see the log)")
        return self

    def wait(self) -> None:
        """Block until the server has stopped (a signal's KeyboardInterrupt ends the wait)."""
        if self._thread is not None:
            self._stopped.wait()

    def stop(self) -> None:
        """Drain: stop accepting, close idle connections, let requests in progress finish
        (at most `drain_timeout` seconds), then return."""
        if self._thread is None:
            self._socket.close()
            return
        self._server.should_exit = True
        self._stopped.wait(self.limits.drain_timeout + 5)


def raise_open_files_limit() -> tuple[int, int]:
    """Raise this process's soft limit on open files to the hard limit, so thousands of
    idle client sockets don't exhaust file descriptors. -> (before, after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):  # e.g. macOS caps below an "infinite" hard limit
        return soft, soft
    return soft, target
