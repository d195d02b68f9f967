"""Parsing of the values real CRM exports contain. Pure functions, no I/O.

Each parser returns the value or raises `ValueError` with a message that says what
was wrong and what a valid value looks like; the importer adds file, line and column.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for m in names
}
_YMD = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_YMD_CN = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日?")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DMY_TEXT = re.compile(r"(\d{1,2})[ -]([A-Za-z]+)\.?,?[ -](\d{4})")
_MDY_TEXT = re.compile(r"([A-Za-z]+)\.? (\d{1,2}),? (\d{4})")
_NUMERIC_DMY = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
_TIME_TAIL = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?$")

DATE_HELP = "use YYYY-MM-DD, e.g. 2026-03-01 (also 2026/3/1, 20260301, 1 Mar 2026, 2026年3月1日)"


class AmbiguousDate(ValueError):
    """A numeric date like 3/4 that reads as both day/month and month/day."""


def month_and_day(a: int, b: int) -> tuple[int, int]:
    """(month, day) of a numeric `a/b` date, the one rule for imports and chat alike: the
    order is taken from the numbers when only one order is a date (13/4 and 4/13 are both
    13 April; 5/5 is 5 May); when both orders are dates (3/4) it is ambiguous and refused,
    because teams write both and a silently wrong date is worse than retyping one."""
    if a > 12 >= b or a == b:
        return b, a
    if b > 12 >= a:
        return a, b
    if a <= 12 and b <= 12:
        raise AmbiguousDate(f"{a}/{b}")
    return a, b  # neither order is a date: the caller's calendar check says so


def _make_date(y: int, m: int, d: int, raw: str) -> date:
    try:
        return date(y, m, d)
    except ValueError:
        raise ValueError(f"{raw!r} is not a real calendar date; {DATE_HELP}") from None


def parse_date(value: object) -> date:
    """A date from the formats CRM exports use; ambiguous day/month orders are refused."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raw = str(value).strip()
    if not raw:
        raise ValueError(f"date is empty; {DATE_HELP}")
    text = _TIME_TAIL.sub("", raw)
    if m := _YMD.fullmatch(text) or _YMD_CN.fullmatch(text) or _COMPACT.fullmatch(text):
        return _make_date(int(m[1]), int(m[2]), int(m[3]), raw)
    if m := _DMY_TEXT.fullmatch(text):
        month = MONTHS.get(m[2].lower())
        if month:
            return _make_date(int(m[3]), month, int(m[1]), raw)
    if m := _MDY_TEXT.fullmatch(text):
        month = MONTHS.get(m[1].lower())
        if month:
            return _make_date(int(m[3]), month, int(m[2]), raw)
    if m := _NUMERIC_DMY.fullmatch(text):
        a, b, y = int(m[1]), int(m[2]), int(m[3])
        try:
            month, day_ = month_and_day(a, b)
        except AmbiguousDate:
            raise ValueError(
                f"{raw!r} is ambiguous: it could be day/month or month/day; {DATE_HELP}"
            ) from None
        return _make_date(y, month, day_, raw)
    raise ValueError(f"{raw!r} is not a date; {DATE_HELP}")


AMOUNT_HELP = "write it like 1234.50, ¥1,234.50, -12 or 1.234,50"
_CURRENCY_MARKS = re.compile(
    r"^(?:RMB|CNY|USD|EUR|GBP|HKD|JPY|US\$|HK\$|[¥￥$€£])|(?:RMB|CNY|USD|EUR|GBP|HKD|JPY|元)$",
    re.IGNORECASE,
)


# A currency cell's symbol or word -> its ISO code (anything else must be a 3-letter code).
CURRENCY_SYMBOLS = {"¥": "CNY", "￥": "CNY", "RMB": "CNY", "元": "CNY", "人民币": "CNY", "$": "USD",
                    "US$": "USD", "美元": "USD", "€": "EUR", "欧元": "EUR", "£": "GBP",
                    "HK$": "HKD", "港币": "HKD"}
# The currencies a sign written in an amount may mean ("$" is many dollars, "¥" yuan or yen).
_DOLLARS = frozenset({"USD", "HKD", "AUD", "CAD", "SGD", "NZD", "TWD", "MXN"})
MARK_FITS = {"$": _DOLLARS, "¥": frozenset({"CNY", "JPY"}), "￥": frozenset({"CNY", "JPY"})}
_AMOUNT_MARK = re.compile(
    r"^[\s(−-]*(US\$|HK\$|RMB|CNY|USD|EUR|GBP|HKD|JPY|[¥￥$€£])"
    r"|(RMB|CNY|USD|EUR|GBP|HKD|JPY|元)[\s)]*$", re.IGNORECASE)


