"""The WeCom API client: wechatpy's, pointed at WECOM_API_URL for every call (the token
fetch included), with its access_token kept in the database for every process, and
without wechatpy's unbounded retry on expired tokens (the sender retries, bounded)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from wechatpy.enterprise import WeChatClient
from wechatpy.session import SessionStorage

from storage.models import PlatformToken

# Refresh this long before WeCom's expiry (7,200 s), so no call goes out with a dying token.
REFRESH_MARGIN = timedelta(minutes=5)


class DatabaseTokenStore(SessionStorage):
    """wechatpy's session storage on the platform_tokens table: one token for all processes.
    A token within REFRESH_MARGIN of its expiry reads as absent, so it is fetched anew."""

    def __init__(self, engine: Engine, prefix: str = "wecom:"):
        self.engine, self.prefix = engine, prefix

    def get(self, key, default=None):
        now = datetime.now(timezone.utc)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(PlatformToken.value, PlatformToken.expires_at).where(
                PlatformToken.name == self.prefix + key)).first()
        if row is None:
            return default
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(
            tzinfo=timezone.utc)
        return row.value if expires - REFRESH_MARGIN > now else default

    def set(self, key, value, ttl=None):
        expires = datetime.now(timezone.utc) + timedelta(seconds=ttl or 7200)
        with self.engine.begin() as conn:
            conn.execute(sa.delete(PlatformToken).where(PlatformToken.name == self.prefix + key))
            conn.execute(sa.insert(PlatformToken).values(name=self.prefix + key, value=str(value),
                                                         expires_at=expires))

    def delete(self, key):
        with self.engine.begin() as conn:
            conn.execute(sa.delete(PlatformToken).where(PlatformToken.name == self.prefix + key))


class WeComClient(WeChatClient):
    """wechatpy's enterprise client with our base URL for every call, the token fetch too."""

    def __init__(self, corp_id: str, secret: str, *, api_url: str, store: SessionStorage,
                 timeout: float = 10):
        super().__init__(corp_id, secret, session=store, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = api_url if api_url.endswith("/") else api_url + "/"

    def fetch_access_token(self):
        return self._fetch_access_token(url=self.API_BASE_URL + "gettoken",
                                        params={"corpid": self.corp_id, "corpsecret": self.secret})

    def refresh_token(self) -> None:
        """Forget the shared token (WeCom said it expired) and fetch a new one."""
        self.session.delete(self.access_token_key)
        self.fetch_access_token()

    @property
    def access_token(self):
        # The shared store decides (it treats a token near its expiry as absent); the
        # process-local expiry wechatpy keeps would ignore another process's refresh.
        token = self.session.get(self.access_token_key)
        if token:
            return token
        self.fetch_access_token()
        return self.session.get(self.access_token_key)
