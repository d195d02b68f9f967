"""A local Socket Mode endpoint: the WebSocket that `apps.connections.open` points to.

Speaks RFC 6455 as far as Slack's Socket Mode needs: the upgrade handshake, a `hello`
message, envelopes pushed by the test, and the client's masked frames (acks) recorded.
Port 0, plain ws:// (slack-sdk's builtin client uses a plain socket for a non-443 port).
"""
from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class FakeSocketMode:
    def __init__(self):
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(4)
        self.url = f"ws://127.0.0.1:{self._listener.getsockname()[1]}/link"
        self.received: list[dict] = []
        self._conn: socket.socket | None = None
        self._cond = threading.Condition()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closed = True
        for s in (self._conn, self._listener):
            try:
                if s:
                    s.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                request += chunk
            key = next(line.split(":", 1)[1].strip() for line in request.decode().split("\r\n")
                       if line.lower().startswith("sec-websocket-key:"))
            accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
            conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\n"
                          f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
            with self._cond:
                self._conn = conn
                self._cond.notify_all()
            self.send({"type": "hello", "num_connections": 1,
                       "debug_info": {"host": "fake", "approximate_connection_time": 3600},
                       "connection_info": {"app_id": "A0TIERBOT"}})
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def wait_connected(self, timeout: float = 10) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._conn is not None, timeout):
                raise AssertionError("the bot never opened the Socket Mode connection")

    def send(self, message: dict) -> None:
        data = json.dumps(message).encode()
        header = bytes([0x81])
        if len(data) < 126:
            header += bytes([len(data)])
        elif len(data) < 65536:
            header += bytes([126]) + struct.pack(">H", len(data))
        else:
            header += bytes([127]) + struct.pack(">Q", len(data))
        self._conn.sendall(header + data)

    def _read(self, conn: socket.socket) -> None:
        buffer = b""

        def need(n: int) -> bytes:
            nonlocal buffer
            while len(buffer) < n:
                chunk = conn.recv(65536)
                if not chunk:
                    raise ConnectionError
                buffer += chunk
            out, buffer = buffer[:n], buffer[n:]
            return out

        try:
            while True:
                b1, b2 = need(2)
                opcode, length = b1 & 0x0F, b2 & 0x7F
                if length == 126:
                    length = struct.unpack(">H", need(2))[0]
                elif length == 127:
                    length = struct.unpack(">Q", need(8))[0]
                mask = need(4) if b2 & 0x80 else b"\0\0\0\0"
                payload = bytes(c ^ mask[i % 4] for i, c in enumerate(need(length)))
                if opcode == 0x9:  # ping -> pong
                    conn.sendall(bytes([0x8A, len(payload)]) + payload)
                elif opcode == 0x1:
                    with self._cond:
                        self.received.append(json.loads(payload))
                        self._cond.notify_all()
                elif opcode == 0x8:
                    return
        except (ConnectionError, OSError):
            return

    def wait_for_ack(self, envelope_id: str, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for message in self.received:
                    if message.get("envelope_id") == envelope_id:
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no ack for {envelope_id}: {self.received}")
                self._cond.wait(left)
