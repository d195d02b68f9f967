"""Which orders are part of the book: not those of an import still merging.

On SQLite a big import merges in many short transactions so the bot's writes never wait
long (storage/importing/merge.py). Until its last transaction, its orders (ids above the
watermark in `import_merges`) must stay invisible, and so must those of an import that died
merging (the next import deletes them). The watermark is read in the same statement as
the orders, so both come from one snapshot. PostgreSQL imports commit once: nothing to hide.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.sql import Select

from storage.models import ImportMerge, Order

_NO_LIMIT = 2**63 - 1


def only_settled(stmt: Select, dialect: str, orders: sa.Table | None = None) -> Select:
    """`stmt` (selecting from `orders`, or an alias of it) restricted to settled orders."""
    if dialect != "sqlite":
        return stmt
    table = Order.__table__ if orders is None else orders
    # Uncorrelated: SQLite computes it once per statement. The id is in every SQLite index
    # (the rowid), so a covering-index scan stays one.
    watermark = sa.select(sa.func.min(ImportMerge.orders_after)).scalar_subquery()
    return stmt.where(table.c.id <= sa.func.coalesce(watermark, _NO_LIMIT))
