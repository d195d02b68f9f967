"""`import_file`: one file of one kind, all or nothing.

PostgreSQL: one transaction (its MVCC lets the bot write meanwhile). SQLite, one writer at
a time: orders are staged and merged in short transactions (`staged.py`); the other kinds,
small by nature, are validated and written in one transaction that takes the write lock at
BEGIN, so a chat write committed meanwhile cannot make it fail with "database is locked".
"""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Callable

from sqlalchemy.engine import Connection, Engine

from storage.engine import is_sqlite
from storage.importing import merge, records
from storage.importing.checks import last_order_id, order_doubts
from storage.importing.columns import SPECS, map_columns
from storage.importing.errors import ErrorCollector, ImportFailed, ImportSummary, RowError
from storage.importing.orders import import_orders
from storage.importing.rates import import_rates
from storage.importing.reader import Table, open_table
from storage.importing.staged import import_orders_staged

KINDS = tuple(SPECS)
_RECORD_IMPORTERS = {
    "reps": records.import_reps,
    "accounts": records.import_accounts,
    "interactions": records.import_interactions,
    "feedback": records.import_feedback,
}
# Called once with the table's total size; returns a callback taking the position.
ProgressFactory = Callable[[int], Callable[[int], None]]


def import_file(engine: Engine, kind: str, path: Path, *, dry_run: bool = False,
                encoding: str | None = None, default_currency: str = "USD",
                progress: ProgressFactory | None = None,
                waiting: merge.Waiting | None = None, strict: bool = False,
                today: date | None = None) -> ImportSummary:
    """Import `path` as `kind`. Raises ImportFailed (nothing written) on any bad row, and
    with `strict` on any doubtful one too (`summary.doubts`: future order dates, outlier
    amounts, a next date before its contact), which are otherwise reported as warnings.

    `default_currency` is the reporting currency: orders that say no currency are in it,
    orders in another need a rate into it, and rates are rates into it.
    `waiting` is told (once) when the import waits for another one to finish merging."""
    today = today or date.today()
    if kind not in SPECS:
        raise ImportFailed(path.name, [RowError(0, None, f"unknown kind {kind!r}; use one of: "
                                                         f"{', '.join(KINDS)}")])
    table = open_table(path, encoding=encoding)
    try:
        index, warnings = map_columns(kind, table.header, table.name)
        summary = ImportSummary(kind=kind, file=table.name, dry_run=dry_run, warnings=warnings)
        errors = ErrorCollector()
        tick = progress(table.total) if progress and table.big and kind == "orders" else None
        if kind == "orders" and is_sqlite(engine):
            import_orders_staged(engine, table, index, summary, errors, dry_run=dry_run,
                                 default_currency=default_currency, progress=tick,
                                 waiting=waiting, strict=strict, today=today)
            _check(table, summary, errors)
            return summary
        with engine.connect() as conn:
            trans = _begin(conn, waiting)
            try:
                if kind == "orders":
                    before = last_order_id(conn)
                    import_orders(conn, table, index, summary, errors,
                                  default_currency=default_currency, progress=tick)
                elif kind == "rates":
                    import_rates(conn, table, index, summary, errors, reporting=default_currency)
                else:
                    _RECORD_IMPORTERS[kind](conn, table, index, summary, errors)
                _check(table, summary, errors)
                if kind == "orders":
                    doubts, total = order_doubts(conn, before, today)
                    summary.doubts += doubts
                    summary.doubts_total += total
                if strict and summary.doubts_total:
                    raise ImportFailed(table.name, summary.doubts, summary.doubts_total)
            except BaseException:
                trans.rollback()
                raise
            if dry_run:
                trans.rollback()
            else:
                trans.commit()
        return summary
    finally:
        table.close()


def _begin(conn: Connection, waiting: merge.Waiting | None):
    """The import's transaction. On SQLite: holding the write lock, with no merge under way
    (a merge's accounts must not be touched before it ends; a dead one's are undone)."""
    if not is_sqlite(conn.engine):
        return conn.begin()
    while True:
        trans = merge.begin_immediate(conn)
        if merge.no_merge_under_way(conn):
            return trans
        trans.rollback()
        merge.wait_until_free(conn, waiting)


def _check(table: Table, summary: ImportSummary, errors: ErrorCollector) -> None:
    if errors:
        raise errors.fail(table.name)
    if summary.rows == 0:
        raise ImportFailed(table.name, [RowError(0, None, "the file has a header "
                                                          "but no data rows")])
