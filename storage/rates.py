"""Exchange rates, and order amounts converted into the reporting currency.

The reporting currency is the book's (TIERBOT_CURRENCY): every figure scoring sees and
every total a user reads is in it. The admin provides the rates (`tierbot import rates`):
the row `CNY, 2026-01-01, 0.1389` means that from 1 Jan 2026 one CNY is worth 0.1389 units
of the reporting currency, until CNY's next rate. One rule converts an order, everywhere
(`rate_on`):

- in the reporting currency (or with no currency recorded): at 1;
- else at its currency's latest rate dated on or before the order date;
- an order older than every rate of its currency: at that currency's earliest rate (the
  best estimate there is; refusing would leave a history older than the rates file
  unscorable, and the admin can always add older rates);
- a currency without any rate into the reporting currency is never converted, nor added
  in unconverted: imports refuse such orders, scoring refuses while the book has any
  (`MissingRates`, naming the currencies).

Rates are stored with the reporting currency they convert into, so after TIERBOT_CURRENCY
changes, rates meant for the old one are never used.

In SQL (`conversion`), the rule is applied once per currency and DAY into a temporary
table, from the first rate's day to the last; an order joins it by currency and its date
(clamped into that span: before it the earliest rate applies, after it the latest), one
index seek per order whatever the number of rates.
"""
from __future__ import annotations

import bisect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage.models import ExchangeRate, Order


class MissingRates(Exception):
    """The book has orders in currencies without a rate into the reporting currency."""

    def __init__(self, currencies, reporting: str):
        self.currencies = sorted(currencies)
        self.reporting = reporting
        listed = ", ".join(self.currencies)
        example = self.currencies[0]
        super().__init__(
            f"Orders in {listed} have no exchange rate into {reporting}, the reporting "
            f"currency (TIERBOT_CURRENCY), and amounts in different currencies are never "
            f"added unconverted. Import their rates with `tierbot import rates FILE` "
            f"(columns currency,date,rate; e.g. {example},2026-01-01,0.5 means 1 {example} "
            f"= 0.5 {reporting} from that day), then run this again.")


def rate_on(rates: list[tuple[date, float]], day: date) -> float:
    """THE rule, for one currency: its rate on `day` from its `rates` (date, rate), sorted
    by date: the latest dated on or before the day, else the earliest."""
    k = bisect.bisect_right(rates, day, key=lambda r: r[0]) - 1
    return rates[max(k, 0)][1]


def rates_by_day(rates: dict[str, list[tuple[date, float]]]):
    """(currency, day, rate) for every currency and every day from the first rate's day (of
    any currency) to the last one's, by `rate_on`."""
    days = [d for pairs in rates.values() for d, _ in pairs]
    first, last = min(days), max(days)
    for currency, pairs in rates.items():
        pairs = sorted(pairs)
        for k in range((last - first).days + 1):
            day = first + timedelta(days=k)
            yield currency, day, rate_on(pairs, day)


@dataclass(frozen=True)
class Conversion:
    """Order amounts in `reporting`, in a statement over `orders`: select from
    `joined(source)` and use `amount()`; `unconverted()` counts the rows that could not be
    (currencies without a rate). From `conversion(conn, reporting)`, while its block runs."""

    reporting: str
    dialect: str
    day_rates: sa.Table | None  # None: no rates into `reporting` at all
    first: date | None = None
    last: date | None = None

    def _orders(self, orders):
        return (orders if orders is not None else Order.__table__).c

    def joined(self, source, orders: sa.Table | None = None):
        if self.day_rates is None:
            return source
        o, r = self._orders(orders), self.day_rates.c
        day = sa.case((o.order_date < self.first, sa.literal(self.first, sa.Date)),
                      (o.order_date > self.last, sa.literal(self.last, sa.Date)),
                      else_=o.order_date)
        # Orders in the reporting currency need no rate: not even a look at the table.
        return source.outerjoin(self.day_rates, sa.and_(
            o.currency != self.reporting, r.currency == o.currency, r.day == day))

    def amount(self, orders: sa.Table | None = None):
        """The order's amount in the reporting currency, as a float (what scoring uses;
        on PostgreSQL float8 sums are several times cheaper than NUMERIC ones). Only
        orders in the reporting currency (or none recorded) are joined to no rate and
        count at 1, so a sum is right exactly when `unconverted()` is 0 over the same
        rows: every caller checks it and refuses otherwise (a CASE telling the two apart
        in every sum costs the scan ~40% more than this COALESCE)."""
        o = self._orders(orders)
        amount = sa.cast(o.amount, sa.Double) if self.dialect == "postgresql" else o.amount
        if self.day_rates is None:
            return amount
        return amount * sa.func.coalesce(self.day_rates.c.rate, 1.0)

    def unconverted(self, orders: sa.Table | None = None):
        """How many of the rows are in another currency and have no rate (an aggregate)."""
        o = self._orders(orders)
        foreign = o.currency != self.reporting  # NULL (no currency recorded): not foreign
        if self.day_rates is None:
            return sa.func.count().filter(foreign)
        return sa.func.count().filter(sa.and_(foreign, self.day_rates.c.rate.is_(None)))


