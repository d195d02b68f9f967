"""The HTTP edge of `tierbot serve` against misbehaving clients, over real sockets.

The server is the one `bot.serve.build` composes (Slack route with a fake Slack, /healthz),
with its limits made small through Settings so that timeouts pass quickly.
"""
from __future__ import annotations

import http.client
import json
import logging
import resource
import socket
import threading
import time
import urllib.request

import pytest

from bot.serve import build
from bot.server import raise_open_files_limit
from bot.settings import Settings
from tests.slack_support import (FORM, SECRET, TOKEN, signed_request_head, slack_headers, slash,
                                 slash_body)


@pytest.fixture
def fake(slack):
    return slack


@pytest.fixture
def serve(services, fake):
    """serve(**limits) -> a started server; limits are Settings' http_* fields."""
    running = []

    def start(**limits):
        settings = Settings(database_url="sqlite://", slack_bot_token=TOKEN,
                            slack_signing_secret=SECRET, slack_api_url=fake.api_url,
                            **{f"http_{name}": value for name, value in limits.items()})
        one = build(services, settings, port=0)
        running.append(one)
        return one.server.start()

    yield start
    for one in running:
        one.stop()


def connect(server, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def read_to_eof(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection; a server that never
    closes it makes this raise socket.timeout."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
    return b"".join(chunks)


def exchange(server, data: bytes) -> bytes:
    with connect(server) as sock:
        sock.sendall(data)
        return read_to_eof(sock)


def health(server) -> int:
    with urllib.request.urlopen(server.url + "/healthz", timeout=10) as response:
        assert json.loads(response.read())["database"] == "ok"
        return response.status


def statuses(raw: bytes) -> list[bytes]:
    return [line.split(b" ")[1] for line in raw.split(b"\r\n") if line.startswith(b"HTTP/1.")]


def test_slow_clients_are_cut_off_after_the_header_timeout_while_others_are_served(
        serve, fake):
    server = serve(header_timeout=1.5)
    silent = connect(server)                             # connects, sends nothing
    partial = connect(server)                            # half a request, then waits
    partial.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: text/pl")
    drip = connect(server)                               # a header line now and then
    drip.sendall(b"GET /healthz HTTP/1.1\r\n")
    stop = threading.Event()

    def dripping():
        while not stop.is_set():
            try:
                drip.sendall(b"X-Slow: 1\r\n")
            except OSError:
                return
            stop.wait(0.1)

    threading.Thread(target=dripping, daemon=True).start()
    try:
        # Meanwhile everyone else is answered.
        assert health(server) == 200
        status, _ = slash(server.url + "/slack/events", "/tier", "ACME", user="U0TOMBK01",
                          response_url=fake.response_url("meanwhile"))
        assert status == 200
        assert "ACME Corp" in fake.wait_for("response")[0].args["text"]
        # ... and the slow ones are closed without an answer.
        for sock in (silent, partial, drip):
            assert read_to_eof(sock) == b""
    finally:
        stop.set()
        for sock in (silent, partial, drip):
            sock.close()
    assert health(server) == 200


def test_a_kept_alive_connection_serves_one_request_after_another(serve):
    server = serve(header_timeout=1.5)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for _ in range(3):
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        assert (response.status, json.loads(response.read())["ok"]) == (200, True)
    conn.close()


@pytest.mark.parametrize("length", ["-1", "abc", "1e3", "5, 7"])
def test_a_bad_content_length_is_a_400_and_the_server_keeps_serving(serve, caplog, length):
    caplog.set_level(logging.DEBUG)
    server = serve()
    raw = exchange(server, f"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: "
                           f"{length}\r\n\r\nhello".encode())
    assert statuses(raw) == [b"400"]          # and then closed: read_to_eof returned
    assert health(server) == 200
    assert not [r for r in caplog.records if r.exc_info], "no traceback in the log"
    assert "Traceback" not in caplog.text


SMUGGLED = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def test_a_request_hidden_in_a_refused_body_is_never_answered(serve):
    server = serve(max_body=2000)
    head = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
    # Refused by its Content-Length before a byte of the body is read.
    raw = exchange(server, head + b"Content-Length: 5000\r\n\r\n" + SMUGGLED)
    assert statuses(raw) == [b"413"] and b'"database"' not in raw
    # Chunked: refused once the bytes counted pass the limit.
    chunk = b"x" * 2500 + SMUGGLED
    raw = exchange(server, head + b"Transfer-Encoding: chunked\r\n\r\n" +
                   b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk))
    assert statuses(raw) == [b"413"] and b'"database"' not in raw
    assert health(server) == 200


def test_a_chunked_slack_request_is_answered(serve, fake):
    server = serve()
    body = slash_body("/tier", "ACME", user="U0TOMBK01", response_url=fake.response_url("ch"))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    parts = [body[:40].encode(), body[40:100].encode(), body[100:].encode()]
    conn.request("POST", "/slack/events", body=iter(parts), encode_chunked=True,
                 headers={**slack_headers(body, FORM), "Transfer-Encoding": "chunked"})
    response = conn.getresponse()
    assert (response.status, response.read()) == (200, b"")
    conn.close()
    assert "ACME Corp" in fake.wait_for("response")[0].args["text"]


def test_a_body_that_never_ends_gets_408(serve):
    server = serve(body_timeout=1)
    with connect(server) as sock:
        sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        assert statuses(read_to_eof(sock)) == [b"408"]
    assert health(server) == 200


def test_requests_beyond_the_cap_get_503(serve, fake):
    server = serve(max_requests=2)
    body = slash_body("/tier", "ACME", user="U0TOMBK01", response_url=fake.response_url("cap"))
    held = []
    for _ in range(2):  # two requests in progress: headers in, body not yet
        sock = connect(server)
        sock.sendall(signed_request_head(server.port, body, extra="Expect: 100-continue\r\n"))
        assert sock.recv(100).startswith(b"HTTP/1.1 100 ")  # the server is reading its body
        held.append(sock)
    raw = exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert statuses(raw) == [b"503"]
    for sock in held:  # the two held requests still complete
        sock.sendall(body.encode())
        assert statuses(sock.recv(4096)) == [b"200"]
        sock.close()
    assert health(server) == 200


def test_unsigned_floods_leave_a_small_log_and_cannot_forge_a_line(serve, fake, caplog):
    caplog.set_level(logging.DEBUG)
    server = serve()  # the default 1 MB body limit
    caplog.clear()  # count what the flood logs, not the start
    url = server.url + "/slack/events"
    flood = 20
    big = "command=%2Ftier&text=" + "A" * 990_000
    for i in range(flood):
        body = big if i % 2 else big + "\n2026-11-24 09:00:00,000 CRITICAL tierbot: FORGED"
        request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
            "Content-Type": FORM, "X-Slack-Request-Timestamp": str(int(time.time())),
            "X-Slack-Signature": "v0=" + "0" * 64})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 401
    # Client text in the request line cannot break a line either.
    assert statuses(exchange(server, b"GET /healthz%0AFORGED%0D%0A HTTP/1.1\r\nHost: x\r\n"
                                     b"Connection: close\r\n\r\n")) == [b"404"]
    logged = caplog.text
    assert len(logged.encode()) < flood * 300, f"{len(logged.encode())} bytes logged"
    assert "AAAA" not in logged and "CRITICAL tierbot: FORGED" not in logged
    assert not [r for r in caplog.records if "\n" in r.getMessage() or "\r" in r.getMessage()]
    refusals = [r for r in caplog.records if "signature (401)" in r.getMessage()]
    assert len(refusals) == flood  # each refusal is logged, in one short line
    assert fake.of("response") == []


def test_serve_raises_the_open_files_limit_to_the_hard_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = 256 if hard == resource.RLIM_INFINITY else min(256, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    try:
        before, after = raise_open_files_limit()
        now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        assert before == lowered and after == now
        if hard != resource.RLIM_INFINITY:
            assert now == hard
        else:
            assert now > lowered
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
