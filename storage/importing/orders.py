"""The orders importer: streaming, all or nothing, idempotent on a dedupe key.

Speed matters here (millions of rows). Rows are converted in one tight loop, with caches
for the values exports repeat (dates), into batches shaped for the database: for
PostgreSQL one text per batch, fields separated by US (0x1f), rows by newlines, empty
meaning NULL, taken as is by `COPY ... (FORMAT csv, DELIMITER E'\\x1f')`; for SQLite a list
of tuples for `executemany` into a staging table (`staged.py`). Big CSV files are
converted in a second process while this one writes (two cores, one import); tuples cross
over with `marshal`, the cheapest serialiser for them (about 5x cheaper to load than
splitting text).

On the first bad row writing stops; validation goes on so the report lists every
problem, and nothing reaches the book (PostgreSQL: the caller rolls the transaction back;
SQLite: the staging is dropped before any merge).
"""
from __future__ import annotations

import ctypes
import hashlib
import marshal
import multiprocessing
import os
import re
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage.importing.errors import ErrorCollector, ImportFailed, ImportSummary, RowError
from storage.importing.parse import (amount_mark, mark_currency, mark_fits, parse_amount,
                                     parse_currency, parse_date)
from storage.importing.reader import Table, open_table
from storage.models import Account, Order
from storage.rates import currencies_with_rates

BATCH = 20_000
FOUR_PLACES = Decimal("0.0001")
LIMIT = Decimal(10) ** 14
SEP = "\x1f"
FIELDS = 8  # account key, date, amount, order_id, margin, category, currency, dedupe key
SCAN_INDEX = "ix_orders_account_date_amount"
# Amounts already in canonical form (most rows of most exports) skip Decimal entirely.
_PLAIN = re.compile(r"-?\d{1,14}(?:\.\d{1,4})?").fullmatch
_SYMBOL_GROUPED = re.compile(r"([¥￥$])?(-)?(\d{1,3}(?:,\d{3}){1,4}|\d{1,14})(\.\d{1,4})?").fullmatch

Progress = Callable[[int], None]


@dataclass
class Batch:
    rows: str | list[tuple]  # COPY text (PostgreSQL) or tuples (SQLite); see the module doc
    new_keys: list[str]  # account keys this batch is the first to mention
    position: int  # how far the reader got, in the table's `total` unit
    new_names: dict[str, str] = field(default_factory=dict)  # their names, when the file has them


@dataclass(frozen=True)
class Currencies:
    """What an order's currency may be: the reporting currency (a row that says none, in a
    currency column or its amount's sign, is in it) or one with a rate into it."""

    reporting: str
    rated: frozenset[str]

    @classmethod
    def of_book(cls, conn: Connection, reporting: str) -> "Currencies":
        return cls(reporting, currencies_with_rates(conn, reporting))


@dataclass
class Converted:
    """What a conversion pass reports besides its batches."""

    rows: int = 0
    errors: ErrorCollector = field(default_factory=ErrorCollector)


def import_orders(conn: Connection, table: Table, index: dict[str, int], summary: ImportSummary,
                  errors: ErrorCollector, *, default_currency: str,
                  progress: Progress | None = None) -> None:
    """PostgreSQL: stream `table` into `orders` inside the caller's transaction (MVCC: the
    bot's writes never wait on it). SQLite stages and merges instead: `staged.py`."""
    currencies = Currencies.of_book(conn, default_currency)
    sink = _PostgresSink(conn)
    known = dict(conn.execute(sa.select(Account.key, Account.id)).all())
    rebuild = _drop_scan_index_if_big(conn, table)
    report = Converted(errors=errors)
    for batch in converted_batches(table, index, currencies, True, report):
        created, named = _create_accounts(conn, known, batch.new_keys, batch.new_names)
        summary.accounts_created += created
        summary.accounts_named += named
        sink.write(batch.rows)
        if progress:
            progress(batch.position)
    summary.rows += report.rows
    if errors:
        return
    summary.created = sink.finish()
    summary.skipped = summary.rows - summary.created
    if rebuild is not None:
        rebuild()


