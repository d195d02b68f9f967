"""WeCom callbacks at /wecom/callback: verified, decrypted, answered at once, worked off-line.

GET is WeCom's URL check (verify msg_signature, decrypt echostr, answer the plaintext).
POST is a message or event: its signature and CorpID are checked, it is claimed by MsgId
(events: FromUserName + CreateTime) in the database, WeCom gets an empty 200 at once (it
gives up after 5 s and retries 3 times), and a worker runs the command and replies through
message/send. Retries and a second instance find the claim and do nothing.

Either is refused unless its `timestamp` (covered by msg_signature) is within
TIERBOT_WECOM_CALLBACK_WINDOW of now, so a captured callback cannot be replayed later; within
the window the claim turns copies away, as claims outlive it (storage.inbound.claim_retention).
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import xmltodict
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidSignatureException

from bot.commands import Request, Services, dispatch
from bot.commands.forms import person_locale
from bot.server import HttpRequest, HttpResponse
from bot.settings import Settings
from bot.wecom import check_encoding_aes_key
from bot.wecom.client import build_client
from bot.wecom.sender import WeComSender
from messages.render import render_for
from storage.inbound import claim_event

log = logging.getLogger("tierbot.wecom")

# Members who set no language get Chinese (WeCom's users are mostly in China).
WECOM_LOCALE = "zh"
BUTTON_COMMANDS = {"done": "done {key}", "snooze": "snooze {key} 7", "tier": "tier {key}"}


class WeComAdapter:
    def __init__(self, services: Services, settings: Settings, *,
                 sender: WeComSender | None = None, workers: int = 4,
                 clock: Callable[[], float] = time.time):
        if not settings.wecom_enabled:
            raise ValueError("WeCom needs WECOM_CORP_ID, WECOM_AGENT_ID, WECOM_SECRET, "
                             "WECOM_TOKEN and WECOM_ENCODING_AES_KEY")
        self.services = services
        self.corp_id = settings.wecom_corp_id
        self.agent_id = settings.wecom_agent_id
        self.window, self.clock = settings.wecom_callback_window, clock
        check_encoding_aes_key(settings.wecom_encoding_aes_key.get_secret_value())
        self.crypto = WeChatCrypto(settings.wecom_token.get_secret_value(),
                                   settings.wecom_encoding_aes_key.get_secret_value(),
                                   settings.wecom_corp_id)
        self.client = build_client(settings, services.engine)
        self.sender = sender or WeComSender(self.client, settings.wecom_agent_id)
        self.pool = ThreadPoolExecutor(workers, "tierbot-wecom")

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    # ---- transport -------------------------------------------------------------------
    def http_route(self, request: HttpRequest) -> HttpResponse:
        params = request.query_params()
        signature, timestamp, nonce = (params.get("msg_signature"), params.get("timestamp"),
                                       params.get("nonce"))
        if not (signature and timestamp and nonce):
            return HttpResponse(400, "missing msg_signature, timestamp or nonce")
        refused = self._outside_window(timestamp)
        if refused is not None:
            return refused
        try:
            if request.method == "GET":
                echo = params.get("echostr")
                if not echo:
                    return HttpResponse(400, "missing echostr")
                plain = self.crypto.check_signature(signature, timestamp, nonce, echo)
                return HttpResponse(200, plain)
            if request.method != "POST":
                return HttpResponse(405, "GET or POST only")
            xml = self.crypto.decrypt_message(request.body.decode("utf-8"), signature,
                                              timestamp, nonce)
        except InvalidSignatureException:
            log.warning("wecom callback with a bad msg_signature refused")
            return HttpResponse(401, "bad signature")
        except InvalidCorpIdException:
            log.warning("wecom callback for another CorpID refused")
            return HttpResponse(403, "wrong CorpID")
        except Exception as exc:  # the body is unverified: name the failure, log nothing of it
            log.warning("wecom callback could not be read (%s)", type(exc).__name__)
            return HttpResponse(400, "unreadable callback")
        message = xmltodict.parse(xml)["xml"]
        if message.get("ToUserName") != self.corp_id:
            return HttpResponse(403, "wrong CorpID")
        if message.get("AgentID") and str(message["AgentID"]) != str(self.agent_id):
            return HttpResponse(403, "wrong AgentID")
        if message.get("MsgId"):
            event_id = f"msg:{message['MsgId']}"
        else:
            event_id = (f"evt:{message.get('FromUserName')}:{message.get('CreateTime')}:"
                        f"{message.get('Event')}:{message.get('EventKey') or ''}")
        if claim_event(self.services.engine, "wecom", event_id):
            self.pool.submit(self._work, message)
        else:
            log.info("wecom %s already taken, skipped", event_id)
        return HttpResponse(200, "")

    def _outside_window(self, timestamp: str) -> HttpResponse | None:
        """A 4xx for a timestamp that is not a number or is over the window from now."""
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
            log.warning("wecom callback refused: timestamp is not a number")
            return HttpResponse(400, "bad timestamp")
        skew = int(timestamp) - int(self.clock())
        if abs(skew) > self.window:
            log.warning("wecom callback refused: timestamp %+d s from now (window ±%d s)",
                        skew, self.window)
            return HttpResponse(401, "stale timestamp")
        return None

    # ---- the work --------------------------------------------------------------------
    def _work(self, message: dict) -> None:
        user = message.get("FromUserName") or ""
        try:
            kind = message.get("MsgType")
            if kind == "text":
                self._run(user, message.get("Content") or "", f"msg:{message.get('MsgId')}")
            elif kind == "event" and message.get("Event") == "template_card_event":
                action, _, key = (message.get("EventKey") or "").partition(":")
                if action in BUTTON_COMMANDS and key:
                    self._run(user, BUTTON_COMMANDS[action].format(key=key),
                              f"card:{message.get('TaskId')}:{action}:{key}")
            elif kind in ("image", "voice", "video", "file", "location", "link"):
                self._run(user, "help", None)
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log.exception("wecom message failed [ref %s] user=%s", ref, user)
            try:
                self.sender.markdown(user, render_for("oops", {"ref": ref}, channel="wecom",
                                                      locale=self._locale(user)))
            except Exception:
                log.exception("could not deliver the error reply either")

    def _locale(self, user: str) -> str:
        return person_locale(Request("wecom", user, "", default_locale=WECOM_LOCALE),
                             self.services)

    def _run(self, user: str, text: str, request_id: str | None) -> None:
        reply = dispatch(Request("wecom", user, text, channel="wecom", request_id=request_id,
                                 default_locale=WECOM_LOCALE), self.services)
        content = render_for(reply.template, reply.context, channel="wecom", locale=reply.locale)
        result = self.sender.markdown(user, content)
        if not result.ok:
            log.warning("wecom reply to %s not delivered: %s", user, result.error)
