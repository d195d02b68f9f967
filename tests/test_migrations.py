import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from storage.migrate import current_revision, head_revision, upgrade

EXPECTED_TABLES = {"reps", "accounts", "orders", "interactions", "feedback", "score_runs",
                   "exchange_rates",
                   "score_snapshots", "tier_overrides", "deliveries", "alembic_version"}


def test_upgrade_from_empty_creates_every_table(bare_engine):
    assert current_revision(bare_engine) is None
    before, after = upgrade(bare_engine)
    assert (before, after) == (None, head_revision())
    assert EXPECTED_TABLES <= set(sa.inspect(bare_engine).get_table_names())


def test_upgrade_twice_is_a_no_op(bare_engine):
    upgrade(bare_engine)
    assert upgrade(bare_engine) == (head_revision(), head_revision())


def test_migrations_match_the_models(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_lookup_indexes_exist(engine):
    inspector = sa.inspect(engine)
    order_indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("orders")}
    assert order_indexes["ix_orders_account_date_amount"] == ["account_id", "order_date", "amount",
                                                              "currency"]
    unique_orders = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("orders")}
    unique_orders |= {tuple(i["column_names"]) for i in inspector.get_indexes("orders")
                      if i.get("unique")}
    assert ("dedupe_key",) in unique_orders
    account_indexes = {tuple(i["column_names"]) for i in inspector.get_indexes("accounts")}
    assert ("key",) in account_indexes and ("owner_id",) in account_indexes


def test_sqlite_runs_in_wal_mode_with_foreign_keys(engine):
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