def converted_batches(table: Table, index: dict[str, int], currencies: Currencies,
                      copy_text: bool, report: Converted) -> Iterator[Batch]:
    """The table's rows as batches: converted in a second process for big CSV files."""
    if table.big and table.path is not None:
        return _convert_in_child(table, index, currencies, copy_text, report, BATCH)
    return convert_rows(table, index, currencies, copy_text, report, BATCH)


def convert_rows(table: Table, index: dict[str, int], currencies: Currencies, copy_text: bool,
                 report: Converted, batch_size: int = BATCH) -> Iterator[Batch]:
    """Batches of converted rows; none once an error is seen (validation still goes on)."""
    convert = _row_converter(index, currencies, report.errors)
    width = len(table.header)
    errors = report.errors
    seen_keys: set[str] = set()
    lines: list = []
    new_keys: list[str] = []
    new_names: dict[str, str] = {}
    name_at = index.get("name")
    rows = 0
    for line_no, cells in table.rows:
        rows += 1
        if len(cells) != width:
            if len(cells) > width:
                errors.add(line_no, None, f"{len(cells)} fields but the header has {width}: a "
                                          "value probably contains an unquoted comma; quote it")
                continue
            cells = cells + [""] * (width - len(cells))
        row = convert(line_no, cells)
        if row is None or errors:
            continue
        if row[0] not in seen_keys:
            seen_keys.add(row[0])
            new_keys.append(row[0])
            if name_at is not None and str(cells[name_at]).strip():
                new_names[row[0]] = str(cells[name_at]).strip()[:300]
        if copy_text:
            text = SEP.join(row)
            if text.count(SEP) != FIELDS - 1 or "\n" in text or "\r" in text or "\x1e" in text:
                errors.add(line_no, None, "a value contains a line break or a control "
                                          "character; remove it from the file")
                continue
            lines.append(text)
        else:
            lines.append(row)
        if len(lines) >= batch_size:
            yield Batch(_pack(lines, copy_text), new_keys, table.position(), new_names)
            lines, new_keys, new_names = [], [], {}
    report.rows = rows
    if lines and not errors:
        yield Batch(_pack(lines, copy_text), new_keys, table.position(), new_names)


def _pack(lines: list, copy_text: bool) -> str | list[tuple]:
    if copy_text:
        return "\n".join(lines)
    # Empty optional fields are NULLs in the database.
    return [(k, d, a, o or None, m or None, c or None, cur, dd)
            for k, d, a, o, m, c, cur, dd in lines]


def _row_converter(index: dict[str, int], currencies: Currencies, errors: ErrorCollector):
    """A function turning one row's cells into the 8 text fields, or None (errors recorded).

    The currency is the currency column's, else the one the amount's sign names ("¥1,200"
    is CNY), else the reporting currency; a sign that contradicts the column is an error,
    and so is a currency with no rate into the reporting one (it could not be converted)."""
    reporting, rated = currencies.reporting, currencies.rated
    ia, idt, iam = index["account"], index["date"], index["amount"]
    io, im, ic, icur = (index.get(c) for c in ("order_id", "margin", "category", "currency"))
    dates: dict[object, str] = {}
    codes: dict[str, str] = {}  # currency cells as written -> ISO codes

    def convert(line: int, cells: list) -> tuple[str, ...] | None:
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
        raw_amount = cells[iam]
        try:
            amount, mark = _amount_and_mark(raw_amount)
        except ValueError as exc:
            errors.add(line, "amount", str(exc))
            return None
        order_id = cells[io].strip() if io is not None else ""
        margin = cells[im].strip() if im is not None else ""
        if margin:
            try:
                margin = _margin_text(margin, amount)
            except ValueError as exc:
                errors.add(line, "margin", str(exc))
                ok = False
        category = cells[ic].strip() if ic is not None else ""
        raw_currency = cells[icur].strip() if icur is not None else ""
        currency, said_by = reporting, None
        if raw_currency:
            currency, said_by = codes.get(raw_currency), "currency"
            if currency is None:
                try:
                    currency = codes[raw_currency] = parse_currency(raw_currency)
                except ValueError as exc:
                    errors.add(line, "currency", str(exc))
                    return None
            if mark and not mark_fits(mark, currency):
                errors.add(line, "currency", f"the amount {raw_amount!r} is written in "
                                             f"{mark} but the currency is {currency}; make "
                                             "them agree")
                ok = False
        elif mark:
            currency, said_by = mark_currency(mark), "amount"
        if currency not in rated:
            errors.add(line, said_by, _no_rate(currency, reporting, said_by, raw_amount))
            ok = False
        if not ok:
            return None
        if order_id:
            dedupe = "o:" + order_id
        else:
            content = SEP.join((key, iso, _canonical(amount), margin, category, raw_currency))
            dedupe = "h:" + hashlib.blake2b(content.encode(), digest_size=16).hexdigest()
        return key, iso, amount, order_id, margin, category, currency, dedupe

    return convert


