"""A local stand-in for the WeCom server API (/cgi-bin/gettoken, message/send, media/upload)
on port 0, recording every call; plus helpers that build callbacks exactly as WeCom does
(AES-encrypted with the app's EncodingAESKey, msg_signature over token, timestamp, nonce and
the ciphertext, the CorpID inside the ciphertext)."""
from __future__ import annotations

import base64
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

CORP_ID = "ww0123456789abcdef"
AGENT_ID = 1000002
SECRET = "wecom-app-secret-for-tests"
DROP = "drop"  # fail(endpoint, DROP): the connection is closed without an answer


def new_aes_key() -> str:
    """An EncodingAESKey as the WeCom console makes them: 43 characters of base64."""
    return base64.b64encode(os.urandom(32)).decode().rstrip("=")


@dataclass
class Call:
    path: str
    params: dict
    body: dict
    raw: bytes = b""
    at: float = field(default_factory=time.monotonic)


class FakeWeCom:
    def __init__(self, corp_id: str = CORP_ID, secret: str = SECRET):
        self.corp_id, self.secret = corp_id, secret
        self.calls: list[Call] = []
        self.tokens_issued = 0
        self.valid_tokens: set[str] = set()
        self._failures: dict[str, list[int]] = defaultdict(list)
        self._cond = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _serve(self):
                path, _, query = self.path.partition("?")
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = fake._handle(path, {k: v[0] for k, v in parse_qs(query).items()}, raw,
                                      self.headers.get("Content-Type", ""))
                if answer is None:  # fail(..., DROP): close without an answer
                    self.close_connection = True
                    return
                body = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.api_url = f"http://127.0.0.1:{self._server.server_address[1]}/cgi-bin/"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()

    # ---- controls --------------------------------------------------------------------
    def fail(self, endpoint: str, errcode: int | str, times: int = 1) -> None:
        with self._cond:
            self._failures[endpoint].extend([errcode] * times)

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (WeCom answers 42001)."""
        with self._cond:
            self.valid_tokens.clear()

    def of(self, endpoint: str) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.path.endswith("/" + endpoint)]

    def wait_for(self, endpoint: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self.calls if c.path.endswith("/" + endpoint)]
                if len(found) >= count:
                    return found
                if time.monotonic() >= deadline:
                    raise AssertionError(f"waited {timeout}s for {count} {endpoint}, got "
                                         f"{len(found)}: {[c.path for c in self.calls]}")
                self._cond.wait(deadline - time.monotonic())

    # ---- the API ---------------------------------------------------------------------
    def _handle(self, path: str, params: dict, raw: bytes, ctype: str) -> dict | None:
        """The answer to one call (None: drop the connection unanswered). The call is
        recorded, and waiters woken, only once its answer is decided, under the same lock:
        whatever a test does after seeing a call (expire_tokens...) cannot change how that
        call is answered."""
        endpoint = path.split("/cgi-bin/", 1)[-1]
        body = json.loads(raw) if raw and ctype.startswith("application/json") else {}
        if raw and not body and not ctype.startswith("multipart/"):
            try:
                body = json.loads(raw)
            except ValueError:
                body = {}
        with self._cond:
            answer = self._answer(endpoint, params)
            self.calls.append(Call(path, params, body, raw))
            self._cond.notify_all()
        return answer

    def _answer(self, endpoint: str, params: dict) -> dict | None:  # with self._cond held
        failure = self._failures[endpoint].pop(0) if self._failures[endpoint] else None
        if failure == DROP:
            return None
        if failure is not None:
            return {"errcode": failure, "errmsg": {45009: "api freq out of limit",
                                                   -1: "system busy",
                                                   42001: "access_token expired"}.get(failure, "x")}
        if endpoint == "gettoken":
            if params.get("corpid") != self.corp_id or params.get("corpsecret") != self.secret:
                return {"errcode": 40001, "errmsg": "invalid credential"}
            self.tokens_issued += 1
            token = f"TOKEN-{self.tokens_issued}"
            self.valid_tokens.add(token)
            return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}
        token = params.get("access_token")
        if token not in self.valid_tokens:
            return {"errcode": 42001 if token and token.startswith("TOKEN-") else 40014,
                    "errmsg": "access_token expired" if token else "invalid access_token"}
        if endpoint == "message/send":
            return {"errcode": 0, "errmsg": "ok", "invaliduser": "",
                    "msgid": f"msg{len(self.calls) + 1}"}
        if endpoint == "media/upload":
            return {"errcode": 0, "errmsg": "ok", "type": params.get("type"),
                    "media_id": "MEDIA-1", "created_at": str(int(time.time()))}
        return {"errcode": 404, "errmsg": "unknown endpoint"}


def callback_query(crypto, encrypt: str, nonce: str, timestamp: str) -> str:
    from wechatpy.crypto import _get_signature
    return urlencode({"msg_signature": _get_signature(crypto.token, timestamp, nonce, encrypt),
                      "timestamp": timestamp, "nonce": nonce})


def signed_callback(crypto, inner_xml: str, *, corp_id: str = CORP_ID, agent_id: int = AGENT_ID,
                    nonce: str | None = None, timestamp: int | None = None,
                    forge: bool = False) -> tuple[str, bytes]:
    """A callback as WeCom sends it, as (query, body): the body carries the ciphertext, the
    query the msg_signature over token, timestamp, nonce and ciphertext. `forge` signs with a
    wrong token. Keep it to send again later, as someone who captured it would."""
    import xmltodict
    nonce = nonce or os.urandom(6).hex()
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    encrypted = xmltodict.parse(crypto.encrypt_message(inner_xml, nonce, timestamp))["xml"]
    encrypt = encrypted["Encrypt"]
    signature = encrypted["MsgSignature"]
    if forge:
        signature = "0" * 40
    body = (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
            f"<AgentID><![CDATA[{agent_id}]]></AgentID>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
    query = urlencode({"msg_signature": signature, "timestamp": timestamp, "nonce": nonce})
    return query, body.encode()


def send_callback(url: str, callback: tuple[str, bytes]) -> tuple[int, str]:
    """POST a (query, body) from signed_callback to the bot."""
    query, body = callback
    return _request(f"{url}?{query}", body, "POST")


def post_callback(url: str, crypto, inner_xml: str, **signing) -> tuple[int, str]:
    """POST a message as WeCom does, signed now (see signed_callback for the options)."""
    return send_callback(url, signed_callback(crypto, inner_xml, **signing))


def get_verification(url: str, crypto, echo_plain: str, *, forge: bool = False):
    """WeCom's URL check: GET with an encrypted echostr; the answer must be its plaintext."""
    from wechatpy.crypto import _get_signature
    from wechatpy.enterprise.crypto import PrpCrypto
    nonce, timestamp = "1372623149", str(int(time.time()))
    echostr = PrpCrypto(crypto.key).encrypt(echo_plain, crypto._id).decode()
    signature = _get_signature(crypto.token, timestamp, nonce, echostr)
    if forge:
        signature = "f" * 40
    query = urlencode({"msg_signature": signature, "timestamp": timestamp, "nonce": nonce,
                       "echostr": echostr})
    return _request(f"{url}?{query}", None, "GET")


def _request(url: str, data: bytes | None, method: str) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "text/xml"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def text_xml(user: str, content: str, msg_id: str, *, corp_id: str = CORP_ID,
             agent_id: int = AGENT_ID) -> str:
    return (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
            f"<FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId>"
            f"<AgentID>{agent_id}</AgentID></xml>")


def card_event_xml(user: str, key: str, task: str, create_time: int, *,
                   corp_id: str = CORP_ID, agent_id: int = AGENT_ID) -> str:
    return (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
            f"<FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[template_card_event]]></Event>"
            f"<EventKey><![CDATA[{key}]]></EventKey><TaskId><![CDATA[{task}]]></TaskId>"
            f"<CardType><![CDATA[button_interaction]]></CardType>"
            f"<ResponseCode><![CDATA[rc-{task}]]></ResponseCode>"
            f"<AgentID>{agent_id}</AgentID></xml>")
