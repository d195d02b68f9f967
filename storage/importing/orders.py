"""The orders importer: streaming, one transaction, idempotent on a dedupe key.

Speed matters here (millions of rows), so rows are converted in one tight loop with
caches for the values exports repeat (dates, account keys) and written in batches:
`executemany` on SQLite, `COPY` into a temporary table on PostgreSQL. On the first bad
row writing stops; validation goes on so the report lists every problem, and the
transaction is rolled back (all or nothing).
"""
from __future__ import annotations

import hashlib
import re
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage.importing.errors import ErrorCollector, ImportSummary
from storage.importing.parse import parse_amount, parse_date
from storage.importing.reader import Table
from storage.models import Account, Order

BATCH = 20_000
FOUR_PLACES = Decimal("0.0001")
ORDER_COLUMNS = ("account_id", "order_date", "amount", "order_id", "margin", "category",
                 "currency", "dedupe_key")
CURRENCY_SYMBOLS = {"¥": "CNY", "￥": "CNY", "RMB": "CNY", "元": "CNY", "$": "USD", "US$": "USD",
                    "€": "EUR", "£": "GBP", "HK$": "HKD"}

Progress = Callable[[int], None]
SCAN_INDEX = "ix_orders_account_date_amount"
LIMIT = Decimal(10) ** 14
# Amounts already in canonical form (most rows of most exports) skip Decimal entirely.
_PLAIN = re.compile(r"-?\d{1,14}(?:\.\d{1,4})?").fullmatch
_SYMBOL_GROUPED = re.compile(r"[¥￥$]?(-)?(\d{1,3}(?:,\d{3}){1,4})(\.\d{1,4})?").fullmatch


def import_orders(conn: Connection, table: Table, index: dict[str, int], summary: ImportSummary,
                  errors: ErrorCollector, *, default_currency: str,
                  progress: Progress | None = None) -> None:
    """Stream `table` into `orders` inside the caller's transaction."""
    sink = _PostgresSink(conn) if conn.dialect.name == "postgresql" else _SqliteSink(conn)
    accounts = dict(conn.execute(sa.select(Account.key, Account.id)).all())
    ia, idt, iam = index["account"], index["date"], index["amount"]
    optional = [index.get(c) for c in ("order_id", "margin", "category", "currency")]
    width = len(table.header)
    dates: dict[object, str] = {}
    batch: list[tuple] = []
    rebuild = _drop_scan_index_if_big(conn, table)

    def flush() -> None:
        summary.accounts_created += _create_accounts(conn, accounts, {r[0] for r in batch})
        sink.write([(accounts[r[0]], *r[1:]) for r in batch])
        batch.clear()

    for line, cells in table.rows:
        summary.rows += 1
        if len(cells) != width:
            if len(cells) > width:
                errors.add(line, None, f"{len(cells)} fields but the header has {width}: a value "
                                       "probably contains an unquoted comma; quote it")
                continue
            cells = cells + [""] * (width - len(cells))
        row = _convert(line, cells, ia, idt, iam, optional, dates, errors, default_currency)
        if row is None or errors:
            continue
        batch.append(row)
        if len(batch) >= BATCH:
            flush()
            if progress:
                progress(table.position())
    if errors:
        return
    if batch:
        flush()
    summary.created = sink.finish()
    summary.skipped = summary.rows - summary.created
    if rebuild is not None:
        rebuild()


def _drop_scan_index_if_big(conn: Connection, table: Table):
    """For an import big next to the table, drop the covering index and rebuild it at the end.

    Building an index by sorting once is several times faster than keeping it up to date
    row by row. It happens inside the import's transaction, so a failed import restores it.
    """
    if not table.big:
        return None
    existing = conn.execute(sa.select(sa.func.count()).select_from(Order)).scalar_one()
    estimated_rows = table.total // 60  # bytes per orders line in typical exports
    if estimated_rows < existing:
        return None
    index = next(i for i in Order.__table__.indexes if i.name == SCAN_INDEX)
    index.drop(conn)
    return lambda: index.create(conn)


