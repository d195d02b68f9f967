"""`tierbot serve`: the HTTP server with the enabled platform adapters (and, from the
scheduler issue on, the scheduler). Composition only: it wires parts built elsewhere."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import sqlalchemy as sa

from bot.commands import Services
from bot.http_guard import HttpLimits
from bot.server import HttpRequest, HttpResponse, HttpServer
from bot.settings import Settings

log = logging.getLogger("tierbot.serve")


@dataclass
class Running:
    server: HttpServer
    slack_mode: str = "off"          # off, http, socket
    wecom: bool = False
    closers: list = field(default_factory=list)

    def stop(self) -> None:
        """Graceful: the server stops accepting and finishes the requests in progress
        first, then the adapters finish their acknowledged work and the scheduler stops."""
        self.server.stop()
        for close in reversed(self.closers):
            try:
                close()
            except Exception:  # pragma: no cover - best effort on shutdown
                log.exception("error while stopping")


class SetupError(Exception):
    """A configuration the admin must fix; the message says what and how."""


def build(services: Services, settings: Settings, *, host: str | None = None,
          port: int | None = None) -> Running:
    """Create the server and adapters (not yet serving)."""
    routes = {}
    slack_mode, wecom_on, closers = "off", False, []
    if settings.slack_bot_token or settings.slack_signing_secret:
        if not settings.slack_enabled:
            raise SetupError("Slack needs both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET "
                             "(Basic Information > App Credentials); set the missing one.")
        from bot.slack.app import SlackAdapter, SlackSetupError
        try:
            slack = SlackAdapter(services, settings)
        except SlackSetupError as exc:
            raise SetupError(f"Slack refused SLACK_BOT_TOKEN ({exc}). Copy the Bot User OAuth "
                             "Token (xoxb-...) from OAuth & Permissions.") from None
        except OSError as exc:  # auth.test could not reach Slack at all (DNS, proxy, firewall)
            reason = getattr(exc, "reason", None) or exc
            raise SetupError(f"Slack could not be reached to check SLACK_BOT_TOKEN "
                             f"({type(reason).__name__}: {reason}). Check that this server can "
                             f"make outbound HTTPS calls to {settings.slack_api_url} (network, "
                             "DNS, proxy), then start again.") from None
        closers.append(slack.close)
        if settings.slack_app_token:
            handler = slack.socket_mode(settings.slack_app_token.get_secret_value())
            handler.connect()
            closers.append(handler.close)  # closed first: no new envelopes, then the work
            slack_mode = "socket"
        else:
            routes["/slack/events"] = slack.http_route
            slack_mode = "http"
    wecom_fields = {"WECOM_CORP_ID": settings.wecom_corp_id,
                    "WECOM_AGENT_ID": settings.wecom_agent_id,
                    "WECOM_SECRET": settings.wecom_secret, "WECOM_TOKEN": settings.wecom_token,
                    "WECOM_ENCODING_AES_KEY": settings.wecom_encoding_aes_key}
    missing = [name for name, value in wecom_fields.items() if value in (None, "")]
    if 0 < len(missing) < len(wecom_fields):
        raise SetupError(f"WeCom is half configured: set {', '.join(missing)} too (see the "
                         "README, WeCom setup), or unset the other WECOM_* settings.")
    if settings.wecom_enabled:
        from bot.wecom import WeComSetupError
        from bot.wecom.app import WeComAdapter

        try:
            wecom = WeComAdapter(services, settings)
        except WeComSetupError as exc:
            raise SetupError(str(exc)) from None
        routes["/wecom/callback"] = wecom.http_route
        closers.append(wecom.close)
        wecom_on = True

    def health(request: HttpRequest) -> HttpResponse:  # on a worker thread, like every query
        try:
            with services.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            database = "ok"
        except Exception as exc:
            database = f"unreachable: {type(exc).__name__}"
        body = {"ok": database == "ok", "database": database, "slack": slack_mode,
                "wecom": "on" if wecom_on else "off"}
        return HttpResponse.json(body, 200 if body["ok"] else 503)

    routes["/healthz"] = health
    # Build the account lookup index now, not on the first user's command.
    threading.Thread(target=services.accounts, name="tierbot-warm", daemon=True).start()
    server = HttpServer(host or settings.http_host,
                        settings.http_port if port is None else port, routes,
                        HttpLimits.from_settings(settings))
    return Running(server, slack_mode, wecom_on, closers)
