"""Slack through slack-bolt: slash commands, DMs and mentions, buttons and the visit modal.

Thin by design: Slack payloads become `Request`s for the command layer, replies are
rendered for the `slack` channel and sent back. Every request's signature and timestamp
are checked before bolt sees it (forged or older than 5 minutes -> 401). Slash commands
and buttons are acknowledged at once and the work runs in a lazy listener that answers on
the `response_url`; events are claimed by `event_id` in the database first, so Slack's retries
(and a second instance) never run a command twice.
"""
from __future__ import annotations

import logging
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs

from slack_bolt import App, BoltResponse
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse, Response

from bot.commands import Reply, Request, Services, dispatch
from bot.commands.core import UserError
from bot.commands.forms import VisitForm, person_locale, submit_visit, visit_form_errors
from bot.server import run_blocking
from bot.settings import Settings
from bot.slack import views
from messages.render import render_for
from storage.inbound import claim_event, release_event

log = logging.getLogger("tierbot.slack")

# Every command of the command layer, as the manifest declares them.
SLASH_COMMANDS = ("/tier", "/at-risk", "/accounts", "/digest", "/visit", "/due", "/done",
                  "/snooze", "/feedback", "/assign", "/override", "/backtest", "/tierbot-help")
PUBLIC_WORDS = {"public", "公开"}
_MENTION = re.compile(r"<@[A-Z0-9]+(\|[^>]*)?>")


class SlackSetupError(ValueError):
    """Slack refused the configuration at start (the message says why)."""


def web_client(settings: Settings, token: str | None = None) -> WebClient:
    """A WebClient on SLACK_API_URL with bounded retries: 429 honouring Retry-After, 5xx,
    and connection errors."""
    secret = token or (settings.slack_bot_token.get_secret_value()
                       if settings.slack_bot_token else None)
    return WebClient(token=secret, base_url=settings.slack_api_url, timeout=15,
                     retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2),
                                     RateLimitErrorRetryHandler(max_retry_count=3),
                                     ServerErrorRetryHandler(max_retry_count=2)])