def _no_rate(currency: str, reporting: str, said_by: str | None, raw_amount) -> str:
    where = f"the amount {raw_amount!r} is in {currency}" if said_by == "amount" else (
        f"the order is in {currency}")
    return (f"{where}, which has no exchange rate into {reporting} (the reporting currency, "
            f"TIERBOT_CURRENCY): import {currency} rates first (tierbot import rates FILE), "
            "then this file again")


def _amount_and_mark(raw: object) -> tuple[str, str | None]:
    """An amount as exact decimal text with at most 4 places (plain numbers pass
    untouched), and the currency sign or code written in it, if any ("¥", "USD")."""
    if isinstance(raw, str):
        if _PLAIN(raw):
            return raw, None
        m = _SYMBOL_GROUPED(raw)  # ¥1,234.50: the next most common shape
        # A lone group without decimals ("1,234") is ambiguous: parse_amount explains why.
        if m and (m[4] or m[3].count(",") != 1):
            return (m[2] or "") + m[3].replace(",", "") + (m[4] or ""), m[1]
    amount = parse_amount(raw).quantize(FOUR_PLACES, ROUND_HALF_EVEN)
    if abs(amount) >= LIMIT:
        raise ValueError(f"{raw!r} is too large for an amount (at most 14 digits before the point)")
    return str(amount), amount_mark(raw)


def _amount_text(raw: object) -> str:
    return _amount_and_mark(raw)[0]


def _canonical(text: str) -> str:
    """One spelling per value (12.5 == 12.50), for content hashes."""
    return str(Decimal(text).quantize(FOUR_PLACES))


def _margin_text(raw: str, amount_text: str) -> str:
    if raw.endswith("%"):
        try:
            pct = Decimal(raw[:-1].strip())
        except ArithmeticError:
            raise ValueError(f"{raw!r} is not a percentage; write 25% or an amount") from None
        return str((Decimal(amount_text) * pct / 100).quantize(FOUR_PLACES, ROUND_HALF_EVEN))
    return _amount_text(raw)


def _convert_in_child(table: Table, index, currencies: Currencies, copy_text: bool,
                      report: Converted, batch_size: int) -> Iterator[Batch]:
    """Read and convert in a second process while this one writes.

    The batches come over a one-way pipe that only this process reads: if it dies (even by
    `kill -9`), the child's next send fails and it exits; on Linux it is killed at once
    (PR_SET_PDEATHSIG). A Queue would not do: the child holds its read end too, so a
    child blocked on a full queue would wait forever for a reader that is gone."""
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child_main, daemon=True,
                        args=(str(table.path), table.encoding, index, currencies, copy_text,
                              batch_size, sender, os.getpid()))
    child.start()
    sender.close()  # the child's copy is the only one: its end closing means it ended

    def receive():
        try:
            return _next_message(receiver, child)
        except ConverterDied as exc:
            raise ImportFailed(table.name, [RowError(0, None, str(exc))]) from None

    try:
        while (message := receive())[0] == "batch":
            _, rows, new_keys, position, new_names = message
            yield Batch(rows if copy_text else marshal.loads(rows), new_keys, position, new_names)
        _, report.rows, listed, total = message
        for e in listed:
            report.errors.add(e.line, e.column, e.reason)
        report.errors.total = max(report.errors.total, total)
    finally:
        receiver.close()  # a child still sending (import stopped early) gets EPIPE and ends
        child.join(timeout=5)
        if child.is_alive():
            child.terminate()
            child.join(timeout=5)
        child.close()


