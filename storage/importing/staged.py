"""SQLite: an orders import staged in TEMP tables, then merged in short transactions.

TEMP tables live in a file of their own, so staging (reading, converting, validating every
row) takes no lock on the book however long it runs. Once the whole file is valid, `merge`
moves it into the book a few thousand rows per transaction, the new accounts first; the
orders become visible together, in the last transaction (see merge.py for why and how).
"""
from __future__ import annotations

from sqlalchemy.engine import Connection, Engine

from datetime import date

from storage.importing import merge
from storage.importing.checks import staged_order_doubts
from storage.importing.errors import ErrorCollector, ImportFailed, ImportSummary, RowError
from storage.importing.orders import COLUMNS, Converted, Currencies, Progress, converted_batches
from storage.importing.reader import Table

# No column types: values keep the type they were staged with, and take the book's column
# affinities on the way in, exactly as a direct insert would.
_STAGE = ("CREATE TEMP TABLE _orders_in (account, order_date, amount, order_id, margin, "
          "category, currency, dedupe_key)",
          "CREATE TEMP TABLE _keys_in (key, name)")
_DROP = ("DROP TABLE IF EXISTS temp._orders_in", "DROP TABLE IF EXISTS temp._keys_in",
         "DROP TABLE IF EXISTS temp._plan")
# Once the accounts exist: the rows with their account ids, in the covering index's order,
# so each merge transaction touches a narrow range of its pages instead of all of them.
_PLAN = ("CREATE TEMP TABLE _plan AS SELECT a.id AS account_id, t.order_date, t.amount, "
         "t.order_id, t.margin, t.category, t.currency, t.dedupe_key "
         "FROM temp._orders_in t JOIN main.accounts a ON a.key = t.account "
         "ORDER BY a.id, t.order_date")
_NEW_ACCOUNTS = ("INSERT INTO main.accounts (key, name) SELECT k.key, coalesce(k.name, k.key) "
                 "FROM temp._keys_in k "
                 "WHERE k.rowid > ? AND k.rowid <= ? "
                 "AND NOT EXISTS (SELECT 1 FROM main.accounts a WHERE a.key = k.key)")
_NEW_ORDERS = (f"INSERT INTO main.orders ({COLUMNS}) SELECT {COLUMNS} FROM temp._plan "
               "WHERE rowid > ? AND rowid <= ? ON CONFLICT (dedupe_key) DO NOTHING")
_WOULD_CREATE = ("SELECT (SELECT count(*) FROM (SELECT DISTINCT dedupe_key FROM temp._orders_in) t "
                 "WHERE NOT EXISTS (SELECT 1 FROM main.orders o WHERE o.dedupe_key = t.dedupe_key)),"
                 " (SELECT count(*) FROM temp._keys_in k "
                 "WHERE NOT EXISTS (SELECT 1 FROM main.accounts a WHERE a.key = k.key)),"
                 " (SELECT count(*) FROM temp._keys_in k WHERE k.name IS NOT NULL "
                 "AND NOT EXISTS (SELECT 1 FROM main.accounts a WHERE a.key = k.key))")



def import_orders_staged(engine: Engine, table: Table, index: dict[str, int],
                         summary: ImportSummary, errors: ErrorCollector, *,
                         default_currency: str, dry_run: bool, progress: Progress | None = None,
                         waiting: merge.Waiting | None = None, strict: bool = False,
                         today: date | None = None) -> None:
    """Stage, validate, then (unless `dry_run`, an error, or with `strict` a doubtful row)
    merge into the book. Doubtful rows (future dates, outlier amounts) are checked on the
    staging, so `strict` refuses them before anything reaches the book."""
    with engine.connect() as conn:
        # A big page cache keeps the unique and covering indexes in memory while merging
        # (per connection: set back before the connection returns to the pool).
        cache = conn.exec_driver_sql("PRAGMA main.cache_size").scalar_one()
        conn.exec_driver_sql("PRAGMA main.cache_size=-262144")
        try:
            currencies = Currencies.of_book(conn, default_currency)
            conn.rollback()  # no read transaction held while staging
            staged, keys = _stage(conn, table, index, summary, errors, currencies, progress)
            if errors or not staged:
                return
            summary.doubts, summary.doubts_total = staged_order_doubts(conn, today or date.today())
            conn.rollback()  # read only; the merge begins its own transactions
            if strict and summary.doubts_total:
                raise ImportFailed(table.name, summary.doubts, summary.doubts_total)
            if dry_run:
                summary.created, summary.accounts_created, summary.accounts_named = (
                    conn.exec_driver_sql(_WOULD_CREATE).one())
                conn.rollback()
            else:
                _merge(conn, staged, keys, summary, waiting)
            summary.skipped = summary.rows - summary.created
        finally:
            conn.rollback()
            for sql in _DROP:  # the connection goes back to the pool: leave nothing in it
                conn.exec_driver_sql(sql)
            conn.commit()
            conn.exec_driver_sql(f"PRAGMA main.cache_size={cache}")


def _stage(conn: Connection, table: Table, index, summary, errors, currencies: Currencies,
           progress) -> tuple[int, int]:
    """Every row into temp._orders_in, every account key into temp._keys_in; (rows, keys)."""
    for sql in _STAGE:
        conn.exec_driver_sql(sql)
    cursor = conn.connection.driver_connection.cursor()
    staged = keys = 0
    report = Converted(errors=errors)
    try:
        for batch in converted_batches(table, index, currencies, False, report):
            cursor.executemany("INSERT INTO temp._orders_in VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               batch.rows)
            cursor.executemany("INSERT INTO temp._keys_in VALUES (?, ?)",
                               [(k, batch.new_names.get(k)) for k in batch.new_keys])
            staged += len(batch.rows)
            keys += len(batch.new_keys)
            if progress:
                progress(batch.position)
    finally:
        cursor.close()
    summary.rows += report.rows
    conn.commit()  # the staging only: the book is untouched
    return staged, keys


def _merge(conn: Connection, staged: int, keys: int, summary: ImportSummary, waiting) -> None:
    lease = merge.acquire(conn, waiting)
    try:
        summary.accounts_created = merge.merge_in_chunks(
            conn, lease, keys, _runner(_NEW_ACCOUNTS), last=False)
        # Named = created here with a name from the file (the accounts past the watermark).
        summary.accounts_named = conn.exec_driver_sql(
            "SELECT count(*) FROM temp._keys_in k JOIN main.accounts a ON a.key = k.key "
            "WHERE k.name IS NOT NULL AND a.id > ?", (lease.accounts_after,)).scalar_one()
        conn.exec_driver_sql(_PLAN)  # reads the book, writes only TEMP: no write lock
        conn.commit()
        summary.created = merge.merge_in_chunks(
            conn, lease, staged, _runner(_NEW_ORDERS), last=True)
    except BaseException as exc:
        conn.rollback()
        try:
            merge.undo(conn, lease)  # a no-op if the lease was taken over (already undone)
        except Exception:  # noqa: BLE001 - the lease stays; the next import undoes it
            pass
        if isinstance(exc, merge.LeaseLost):
            raise ImportFailed(summary.file, [RowError(0, None, (
                "the import stopped renewing its lease for minutes, so another process "
                "undid it (or the demo reset the database); nothing was imported. Run it "
                "again"))]) from None
        raise


def _runner(sql: str):
    def write(c: Connection, after: int, upto: int) -> int:
        return c.exec_driver_sql(sql, (after, upto)).rowcount
    return write
