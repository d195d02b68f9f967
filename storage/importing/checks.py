"""Rows that are valid but doubtful: warned about after an import, refused with --strict.

Orders are checked once the file is written (inside the import's transaction), over the
rows this import added, so the streaming converter stays as fast as it is: an order dated
after today, and an amount that is an extreme outlier for the book. What counts as an
outlier is measured on the book itself (robustly, on a log scale, since order values span
orders of magnitude): more than 5 robust standard deviations above the median order, and
at least 100 times it. Books of fewer than 30 orders are too small to judge.
"""
from __future__ import annotations

import math
import statistics
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage.importing.errors import MAX_LISTED_ERRORS, RowError
from storage.models import Account, Order

MIN_BOOK = 30
SAMPLE = 20_000
SIGMAS = 5.0
MIN_FACTOR = 100.0


def last_order_id(conn: Connection) -> int:
    return conn.execute(sa.select(sa.func.coalesce(sa.func.max(Order.id), 0))).scalar_one()


def outlier_threshold(conn: Connection, staged: bool = False) -> Decimal | None:
    """The absolute amount above which an order is an extreme outlier for the book, or None
    when the book is too small. Measured on an evenly spread sample of at most ~20,000 of
    the book's orders (with `staged`, SQLite's staged import counts as part of the book)."""
    total = conn.execute(sa.select(sa.func.count()).select_from(Order)).scalar_one()
    step = max(1, total // SAMPLE)
    amounts = [float(a) for a in conn.execute(sa.select(Order.amount).where(
        Order.amount != 0, (Order.id % step) == 0)).scalars()]
    if staged:
        count = conn.exec_driver_sql("SELECT count(*) FROM temp._orders_in").scalar_one()
        amounts += [a for (a,) in conn.exec_driver_sql(
            "SELECT CAST(amount AS REAL) FROM temp._orders_in WHERE rowid % ? = 0",
            (max(1, count // SAMPLE),)) if a]
    return _threshold(amounts)


def _threshold(amounts: list[float]) -> Decimal | None:
    if len(amounts) < MIN_BOOK:
        return None
    logs = [math.log10(abs(a)) for a in amounts]
    median = statistics.median(logs)
    spread = 1.4826 * statistics.median(abs(x - median) for x in logs)  # robust sd (MAD)
    return Decimal(repr(10 ** (median + max(SIGMAS * spread, math.log10(MIN_FACTOR)))))


def order_doubts(conn: Connection, after_id: int, today: date) -> tuple[list[RowError], int]:
    """The orders this import added (id > `after_id`) that are dated after `today` or whose
    amount is an extreme outlier: (the first few as report lines, how many in all)."""
    threshold = outlier_threshold(conn)
    future = Order.order_date > today
    outlier = sa.func.abs(Order.amount) > threshold if threshold is not None else sa.false()
    where = sa.and_(Order.id > after_id, sa.or_(future, outlier))
    total = conn.execute(sa.select(sa.func.count()).select_from(Order).where(where)).scalar_one()
    if not total:
        return [], 0
    rows = conn.execute(
        sa.select(Account.key, Order.order_id, Order.order_date, Order.amount)
        .join(Account, Account.id == Order.account_id).where(where)
        .order_by(Order.id).limit(MAX_LISTED_ERRORS)).all()
    return [_doubt(key, order_id, day, amount, today, threshold)
            for key, order_id, day, amount in rows], total


def _doubt(key, order_id, day: date, amount: Decimal, today: date, threshold) -> RowError:
    what = f"order {order_id!r}" if order_id else f"the order of {key!r} on {day}"
    if day > today:
        return RowError(0, "date", f"{what} is dated {day}, after today ({today}); "
                                   "check the date")
    return RowError(0, "amount", f"{what} is {amount:,.2f}, far above the book's usual orders "
                                 f"(outliers start at {threshold:,.0f}); check the amount")


def staged_order_doubts(conn: Connection, today: date) -> tuple[list[RowError], int]:
    """The same doubts over SQLite's staged import (temp._orders_in), before it is merged."""
    threshold = outlier_threshold(conn, staged=True)
    where = "order_date > ?" + (" OR abs(CAST(amount AS REAL)) > ?" if threshold else "")
    params = (today.isoformat(),) + ((float(threshold),) if threshold else ())
    total = conn.exec_driver_sql(
        f"SELECT count(*) FROM temp._orders_in WHERE {where}", params).scalar_one()
    if not total:
        return [], 0
    rows = conn.exec_driver_sql(
        f"SELECT account, order_id, order_date, amount FROM temp._orders_in WHERE {where} "
        f"ORDER BY rowid LIMIT {MAX_LISTED_ERRORS}", params).all()
    return [_doubt(key, order_id, date.fromisoformat(day), Decimal(str(amount)), today,
                   threshold) for key, order_id, day, amount in rows], total