class ConverterDied(RuntimeError):
    """The converting process ended without finishing; the import is rolled back."""


def _next_message(receiver, child, poll_seconds: float = 1.0):
    """The child's next message; never waits forever on a child that has died."""
    while True:
        if receiver.poll(poll_seconds):
            try:
                return receiver.recv()
            except EOFError:  # every sending end closed: the child is gone
                break
        if not child.is_alive() and not receiver.poll(0):
            break
    child.join(timeout=5)
    raise ConverterDied(
        f"the process reading the file ended unexpectedly (exit code {child.exitcode}); "
        "nothing was imported. Run the import again; if it keeps failing, report it with "
        "this message.")


def _child_main(path: str, encoding: str, index, currencies: Currencies, copy_text: bool,
                batch_size: int, sender, parent: int) -> None:
    _die_with_parent(parent)
    report = Converted()
    try:
        table = open_table(Path(path), encoding=encoding)
        try:
            for batch in convert_rows(table, index, currencies, copy_text, report,
                                      batch_size):
                rows = batch.rows if copy_text else marshal.dumps(batch.rows)
                sender.send(("batch", rows, batch.new_keys, batch.position, batch.new_names))
        finally:
            table.close()
    except ImportFailed as exc:
        for e in exc.errors:
            report.errors.add(e.line, e.column, e.reason)
        report.errors.total = max(report.errors.total, exc.total)
    except (BrokenPipeError, ConnectionResetError):
        os._exit(1)  # the importer is gone: nobody to report to
    sender.send(("end", report.rows, report.errors.errors, report.errors.total))


PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """On Linux, have the kernel kill this process when the importer dies; elsewhere the
    broken pipe ends it at its next send (one batch later)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)


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


def _create_accounts(conn: Connection, known: dict[str, int], keys: list[str],
                     names: dict[str, str] | None = None) -> tuple[int, int]:
    """Create the accounts in `keys` not seen before, named from the file's account name
    column when it has one, else by their key: (how many created, how many named).

    `known` maps every account key to its id and is kept up to date."""
    new = [k for k in keys if k not in known]
    names = names or {}
    if new:
        conn.execute(sa.insert(Account), [{"key": k, "name": names.get(k, k)} for k in new])
        for start in range(0, len(new), 1000):
            chunk = new[start:start + 1000]
            known.update(conn.execute(
                sa.select(Account.key, Account.id).where(Account.key.in_(chunk))).all())
    return len(new), sum(1 for k in new if k in names)


COLUMNS = "account_id, order_date, amount, order_id, margin, category, currency, dedupe_key"


class _PostgresSink:
    def __init__(self, conn: Connection) -> None:
        self.cursor = conn.connection.driver_connection.cursor()
        self.cursor.execute(
            "CREATE TEMP TABLE _orders_in (account text, order_date date, amount numeric(18,4), "
            "order_id text, margin numeric(18,4), category text, currency text, dedupe_key text) "
            "ON COMMIT DROP")

    def write(self, text: str) -> None:
        # Keys become ids in the final INSERT ... JOIN, on the server.
        with self.cursor.copy("COPY _orders_in FROM STDIN WITH (FORMAT csv, DELIMITER E'\\x1f', "
                              "QUOTE E'\\x1e')") as copy:
            copy.write(text + "\n")

    def finish(self) -> int:
        self.cursor.execute(
            f"INSERT INTO orders ({COLUMNS}) SELECT a.id, t.order_date, t.amount, t.order_id, "
            "t.margin, t.category, t.currency, t.dedupe_key FROM _orders_in t "
            "JOIN accounts a ON a.key = t.account ON CONFLICT (dedupe_key) DO NOTHING")
        inserted = self.cursor.rowcount
        self.cursor.execute("DROP TABLE _orders_in")
        self.cursor.close()
        return inserted
