"""The one settings object, read from the environment and `.env`.

Built once in the composition root (the CLI) and passed down; nothing reads the
environment at import time.
"""
from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url


class Settings(BaseSettings):
    """tierbot configuration. Every field is documented in `.env.example`."""

    model_config = SettingsConfigDict(
        env_prefix="TIERBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = "sqlite:///tierbot.db"
    timezone: str = "UTC"
    locale: Literal["en", "zh"] = "en"
    currency: str = "USD"
    # A tiers.toml of your own; empty means the shipped default (scoring/tiers.toml).
    tiers_path: str = ""
    # Which accounts a rep may read: own, team (their manager's team) or all.
    visibility: Literal["own", "team", "all"] = "team"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown IANA timezone {value!r}; use a name like 'Asia/Shanghai' or 'UTC'"
            ) from exc
        return value

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        code = value.strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise ValueError(f"currency must be a 3-letter ISO code like USD or CNY, not {value!r}")
        return code

    def safe_database_url(self) -> str:
        """The database URL with any password hidden, for messages and logs."""
        return make_url(self.database_url).render_as_string(hide_password=True)
