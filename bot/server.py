"""The one HTTP server of `tierbot serve`: routes to the platform adapters, and /healthz.

A threading server from the standard library: each request on its own thread, so a slow
database call for one user never delays another user's acknowledgement. Adapters see a
plain `HttpRequest` and return an `HttpResponse`; nothing here knows about Slack or WeCom.
"""
from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs

log = logging.getLogger("tierbot.http")

MAX_BODY = 1_000_000  # Slack and WeCom payloads are a few KB; refuse anything absurd.


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


Route = Callable[[HttpRequest], HttpResponse]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # bursts of slash commands queue instead of being refused


class HttpServer:
    """Serve `routes` (exact path -> handler) on host:port; port 0 picks a free port."""

    def __init__(self, host: str, port: int, routes: dict[str, Route]):
        self.routes = dict(routes)
        handler = _handler_class(self.routes)
        self._server = _Server((host, port), handler)
        self._thread: threading.Thread | None = None
        self._serving = False

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host}:{self.port}"

    def start(self) -> "HttpServer":
        self._serving = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="tierbot-http",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._serving = True
        self._server.serve_forever()

    def stop(self) -> None:
        if self._serving:  # shutdown() waits for a loop that must have started
            self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)


def _handler_class(routes: dict[str, Route]):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "tierbot"

        def log_message(self, fmt, *args):  # requests are logged by the adapters, not here
            log.debug("%s " + fmt, self.address_string(), *args)

        def _handle(self) -> None:
            path, _, query = self.path.partition("?")
            route = routes.get(path)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(HttpResponse(413, "request too large"))
                return
            body = self.rfile.read(length) if length else b""
            if route is None:
                self._send(HttpResponse(404, "not found"))
                return
            request = HttpRequest(self.command, path, query,
                                  {k.lower(): v for k, v in self.headers.items()}, body)
            try:
                response = route(request)
            except Exception:
                ref = uuid.uuid4().hex[:8]
                log.exception("request to %s failed [ref %s]", path, ref)
                response = HttpResponse(500, f"internal error, ref {ref}")
            self._send(response)

        def _send(self, response: HttpResponse) -> None:
            body = response.body.encode("utf-8") if isinstance(response.body, str) else response.body
            self.send_response(response.status)
            headers = {"Content-Type": "text/plain; charset=utf-8", **response.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _handle

    return Handler
