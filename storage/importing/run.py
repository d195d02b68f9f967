"""`import_file`: one file of one kind, all or nothing, in a single transaction."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Callable

from sqlalchemy.engine import Engine

from storage.importing import records
from storage.importing.checks import last_order_id, order_doubts
from storage.importing.columns import SPECS, map_columns
from storage.importing.errors import ErrorCollector, ImportFailed, ImportSummary, RowError
from storage.importing.orders import import_orders
from storage.importing.reader import open_table

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
                progress: ProgressFactory | None = None, strict: bool = False,
                today: date | None = None) -> ImportSummary:
    """Import `path` as `kind`. Raises ImportFailed (nothing written) on any bad row, and
    with `strict` on any doubtful one too (`summary.doubts`: future order dates, outlier
    amounts, a next date before its contact), which are otherwise reported as warnings."""
    today = today or date.today()
    if kind not in SPECS:
        raise ImportFailed(path.name, [RowError(0, None, f"unknown kind {kind!r}; use one of: "
                                                         f"{', '.join(KINDS)}")])
    table = open_table(path, encoding=encoding)
    try:
        index, warnings = map_columns(kind, table.header, table.name)
        summary = ImportSummary(kind=kind, file=table.name, dry_run=dry_run, warnings=warnings)
        errors = ErrorCollector()
        with engine.connect() as conn:
            trans = conn.begin()
            try:
                if kind == "orders":
                    before = last_order_id(conn)
                    tick = progress(table.total) if progress and table.big else None
                    import_orders(conn, table, index, summary, errors,
                                  default_currency=default_currency, progress=tick)
                else:
                    _RECORD_IMPORTERS[kind](conn, table, index, summary, errors)
                if errors:
                    raise errors.fail(table.name)
                if kind == "orders":
                    doubts, total = order_doubts(conn, before, today)
                    summary.doubts += doubts
                    summary.doubts_total += total
                if strict and summary.doubts_total:
                    raise ImportFailed(table.name, summary.doubts, summary.doubts_total)
                if summary.rows == 0:
                    raise ImportFailed(table.name, [RowError(0, None, "the file has a header "
                                                                      "but no data rows")])
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