class SlackAdapter:
    """The bolt App with tierbot's listeners; `http_route` serves /slack/events."""

    def __init__(self, services: Services, settings: Settings, *, client: WebClient | None = None,
                 workers: int = 1):
        if not settings.slack_enabled:
            raise ValueError("Slack needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET")
        self.services = services
        self.client = client or web_client(settings)
        secret = settings.slack_signing_secret.get_secret_value()
        self.verifier = SignatureVerifier(secret)
        # One thread for the commands' work by default: in CPython they share one core
        # anyway, and each more CPU-bound thread takes turns from the acknowledgements of
        # a burst (bench/slack_ack.py: ack p99 about 280 ms with one, 420-640 ms with 2-4).
        self.executor = ThreadPoolExecutor(workers, "tierbot-slack")
        # process_before_response=True: the ack is sent when dispatch returns, and dispatch
        # does no more than ack; all work is in lazy listeners on the executor.
        try:
            self.app = App(signing_secret=secret, client=self.client,
                           process_before_response=True, logger=log,
                           listener_executor=self.executor)
        except BoltError as exc:  # auth.test at start: a wrong or revoked token
            raise SlackSetupError(str(exc)) from None
        self._register()

    # ---- transport -------------------------------------------------------------------
    async def http_route(self, request: StarletteRequest) -> Response:
        """/slack/events, through bolt's Starlette adapter.

        The signature and timestamp are checked here, before bolt sees the body: bolt logs
        the whole body of a request it refuses, and an unverified body must never reach the
        log. bolt's own `SlackRequestHandler.handle` would call the blocking `App.dispatch`
        on the event loop (the event claim is a database write), stalling every connection
        meanwhile, so dispatch runs on the server's bounded worker threads instead."""
        if request.method != "POST":
            return PlainTextResponse("POST only", 405)
        body = await request.body()
        if not self._verified(body, request.headers):
            if _is_ssl_check(body):  # Slack's certificate check: unsigned, needs only a 200
                return Response(status_code=200)
            log.warning("slack request refused: missing, forged or stale signature (401)")
            return PlainTextResponse("invalid request", 401)
        response: BoltResponse = await run_blocking(request, self.app.dispatch,
                                                    to_bolt_request(request, body))
        return to_starlette_response(response)

    def _verified(self, body: bytes, headers) -> bool:
        try:
            return self.verifier.is_valid(body, headers.get("x-slack-request-timestamp"),
                                          headers.get("x-slack-signature"))
        except (ValueError, TypeError):  # a timestamp that is no number, a non-ASCII signature
            return False

    def close(self) -> None:
        """Let the work of acknowledged requests finish (the server has stopped taking new)."""
        self.executor.shutdown(wait=True)

    def socket_mode(self, app_token: str):
        """A Socket Mode handler for this app (call `.connect()` to start it)."""
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        return SocketModeHandler(self.app, app_token, web_client=self.client)

    # ---- listeners -------------------------------------------------------------------
    def _register(self) -> None:
        app = self.app
        app.use(self._claim_events)
        for name in SLASH_COMMANDS:
            app.command(name)(ack=_ack_now, lazy=[self._on_command])
        app.event("message")(ack=_ack_now, lazy=[self._on_message])
        app.event("app_mention")(ack=_ack_now, lazy=[self._on_mention])
        app.action(views.LOG_VISIT)(ack=_ack_now, lazy=[self._on_log_visit])
        app.action(views.SNOOZE)(ack=_ack_now, lazy=[self._on_snooze])
        app.action(views.DONE)(ack=_ack_now, lazy=[self._on_done])
        app.view(views.VISIT_MODAL)(ack=self._check_visit_modal, lazy=[self._on_visit_modal])

    def _claim_events(self, body: dict, next) -> BoltResponse | None:
        """Events Slack retries (X-Slack-Retry-Num) or delivers to two instances run once.

        The claim happens before the 200 goes back: if the claim can't be stored, Slack
        gets an error and retries, so an event whose first delivery failed is still
        handled; one that was claimed is acknowledged and dropped."""
        if body.get("type") == "event_callback" and body.get("event_id"):
            if not claim_event(self.services.engine, "slack", body["event_id"]):
                log.info("slack event %s already taken, skipped", body["event_id"])
                return BoltResponse(status=200, body="")
        return next()

    def _answer(self, user_id: str, text: str, request_id: str | None) -> tuple[dict, bool]:
        """Run a command's text for a Slack user: (the Block Kit message, post publicly?)."""
        words = text.split()
        public = len(words) > 1 and words[-1].casefold() in PUBLIC_WORDS
        if public:
            text = " ".join(words[:-1])
        reply = dispatch(Request("slack", user_id, text, channel="slack", request_id=request_id),
                         self.services)
        return self._message(reply), public or reply.public

    def _message(self, reply: Reply) -> dict:
        message = render_for(reply.template, reply.context, channel="slack", locale=reply.locale)
        if reply.template == "tier" and len(message["blocks"]) < 50:
            account = reply.context["card"]["account"]
            message["blocks"].append(views.account_buttons(account["key"], account["name"],
                                                           reply.locale))
        return message

    def _oops(self, what: str, user_id: str | None) -> dict:
        ref = uuid.uuid4().hex[:8]
        log.exception("slack %s failed [ref %s] user=%s", what, ref, user_id)
        locale = person_locale(Request("slack", user_id or "", ""), self.services)
        return render_for("oops", {"ref": ref}, channel="slack", locale=locale)

    def _on_command(self, body: dict, respond) -> None:
        user_id = body.get("user_id")
        try:
            text = f"{body['command'].lstrip('/')} {body.get('text') or ''}"
            message, public = self._answer(user_id, text, body.get("trigger_id"))
            respond(**message, response_type="in_channel" if public else "ephemeral",
                    replace_original=False)
        except Exception:
            _try(respond, **self._oops("command", user_id), response_type="ephemeral")

    def _on_message(self, event: dict, body: dict, say) -> None:
        # Only a person's direct message to the bot; edits, joins and bots' posts are ignored.
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        self._reply_to_event(event, body, lambda message, public: say(**message))

    def _on_mention(self, event: dict, body: dict, say, client: WebClient) -> None:
        if event.get("bot_id"):
            return

        def send(message: dict, public: bool) -> None:
            if public:
                say(**message, thread_ts=event.get("thread_ts"))
            else:
                client.chat_postEphemeral(channel=event["channel"], user=event["user"], **message)

        self._reply_to_event(event, body, send, text=_MENTION.sub(" ", event.get("text", "")))

    def _reply_to_event(self, event: dict, body: dict, send, text: str | None = None) -> None:
        user_id = event.get("user")
        try:
            message, public = self._answer(user_id, text or event.get("text", ""),
                                           body.get("event_id"))
            send(message, public)
        except Exception:
            # Not handled: let a later delivery of the same event try again.
            release_event(self.services.engine, "slack", body.get("event_id", ""))
            _try(send, self._oops("event", user_id), False)

    def _button(self, body: dict) -> tuple[str, str, str]:
        action = body["actions"][0]
        key, name = views.read_value(action["value"])
        return body["user"]["id"], key, name

    def _on_log_visit(self, body: dict, client: WebClient, respond) -> None:
        user_id = None
        try:
            user_id, key, name = self._button(body)
            locale = person_locale(Request("slack", user_id, ""), self.services)
            channel = (body.get("channel") or {}).get("id")
            client.views_open(trigger_id=body["trigger_id"], view=views.visit_modal(
                key, name, locale, self.services.today(), {"c": channel}))
        except Exception:
            _try(respond, **self._oops("log visit button", user_id), response_type="ephemeral",
                 replace_original=False)

    def _on_snooze(self, body: dict, respond) -> None:
        self._button_command(body, respond, "snooze {key} 7")

    def _on_done(self, body: dict, respond) -> None:
        self._button_command(body, respond, "done {key}")

    def _button_command(self, body: dict, respond, template: str) -> None:
        user_id = None
        try:
            user_id, key, _ = self._button(body)
            # One "Done" per message and account: a double click logs one visit.
            container = body.get("container") or {}
            request_id = f"{container.get('message_ts') or body['actions'][0]['action_ts']}:{key}"
            message, _ = self._answer(user_id, template.format(key=key), request_id)
            respond(**message, response_type="ephemeral", replace_original=False)
        except Exception:
            _try(respond, **self._oops("button", user_id), response_type="ephemeral",
                 replace_original=False)

    def _form(self, view: dict) -> VisitForm:
        values = views.read_visit_modal(view)
        return VisitForm(values["key"], values["kind"], values["date"], values["notes"],
                         values["next"])

    def _check_visit_modal(self, ack, body: dict, view: dict) -> None:
        """Validate before closing the modal: mistakes show inline, under their field."""
        errors = visit_form_errors(self._form(view), self.services.today())
        if errors:
            locale = person_locale(Request("slack", body["user"]["id"], ""), self.services)
            ack(response_action="errors", errors=views.field_errors(errors, locale))
        else:
            ack()

    def _on_visit_modal(self, body: dict, view: dict, client: WebClient) -> None:
        form = self._form(view)
        if visit_form_errors(form, self.services.today()):
            return  # the ack showed the mistakes under their fields; the modal stays open
        user_id = body["user"]["id"]
        request = Request("slack", user_id, "visit", channel="slack",
                          request_id=f"view:{view['id']}")
        try:
            try:
                reply = submit_visit(request, self.services, form)
            except UserError as exc:
                reply = Reply("error", {"code": exc.code, **exc.params},
                              locale=person_locale(request, self.services))
            client.chat_postMessage(channel=user_id, **self._message(reply))
        except Exception:
            _try(client.chat_postMessage, channel=user_id, **self._oops("visit modal", user_id))


def _is_ssl_check(body: bytes) -> bool:
    try:
        return parse_qs(body.decode("ascii")).get("ssl_check") == ["1"]
    except UnicodeDecodeError:
        return False


def _ack_now(ack) -> None:
    ack()


def _try(send, *args, **kwargs) -> None:
    """Last resort for the error reply itself: if even that fails, it is logged."""
    try:
        send(*args, **kwargs)
    except Exception:
        log.exception("could not deliver the error reply either")
