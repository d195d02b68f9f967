"""The one settings object, read from the environment and `.env`.

Built once in the composition root (the CLI) and passed down; nothing reads the
environment at import time.
"""
from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url


def _env(name: str, default=None):
    """A setting read from the platform's own variable name (or TIERBOT_<name>)."""
    return Field(default, validation_alias=AliasChoices(name, f"TIERBOT_{name}", name.lower()))


class Settings(BaseSettings):
    """tierbot configuration. Every field is documented in `.env.example`."""

    model_config = SettingsConfigDict(
        env_prefix="TIERBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore",
        populate_by_name=True, env_ignore_empty=True,
    )

    database_url: str = "sqlite:///tierbot.db"
    timezone: str = "UTC"
    locale: Literal["en", "zh"] = "en"
    currency: str = "USD"
    # A tiers.toml of your own; empty means the shipped default (scoring/tiers.toml).
    tiers_path: str = ""
    # Which accounts a rep may read: own, team (their manager's team) or all.
    visibility: Literal["own", "team", "all"] = "team"
    # `serve` and `scheduler` logging; DEBUG also shows the scheduler's and migrations'
    # own workings (APScheduler, Alembic), which are kept to warnings otherwise.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # `tierbot serve`: one HTTP server for Slack (/slack/events), WeCom (/wecom/callback)
    # and /healthz.
    http_host: str = "127.0.0.1"
    http_port: int = Field(3000, ge=0, le=65535)
    # Its limits (seconds, bytes, counts): see bot/http_guard.py and the README.
    http_header_timeout: float = Field(10, gt=0, le=300)
    http_body_timeout: float = Field(15, gt=0, le=300)
    http_keepalive_timeout: float = Field(5, gt=0, le=300)
    http_max_body: int = Field(1_000_000, ge=1_000, le=100_000_000)
    http_workers: int = Field(16, ge=1, le=256)
    http_max_requests: int = Field(1000, ge=1, le=100_000)
    http_drain_timeout: float = Field(20, ge=0, le=600)

    # Slack (the platform's own variable names). With an app token, Socket Mode is used.
    slack_bot_token: SecretStr | None = _env("SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = _env("SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = _env("SLACK_APP_TOKEN")
    slack_api_url: str = _env("SLACK_API_URL", "https://slack.com/api/")

    # WeCom self-built app (自建应用).
    wecom_corp_id: str | None = _env("WECOM_CORP_ID")
    wecom_agent_id: int | None = _env("WECOM_AGENT_ID")
    wecom_secret: SecretStr | None = _env("WECOM_SECRET")
    wecom_token: SecretStr | None = _env("WECOM_TOKEN")
    wecom_encoding_aes_key: SecretStr | None = _env("WECOM_ENCODING_AES_KEY")
    wecom_api_url: str = _env("WECOM_API_URL", "https://qyapi.weixin.qq.com/cgi-bin/")
    # Seconds a callback's signed timestamp may differ from now (replays are refused).
    wecom_callback_window: int = Field(300, ge=10, le=3600)

    # Scheduler: local times are each rep's own timezone (else `timezone`).
    digest_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    digest_time: str = "09:00"
    reminder_time: str = "09:00"
    rescore_time: str = "02:00"
    reminders_per_day: int = Field(5, ge=1, le=50)
    grace_hours: float = Field(6, ge=0, le=72)
    send_attempts: int = Field(4, ge=1, le=10)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)

    @property
    def wecom_enabled(self) -> bool:
        return bool(self.wecom_corp_id and self.wecom_secret and self.wecom_token
                    and self.wecom_encoding_aes_key and self.wecom_agent_id is not None)

    @field_validator("digest_time", "reminder_time", "rescore_time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        hours, _, minutes = value.partition(":")
        if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
            raise ValueError(f"a time of day is HH:MM (24-hour), like 09:00, not {value!r}")
        return f"{int(hours):02d}:{int(minutes):02d}"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value):
        return value.strip().upper() if isinstance(value, str) else value

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
