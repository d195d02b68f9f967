from datetime import date, datetime
from decimal import Decimal

import pytest

from storage.importing.parse import detect_encoding, normalise_header, parse_amount, parse_date


@pytest.mark.parametrize("raw, expected", [
    ("2026-03-01", date(2026, 3, 1)),
    ("2026/3/1", date(2026, 3, 1)),
    ("2026.03.01", date(2026, 3, 1)),
    ("20260301", date(2026, 3, 1)),
    ("1 Mar 2026", date(2026, 3, 1)),
    ("01-Mar-2026", date(2026, 3, 1)),
    ("March 1, 2026", date(2026, 3, 1)),
    ("2026年3月1日", date(2026, 3, 1)),
    ("2026-03-01 14:22:05", date(2026, 3, 1)),
    ("2026-03-01T14:22:05Z", date(2026, 3, 1)),
    ("25/12/2026", date(2026, 12, 25)),
    ("12/25/2026", date(2026, 12, 25)),
    (" 2026-03-01 ", date(2026, 3, 1)),
    (datetime(2026, 3, 1, 9, 30), date(2026, 3, 1)),
])
def test_dates_real_exports_use(raw, expected):
    assert parse_date(raw) == expected


@pytest.mark.parametrize("raw, fragment", [
    ("3/4/2026", "ambiguous"),
    ("2026-02-30", "not a real calendar date"),
    ("yesterday", "not a date"),
    ("", "empty"),
    ("1 Foo 2026", "not a date"),
])
def test_bad_dates_say_why(raw, fragment):
    with pytest.raises(ValueError, match=fragment) as info:
        parse_date(raw)
    assert "YYYY-MM-DD" in str(info.value)


@pytest.mark.parametrize("raw, expected", [
    ("1234.50", "1234.50"),
    ("¥1,234.50", "1234.50"),
    ("￥1,234.50", "1234.50"),
    ("$ 12", "12"),
    ("1.234,5", "1234.5"),
    ("1.234.567,89", "1234567.89"),
    ("1,234,567", "1234567"),
    ("12,5", "12.5"),
    ("0", "0"),
    ("0.00", "0.00"),
    ("-12.5", "-12.5"),
    ("(45.00)", "-45.00"),
    ("-¥3.20", "-3.20"),
    ("RMB 1,000.00", "1000.00"),
    ("1000元", "1000"),
    ("USD 99.95", "99.95"),
    (1234.5, "1234.5"),
    (17, "17"),
])
def test_amounts_real_exports_use(raw, expected):
    assert parse_amount(raw) == Decimal(expected)


@pytest.mark.parametrize("raw, fragment", [
    ("1,234", "ambiguous"),
    ("abc", "not an amount"),
    ("1.2.3", "not an amount"),
    ("1,23,4", "not an amount"),
    ("NaN", "not an amount"),
    ("Infinity", "not an amount"),
    ("", "empty"),
    ("12$34", "not an amount"),
    ("1,234.5.6", "not an amount"),
])
def test_bad_amounts_say_why(raw, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_amount(raw)


def test_encoding_detection():
    text = "account,name\nCN-1,上海华锐精密制造有限公司\n"
    assert detect_encoding(("\ufeff" + text).encode("utf-8")) == "utf-8-sig"
    assert detect_encoding(text.encode("utf-8")) == "utf-8"
    assert detect_encoding(text.encode("gbk")) == "gb18030"
    # A multi-byte character cut by the sample boundary is still UTF-8.
    assert detect_encoding(text.encode("utf-8")[:-2]) == "utf-8"


def test_header_normalisation():
    assert normalise_header("\ufeffOrder ID ") == "order_id"
    assert normalise_header("Next-Date") == "next_date"
