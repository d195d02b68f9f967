"""What a platform send returns, whichever platform: the scheduler records it as is."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str | None = None      # the platform's error code, or a short description
    retryable: bool = False       # worth trying again later (rate limit, 5xx, network)
    ref: str | None = None        # the platform's id for what was sent (ts, msgid, file id)

    @classmethod
    def sent(cls, ref: str | None = None) -> "SendResult":
        return cls(True, ref=ref)

    @classmethod
    def failed(cls, error: str, *, retryable: bool) -> "SendResult":
        return cls(False, error=error[:500], retryable=retryable)
