"""A local stand-in for Slack: the Web API (as slack-sdk calls it), response_url endpoints
and the file upload URL, on port 0, recording everything it receives.

It speaks the real wire format: form-encoded or JSON bodies, `Authorization: Bearer`,
`{"ok": false, "error": ...}` answers, HTTP 429 with `Retry-After`. Failures can be queued
per method (`fail("chat.postMessage", status=429, retry_after=1)`).
"""
from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

BOT_USER = "UBOT0001"
TEAM = "T0TIERBOT"


@dataclass
class Call:
    method: str            # "chat.postMessage", "response", "upload"
    path: str
    args: dict
    headers: dict
    at: float = field(default_factory=time.monotonic)
    raw: bytes = b""


class FakeSlack:
    def __init__(self, token: str = "xoxb-test-token", app_token: str = "xapp-test-token"):
        self.token, self.app_token = token, app_token
        self.socket_url: str | None = None  # where apps.connections.open sends Socket Mode
        self.calls: list[Call] = []
        self._failures: dict[str, list[tuple[int, str | None, int | None]]] = defaultdict(list)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._ts = 1_700_000_000
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, payload, headers = server._handle(self.path, dict(self.headers), raw)
                body = json.dumps(payload).encode() if isinstance(payload, dict) else payload
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json" if isinstance(payload, dict)
                                 else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.api_url = self.url + "/api/"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- test controls ---------------------------------------------------------------
    def fail(self, method: str, *, status: int = 200, error: str | None = None,
             retry_after: int | None = None, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with this failure."""
        with self._lock:
            self._failures[method].extend([(status, error, retry_after)] * times)

    def response_url(self, name: str) -> str:
        return f"{self.url}/response/{name}"

    def of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """Block until `count` calls of `method` arrived (the bot answers asynchronously)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self.calls if c.method == method]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"waited {timeout}s for {count} {method} call(s), got "
                                         f"{len(found)}; all calls: {[c.method for c in self.calls]}")
                self._cond.wait(left)

    # ---- the API ---------------------------------------------------------------------
    def _record(self, call: Call) -> None:
        with self._cond:
            self.calls.append(call)
            self._cond.notify_all()

    def _handle(self, path: str, headers: dict, raw: bytes):
        path = path.split("?", 1)[0]
        ctype = headers.get("Content-Type", "")
        if path.startswith("/response/"):
            self._record(Call("response", path, json.loads(raw or b"{}"), headers, raw=raw))
            return 200, b"ok", {}
        if path.startswith("/upload/"):
            self._record(Call("upload", path, {}, headers, raw=raw))
            return 200, f"OK - {len(raw)}".encode(), {}
        if not path.startswith("/api/"):
            return 404, b"not found", {}
        method = path[len("/api/"):]
        if ctype.startswith("application/json"):
            args = json.loads(raw or b"{}")
        elif ctype.startswith("multipart/"):
            args = {}
        else:
            args = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        self._record(Call(method, path, args, headers, raw=raw))
        with self._lock:
            failure = self._failures[method].pop(0) if self._failures[method] else None
        if failure:
            status, error, retry_after = failure
            extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            if status >= 500:
                return status, b"server error", extra
            return status, {"ok": False, "error": error or "ratelimited"}, extra
        if method == "apps.connections.open":
            if headers.get("Authorization") != f"Bearer {self.app_token}" or not self.socket_url:
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            return 200, {"ok": True, "url": self.socket_url}, {}
        if headers.get("Authorization") != f"Bearer {self.token}" and method != "api.test":
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        return 200, self._answer(method, args), {}

    def _next_ts(self) -> str:
        with self._lock:
            self._ts += 1
            return f"{self._ts}.000100"

    def _answer(self, method: str, args: dict) -> dict:
        if method == "auth.test":
            return {"ok": True, "url": "https://tierbot-test.slack.com/", "team": "Tierbot Test",
                    "user": "tierbot", "team_id": TEAM, "user_id": BOT_USER, "bot_id": "B0BOT001"}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(args.get("users", ""))[1:]}}
        if method == "chat.postMessage":
            return {"ok": True, "channel": args.get("channel"), "ts": self._next_ts(),
                    "message": {"text": args.get("text")}}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "views.open":
            return {"ok": True, "view": {"id": "V0MODAL01", **(json.loads(args["view"])
                                                               if isinstance(args.get("view"), str)
                                                               else args.get("view", {}))}}
        if method == "files.getUploadURLExternal":
            return {"ok": True, "upload_url": f"{self.url}/upload/F0FILE01", "file_id": "F0FILE01"}
        if method == "files.completeUploadExternal":
            files = args.get("files")
            files = json.loads(files) if isinstance(files, str) else files
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        return {"ok": False, "error": "unknown_method"}