_DAY_RATES = "_rates_by_day"


@contextmanager
def conversion(conn: Connection, reporting: str) -> Iterator[Conversion]:
    """The rates into `reporting` as a temporary table of `conn` (dropped at the end)."""
    r = ExchangeRate.__table__.c
    rates: dict[str, list[tuple[date, float]]] = {}
    for currency, day, rate in conn.execute(
            sa.select(r.currency, r.rate_date, r.rate)
            .where(r.reporting_currency == reporting, r.currency != reporting)):
        rates.setdefault(currency, []).append((_day(day), float(rate)))
    if not rates:
        yield Conversion(reporting, conn.dialect.name, None)
        return
    table = sa.Table(_DAY_RATES, sa.MetaData(),
                     sa.Column("currency", sa.String(3), primary_key=True),
                     sa.Column("day", sa.Date, primary_key=True),
                     sa.Column("rate", sa.Double, nullable=False), prefixes=["TEMPORARY"])
    table.create(conn)
    try:
        rows = [{"currency": c, "day": d, "rate": x} for c, d, x in rates_by_day(rates)]
        conn.execute(table.insert(), rows)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"ANALYZE {_DAY_RATES}")
        days = [d for pairs in rates.values() for d, _ in pairs]
        yield Conversion(reporting, conn.dialect.name, table, min(days), max(days))
    finally:
        table.drop(conn)


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def has_rates(conn: Connection, reporting: str) -> bool:
    """Whether any rate converts into `reporting` (if none, no order may be in another)."""
    r = ExchangeRate.__table__.c
    return conn.execute(sa.select(r.id).where(r.reporting_currency == reporting,
                                              r.currency != reporting).limit(1)).first() is not None


def currencies_with_rates(conn: Connection, reporting: str) -> frozenset[str]:
    """Every currency an order may be in: the reporting one and those with a rate into it."""
    r = ExchangeRate.__table__.c
    rated = conn.execute(sa.select(r.currency).distinct()
                         .where(r.reporting_currency == reporting)).scalars()
    return frozenset(rated) | {reporting}


def currencies_without_rates(conn: Connection, reporting: str,
                             where=None) -> list[str]:
    """The currencies of orders (those matching `where`, else all) that have no rate into
    `reporting`, sorted."""
    o, r = Order.__table__.c, ExchangeRate.__table__.c
    has_rate = sa.exists().where(r.currency == o.currency, r.reporting_currency == reporting)
    stmt = (sa.select(o.currency).distinct()
            .where(o.currency.is_not(None), o.currency != reporting, ~has_rate))
    if where is not None:
        stmt = stmt.where(where)
    return sorted(conn.execute(stmt).scalars())


def rates_overview(conn: Connection) -> list[dict]:
    """Per (currency, reporting currency): how many rates, the first and last dates, and
    the latest rate; for `tierbot rates`."""
    r = ExchangeRate.__table__.c
    x = ExchangeRate.__table__.alias("x")
    newest = (sa.select(r.rate)
              .where(r.currency == x.c.currency, r.reporting_currency == x.c.reporting_currency)
              .order_by(r.rate_date.desc()).limit(1).scalar_subquery())
    rows = conn.execute(
        sa.select(x.c.currency, x.c.reporting_currency, sa.func.count(),
                  sa.func.min(x.c.rate_date), sa.func.max(x.c.rate_date), newest)
        .group_by(x.c.currency, x.c.reporting_currency)
        .order_by(x.c.reporting_currency, x.c.currency)).all()
    return [{"currency": c, "into": into, "rates": n, "first": lo, "last": hi, "latest": rate}
            for c, into, n, lo, hi, rate in rows]