def _convert(line, cells, ia, idt, iam, optional, dates, errors, default_currency):
    """One CSV row -> (account key, date, amount, order_id, margin, category, currency, key)."""
    ok = True
    key = cells[ia].strip()
    if not key:
        errors.add(line, "account", "account key is empty; every order needs the account's key")
        ok = False
    raw_date = cells[idt]
    iso = dates.get(raw_date)
    if iso is None:
        try:
            iso = dates[raw_date] = parse_date(raw_date).isoformat()
        except ValueError as exc:
            errors.add(line, "date", str(exc))
            ok = False
    try:
        amount_text = _amount_text(cells[iam])
    except ValueError as exc:
        errors.add(line, "amount", str(exc))
        return None
    io, im, ic, icur = optional
    order_id = cells[io].strip() if io is not None else ""
    margin = None
    if im is not None and (raw_margin := cells[im].strip()):
        try:
            margin = _parse_margin(raw_margin, amount_text)
        except ValueError as exc:
            errors.add(line, "margin", str(exc))
            ok = False
    category = cells[ic].strip() if ic is not None else ""
    raw_currency = cells[icur].strip() if icur is not None else ""
    currency = default_currency
    if raw_currency:
        currency = CURRENCY_SYMBOLS.get(raw_currency.upper(), raw_currency.upper())
        if len(currency) != 3 or not currency.isalpha():
            errors.add(line, "currency", f"{raw_currency!r} is not a currency; use a 3-letter "
                                         "code like USD or CNY")
            ok = False
    if not ok:
        return None
    if order_id:
        dedupe = "o:" + order_id
    else:
        content = "\x1f".join((key, iso, _canonical(amount_text), margin or "", category,
                               raw_currency))
        dedupe = "h:" + hashlib.blake2b(content.encode(), digest_size=16).hexdigest()
    return (key, iso, amount_text, order_id or None, margin, category or None, currency, dedupe)


def _amount_text(raw: object) -> str:
    """An amount as exact decimal text with at most 4 places; plain numbers pass untouched."""
    if isinstance(raw, str):
        if _PLAIN(raw):
            return raw
        m = _SYMBOL_GROUPED(raw)  # ¥1,234.50: the next most common shape
        # A lone group without decimals ("1,234") is ambiguous: parse_amount explains why.
        if m and (m[3] or m[2].count(",") > 1):
            return (m[1] or "") + m[2].replace(",", "") + (m[3] or "")
    amount = parse_amount(raw).quantize(FOUR_PLACES, ROUND_HALF_EVEN)
    if abs(amount) >= LIMIT:
        raise ValueError(f"{raw!r} is too large for an amount (at most 14 digits before the point)")
    return str(amount)


def _canonical(text: str) -> str:
    """One spelling per value (12.5 == 12.50), for content hashes."""
    return str(Decimal(text).quantize(FOUR_PLACES))


def _parse_margin(raw: str, amount_text: str) -> str:
    if raw.endswith("%"):
        try:
            pct = Decimal(raw[:-1].strip())
        except ArithmeticError:
            raise ValueError(f"{raw!r} is not a percentage; write 25% or an amount") from None
        return str((Decimal(amount_text) * pct / 100).quantize(FOUR_PLACES, ROUND_HALF_EVEN))
    return _amount_text(raw)


def _create_accounts(conn: Connection, accounts: dict[str, int], keys: set[str]) -> int:
    """Create the accounts in `keys` not seen before (named by their key); returns how many."""
    new = sorted(k for k in keys if k not in accounts)
    if not new:
        return 0
    conn.execute(sa.insert(Account), [{"key": k, "name": k} for k in new])
    for start in range(0, len(new), 1000):
        chunk = new[start:start + 1000]
        accounts.update(conn.execute(
            sa.select(Account.key, Account.id).where(Account.key.in_(chunk))).all())
    return len(new)


class _SqliteSink:
    SQL = (f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}) VALUES "
           f"({', '.join('?' * len(ORDER_COLUMNS))}) ON CONFLICT (dedupe_key) DO NOTHING")

    def __init__(self, conn: Connection) -> None:
        self.cursor = conn.connection.driver_connection.cursor()
        # A bigger page cache keeps the unique index in memory during big imports.
        self.cursor.execute("PRAGMA cache_size=-262144")
        self.inserted = 0

    def write(self, batch: list[tuple]) -> None:
        self.cursor.executemany(self.SQL, batch)
        self.inserted += self.cursor.rowcount

    def finish(self) -> int:
        self.cursor.close()
        return self.inserted


class _PostgresSink:
    def __init__(self, conn: Connection) -> None:
        self.cursor = conn.connection.driver_connection.cursor()
        self.cursor.execute(
            "CREATE TEMP TABLE _orders_in (account_id integer, order_date date, "
            "amount numeric(18,4), order_id varchar, margin numeric(18,4), category varchar, "
            "currency varchar, dedupe_key varchar) ON COMMIT DROP")

    def write(self, batch: list[tuple]) -> None:
        cols = ", ".join(ORDER_COLUMNS)
        with self.cursor.copy(f"COPY _orders_in ({cols}) FROM STDIN") as copy:
            for row in batch:
                copy.write_row(row)

    def finish(self) -> int:
        cols = ", ".join(ORDER_COLUMNS)
        self.cursor.execute(f"INSERT INTO orders ({cols}) SELECT {cols} FROM _orders_in "
                            "ON CONFLICT (dedupe_key) DO NOTHING")
        inserted = self.cursor.rowcount
        self.cursor.execute("DROP TABLE _orders_in")
        self.cursor.close()
        return inserted
