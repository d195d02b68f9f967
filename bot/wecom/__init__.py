"""The WeCom (企业微信) adapter: every wechatpy import lives in this package."""
from __future__ import annotations

import string

AES_KEY_LENGTH = 43  # WeCom's EncodingAESKey: a 32-byte AES key in base64, without its "="
_AES_KEY_ALPHABET = frozenset(string.ascii_letters + string.digits + "+/")


class WeComSetupError(ValueError):
    """A WeCom setting that can't work; the message names it and says what it must be."""


def check_encoding_aes_key(key: str) -> None:
    """Refuse an EncodingAESKey WeCom could not have made, without quoting it (a secret).

    43 base64 characters always decode (with the "=" WeCom leaves off) to the 32 bytes
    wechatpy needs; anything else made it fail with a bare assertion or binascii error."""
    what = ("WECOM_ENCODING_AES_KEY must be the 43-character EncodingAESKey from the WeCom "
            "admin console (应用管理 > the app > 接收消息 > 设置API接收), copied whole")
    if len(key) != AES_KEY_LENGTH:
        raise WeComSetupError(f"{what}; the one set has {len(key)} characters.")
    if not set(key) <= _AES_KEY_ALPHABET:
        raise WeComSetupError(f"{what}; the one set has characters other than letters and "
                              "digits (and + /).")
