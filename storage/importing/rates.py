"""The exchange-rates importer: `tierbot import rates FILE`.

A row `currency, date, rate` says that from `date` on, one unit of `currency` is worth
`rate` units of the reporting currency (TIERBOT_CURRENCY at import time, stored with the
rate); storage/rates.py says how orders are converted with them. Rows are validated
first (every problem collected, nothing written if any), then upserted by (currency,
reporting currency, date): importing a corrected file updates the rates it changes.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage.importing.errors import ErrorCollector, ImportSummary
from storage.importing.parse import parse_currency, parse_rate
from storage.importing.reader import Table
from storage.importing.records import RowContext, _rows
from storage.models import ExchangeRate


def import_rates(conn: Connection, table: Table, index: dict[str, int],
                 summary: ImportSummary, errors: ErrorCollector, *, reporting: str) -> None:
    records: dict[tuple, tuple[int, dict]] = {}
    for ctx in _rows(table, index, errors, summary):
        currency = _currency(ctx, reporting)
        day = ctx.date("date", required=True)
        rate = _rate(ctx, currency, reporting)
        if not ctx.ok:
            continue
        first = records.get((currency, day))
        if first is not None:
            ctx.fail("date", f"a second {currency} rate for {day} (the first is on line "
                             f"{first[0]}); keep one rate per currency and day")
            continue
        records[(currency, day)] = (ctx.line, {"currency": currency, "rate_date": day,
                                               "rate": rate, "reporting_currency": reporting})
    if not errors:
        _upsert(conn, [rec for _, rec in records.values()], reporting, summary)


def _currency(ctx: RowContext, reporting: str) -> str | None:
    raw = ctx.text("currency", required=True, what="every rate needs the currency it converts")
    if raw is None:
        return None
    try:
        currency = parse_currency(raw)
    except ValueError as exc:
        ctx.fail("currency", str(exc))
        return None
    if currency == reporting:
        ctx.fail("currency", f"{currency} is the reporting currency (TIERBOT_CURRENCY): its "
                             "amounts count as they are (rate 1); remove this line")
        return None
    return currency


def _rate(ctx: RowContext, currency: str | None, reporting: str):
    raw = ctx.text("rate", required=True, what=f"write how many {reporting} one unit of the "
                                               "currency is worth")
    if raw is None:
        return None
    unit = currency or "unit of the currency"
    try:
        return parse_rate(raw, f"how many {reporting} one {unit} is worth")
    except ValueError as exc:
        ctx.fail("rate", str(exc))
        return None


def _upsert(conn: Connection, recs: list[dict], reporting: str,
            summary: ImportSummary) -> None:
    r = ExchangeRate.__table__.c
    current = {(c, d): rate for c, d, rate in conn.execute(
        sa.select(r.currency, r.rate_date, r.rate).where(r.reporting_currency == reporting))}
    new = [rec for rec in recs if (rec["currency"], rec["rate_date"]) not in current]
    changed = [rec for rec in recs if (rec["currency"], rec["rate_date"]) in current
               and current[(rec["currency"], rec["rate_date"])] != rec["rate"]]
    if new:
        conn.execute(sa.insert(ExchangeRate), new)
    for rec in changed:
        conn.execute(sa.update(ExchangeRate).where(
            r.currency == rec["currency"], r.reporting_currency == reporting,
            r.rate_date == rec["rate_date"]).values(rate=rec["rate"]))
    summary.created += len(new)
    summary.updated += len(changed)
    summary.skipped += len(recs) - len(new) - len(changed)