def parse_currency(value: object) -> str:
    """An ISO currency code from a currency cell: USD, cny, ¥, RMB, 人民币..."""
    raw = str(value).strip()
    code = CURRENCY_SYMBOLS.get(raw.upper(), raw.upper())
    if len(code) != 3 or not (code.isascii() and code.isalpha()):
        raise ValueError(f"{raw!r} is not a currency; use a 3-letter code like USD or CNY")
    return code


def amount_mark(value: object) -> str | None:
    """The currency sign or code written in an amount ("¥1,200" -> "¥", "12 usd" -> "USD"),
    or None when it has none."""
    if not isinstance(value, str):
        return None
    m = _AMOUNT_MARK.search(value.strip())
    return (m[1] or m[2]).upper() if m else None


def mark_currency(mark: str) -> str:
    """The currency an amount's sign stands for when nothing else says ("$" -> USD)."""
    return CURRENCY_SYMBOLS.get(mark, mark)


def mark_fits(mark: str, currency: str) -> bool:
    """Whether an amount written with `mark` can be in `currency`."""
    return currency in MARK_FITS.get(mark, {mark_currency(mark)})


def parse_rate(value: object, meaning: str = "a positive number") -> Decimal:
    """An exchange rate: a positive number (10 decimals kept). `meaning` says what the rate
    is, for the message when it is not one ("how many USD one CNY is worth")."""
    help_ = f"a rate is {meaning}, e.g. 0.1389 or 7.2"
    try:
        rate = parse_amount(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number; {help_}") from None
    if rate <= 0:
        raise ValueError(f"{value!r} is not above 0; {help_}")
    if rate >= Decimal(10) ** 13:
        raise ValueError(f"{value!r} is too large for a rate; {help_}")
    return rate.quantize(Decimal("1e-10"))


def _grouped(digits: str, sep: str) -> bool:
    return re.fullmatch(rf"\d{{1,3}}(?:{re.escape(sep)}\d{{3}})+", digits) is not None


def parse_amount(value: object) -> Decimal:
    """A money amount; negative means a return. Separators must be unambiguous."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    else:
        raw = str(value).strip()
        try:
            # Fast path: the canonical form most exports use.
            result = Decimal(raw)
        except InvalidOperation:
            result = _parse_messy_amount(raw)
    if not result.is_finite():
        raise ValueError(f"{value!r} is not an amount; {AMOUNT_HELP}")
    return result


def _parse_messy_amount(raw: str) -> Decimal:
    if not raw:
        raise ValueError(f"amount is empty; {AMOUNT_HELP}")
    text = raw.replace("\u00a0", "").replace(" ", "").replace("\u3000", "")
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1]
    if text.startswith(("-", "−")):
        negative, text = not negative, text[1:]
    for _ in range(2):
        text = _CURRENCY_MARKS.sub("", text)
    if text.startswith(("-", "−")):
        negative, text = not negative, text[1:]
    if not text or not re.fullmatch(r"[\d.,]+", text):
        raise ValueError(f"{raw!r} is not an amount; {AMOUNT_HELP}")
    number = _normalise_separators(text, raw)
    result = Decimal(number)
    return -result if negative else result


def _normalise_separators(text: str, raw: str) -> str:
    commas, dots = text.count(","), text.count(".")
    if commas and dots:
        decimal_sep = "," if text.rfind(",") > text.rfind(".") else "."
        group_sep = "." if decimal_sep == "," else ","
        whole, _, frac = text.rpartition(decimal_sep)
        if decimal_sep in whole or not _grouped(whole, group_sep) or not frac:
            raise ValueError(f"{raw!r} mixes separators in a way that is not an amount; {AMOUNT_HELP}")
        return whole.replace(group_sep, "") + "." + frac
    sep = "," if commas else "."
    count = commas or dots
    if count == 0:
        return text
    if count > 1:
        if not _grouped(text, sep):
            raise ValueError(f"{raw!r} is not an amount; {AMOUNT_HELP}")
        return text.replace(sep, "")
    whole, _, frac = text.partition(sep)
    if not whole or not frac:
        raise ValueError(f"{raw!r} is not an amount; {AMOUNT_HELP}")
    if sep == ".":
        return text
    if len(frac) == 3:
        raise ValueError(
            f"{raw!r} is ambiguous: 1,234 could mean 1234 or 1.234; "
            "write 1234, 1,234.00 or 1.234,00"
        )
    return whole + "." + frac


def detect_encoding(head: bytes) -> str:
    """The encoding of a CSV from its first bytes: BOMs, then UTF-8, else GB18030 (GBK's superset)."""
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still UTF-8.
        if exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
        return "gb18030"


def normalise_header(name: object) -> str:
    return re.sub(r"[\s\-]+", "_", str(name or "").strip().lstrip("\ufeff").lower())
