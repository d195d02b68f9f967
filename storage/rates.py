"""Exchange rates, and order amounts converted into the reporting currency.

The reporting currency is the book's (TIERBOT_CURRENCY): every figure scoring sees and
every total a user reads is in it. The admin provides the rates (`tierbot import rates`):
the row `CNY, 2026-01-01, 0.1389` means that from 1 Jan 2026 one CNY is worth 0.1389 units
of the reporting currency, until CNY's next rate. One rule converts an order, everywhere:

- in the reporting currency (or with no currency recorded): at 1;
- else at its currency's latest rate dated on or before the order date;
- an order older than every rate of its currency: at that currency's earliest rate (the
  best estimate there is; refusing would leave a history older than the rates file
  unscorable, and the admin can always add older rates);
- a currency without any rate into the reporting currency is never converted, nor added
  in unconverted: imports refuse such orders, scoring refuses while the book has any
  (`MissingRates`, naming the currencies).

Rates are stored with the reporting currency they convert into, so after TIERBOT_CURRENCY
changes, rates meant for the old one are never used. In SQL the rule is `rate_periods`:
each rate as the half-open range of days it applies to, joined to orders by currency and
date (one index seek per order row, no correlated subquery evaluated per use).
"""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage.models import ExchangeRate, Order

FIRST_DAY, LAST_DAY = date(1, 1, 1), date(9999, 12, 31)


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


def rate_periods(reporting: str) -> sa.Subquery:
    """(currency, starts, ends, rate): each rate into `reporting` with the days it applies to,
    starts <= day < ends; a currency's first rate reaches back to FIRST_DAY and its last
    forward to LAST_DAY. The reporting currency itself is one period at rate 1."""
    r = ExchangeRate.__table__.c
    by_day = {"partition_by": r.currency, "order_by": r.rate_date}
    first, last = sa.literal(FIRST_DAY, sa.Date), sa.literal(LAST_DAY, sa.Date)
    rated = sa.select(
        r.currency.label("currency"),
        sa.case((sa.func.row_number().over(**by_day) == 1, first), else_=r.rate_date)
        .label("starts"),
        sa.func.coalesce(sa.func.lead(r.rate_date).over(**by_day), last).label("ends"),
        r.rate.label("rate"),
    ).where(r.reporting_currency == reporting, r.currency != reporting)
    itself = sa.select(sa.literal(reporting, sa.String).label("currency"), first.label("starts"),
                       last.label("ends"), sa.literal(1, ExchangeRate.rate.type).label("rate"))
    return sa.union_all(rated, itself).subquery("rate_periods")


def rate_join(periods: sa.Subquery, reporting: str, orders: sa.Table | None = None):
    """The join condition of an order to the period its rate comes from."""
    o = (orders if orders is not None else Order.__table__).c
    return sa.and_(periods.c.currency == sa.func.coalesce(o.currency, reporting),
                   o.order_date >= periods.c.starts, o.order_date < periods.c.ends)


def converted(amount, rate, dialect: str):
    """amount x rate, in floats (what scoring works in; see storage.scores)."""
    if dialect == "postgresql":
        return sa.cast(amount, sa.Double) * sa.cast(rate, sa.Double)
    return amount * rate


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
