"""The WeCom API client: wechatpy's, pointed at WECOM_API_URL for every call (the token
fetch included), with its access_token kept in the database for every process, and
without wechatpy's unbounded retry on expired tokens (the sender retries, bounded).

Neither the app secret nor a token reaches the database keys or a log: the token is stored
under corp id + agent id, and the URLs that carry them (`gettoken?corpsecret=...`,
`?access_token=...`) are masked in urllib3's debug lines and never put in our exceptions.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone

import requests
from sqlalchemy.engine import Engine
from wechatpy.enterprise import WeChatClient
from wechatpy.session import SessionStorage

from bot.settings import Settings
from storage.tokens import forget_token, read_token, save_token

# Refresh this long before WeCom's expiry (7,200 s), so no call goes out with a dying token.
REFRESH_MARGIN = timedelta(minutes=5)
_CREDENTIALS_IN_URL = re.compile(r"((?:corpsecret|access_token)=)[^&\s\"']+")


class DatabaseTokenStore(SessionStorage):
    """wechatpy's session storage on the platform_tokens table: one token for all processes.
    A token within REFRESH_MARGIN of its expiry reads as absent, so it is fetched anew."""

    def __init__(self, engine: Engine, prefix: str = "wecom:"):
        self.engine, self.prefix = engine, prefix

    def get(self, key, default=None):
        found = read_token(self.engine, self.prefix + key)
        if found is None:
            return default
        value, expires = found
        return value if expires - REFRESH_MARGIN > datetime.now(timezone.utc) else default

    def set(self, key, value, ttl=None):
        save_token(self.engine, self.prefix + key, str(value),
                   datetime.now(timezone.utc) + timedelta(seconds=ttl or 7200))

    def delete(self, key):
        forget_token(self.engine, self.prefix + key)


class WeComClient(WeChatClient):
    """wechatpy's enterprise client with our base URL for every call, the token fetch too."""

    def __init__(self, corp_id: str, secret: str, *, agent_id: int, api_url: str,
                 store: SessionStorage, timeout: float = 10):
        self.agent_id = agent_id
        super().__init__(corp_id, secret, session=store, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = api_url if api_url.endswith("/") else api_url + "/"
        _mask_credentials_in(logging.getLogger("urllib3.connectionpool"))

    @property
    def access_token_key(self) -> str:
        # wechatpy's own key embeds the first 10 characters of the secret. One app (agent)
        # of one corp has one secret at a time, so corp id + agent id name its token; after
        # a secret is reset, WeCom refuses the old token (40014/42001) and the sender
        # refreshes it, so nothing secret-derived is needed to tell secrets apart.
        return f"{self.corp_id}:{self.agent_id}:access_token"

    def fetch_access_token(self):
        try:
            return self._fetch_access_token(url=self.API_BASE_URL + "gettoken",
                                            params={"corpid": self.corp_id,
                                                    "corpsecret": self.secret})
        except requests.RequestException as exc:
            # requests puts the URL, corpsecret included, in the message: keep only the kind.
            raise _without_url(exc) from None

    def refresh_token(self) -> None:
        """Fetch a new token (WeCom said the stored one expired); storing it replaces the old
        one in one upsert. Deleting first would leave a moment with no token at all, in which
        every other sender would fetch one of its own."""
        self.fetch_access_token()

    @property
    def access_token(self):
        # The shared store decides (it treats a token near its expiry as absent); the
        # process-local expiry wechatpy keeps would ignore another process's refresh.
        token = self.session.get(self.access_token_key)
        if token:
            return token
        # The token just fetched, not a second read: another process may have forgotten or
        # replaced the stored one meanwhile, and this one is valid either way.
        return self.fetch_access_token()["access_token"]


class _MaskCredentials(logging.Filter):
    """Masks corpsecret=/access_token= values in a record's message arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_CREDENTIALS_IN_URL.sub(r"\1***", a) if isinstance(a, str) else a
                                for a in record.args)
        if isinstance(record.msg, str):
            record.msg = _CREDENTIALS_IN_URL.sub(r"\1***", record.msg)
        return True


def _mask_credentials_in(logger: logging.Logger) -> None:
    """urllib3 logs every request line, query string included, at DEBUG."""
    if not any(isinstance(f, _MaskCredentials) for f in logger.filters):
        logger.addFilter(_MaskCredentials())


def _without_url(exc: requests.RequestException) -> requests.RequestException:
    message = f"WeCom gettoken failed: {type(exc).__name__}"
    try:
        return type(exc)(message)
    except TypeError:  # a subclass with another constructor (JSONDecodeError)
        return requests.RequestException(message)


def build_client(settings: Settings, engine: Engine) -> WeComClient:
    """The one WeCom client of a process's settings, its token shared through `engine`."""
    return WeComClient(settings.wecom_corp_id, settings.wecom_secret.get_secret_value(),
                       agent_id=settings.wecom_agent_id, api_url=settings.wecom_api_url,
                       store=DatabaseTokenStore(engine))
