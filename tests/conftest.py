"""Fixtures: a migrated store on SQLite, and on PostgreSQL when TIERBOT_TEST_POSTGRES_URL is set.

Each PostgreSQL test gets its own schema (via search_path), dropped afterwards, so tests
never see each other's rows. If the URL is set but the server is unreachable, the tests
fail: CI must not quietly skip PostgreSQL.
"""
from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from storage.engine import build_engine
from storage.migrate import upgrade

PG_URL = os.environ.get("TIERBOT_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])


def _pg_admin():
    return build_engine(PG_URL)


@pytest.fixture(scope="session", autouse=True)
def _postgres_reachable():
    if os.environ.get("CI") and not PG_URL:
        pytest.fail("CI=true but TIERBOT_TEST_POSTGRES_URL is not set: .ci/run must set it")
    if PG_URL:
        engine = _pg_admin()
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception as exc:  # pragma: no cover - only when the server is down
            pytest.fail(f"TIERBOT_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {exc}")
        finally:
            engine.dispose()


@pytest.fixture
def db_url(request, tmp_path):
    """A database URL for an empty database of the requested backend."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'tierbot.db'}"
        return
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = _pg_admin()
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = sa.engine.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def bare_engine(db_url):
    engine = build_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(bare_engine):
    upgrade(bare_engine)
    return bare_engine


def pytest_generate_tests(metafunc):
    if "db_url" in metafunc.fixturenames:
        metafunc.parametrize("db_url", BACKENDS, indirect=True)


def count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


@pytest.fixture
def services(engine):
    """A scored 80-account demo book and the command layer's services over it (scored with
    fixed models: see FIXED_MODELS)."""
    from bot.scoring_config import load_scoring_config
    from bot.scoring_jobs import rescore
    from storage.demo import generate_demo, load_demo
    from tests.commands_support import FIXED_MODELS, TODAY, make_services

    load_demo(engine, generate_demo(accounts=80, seed=5, today=TODAY))
    rescore(engine, load_scoring_config(""), TODAY, models=FIXED_MODELS)
    return make_services(engine)


@pytest.fixture
def slack():
    """A fake Slack (Web API, response_url, uploads) on port 0, recording what it receives."""
    from tests.fakes.slack import FakeSlack
    from tests.slack_support import TOKEN

    server = FakeSlack(TOKEN)
    yield server
    server.close()
