"""What every command works with: the request, the reply, services and user errors."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

from sqlalchemy.engine import Engine

from bot.settings import Settings
from scoring.config import ScoringConfig
from storage.lookup import AccountIndex, load_account_index


@dataclass(frozen=True)
class Request:
    """One command from a chat user. `user_id` is the platform's id (a rep key on the console)."""

    platform: str        # slack, wecom, console
    user_id: str
    text: str            # "/tier ACME", "tier ACME", "/分层 阿里"
    channel: str = "text"  # how the reply will be rendered: text, slack, wecom
    locale: str | None = None  # the user's language if the platform knows it
    request_id: str | None = None  # the platform's id for this delivery (for idempotency)
    # The platform's language for users who set none (WeCom: zh), else the company's.
    default_locale: str | None = None

    def fallback_locale(self, services: "Services") -> str:
        return self.default_locale or services.settings.locale


@dataclass
class Reply:
    """A template name and its context; the adapter renders it for its channel."""

    template: str
    context: dict = field(default_factory=dict)
    locale: str = "en"
    public: bool = False


class UserError(Exception):
    """Something the user can fix: rendered by `error.j2` as what was wrong and what to type."""

    def __init__(self, code: str, **params) -> None:
        super().__init__(code)
        self.code, self.params = code, params


@dataclass
class Services:
    """What commands may use; built once by the composition root."""

    engine: Engine
    settings: Settings
    scoring: ScoringConfig
    today: Callable[[], date] = date.today
    _index: AccountIndex | None = None
    _index_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def accounts(self) -> AccountIndex:
        """The lookup index, built on first use (once, however many threads ask) and
        rebuilt after account changes."""
        index = self._index
        if index is None:
            with self._index_lock:
                if self._index is None:
                    self._index = load_account_index(self.engine)
                index = self._index
        return index

    def accounts_changed(self) -> None:
        self._index = None
