"""The CLI as an admin uses it: exit codes, messages, and what lands in the database."""
import pytest
from typer.testing import CliRunner

from bot.cli import app
from storage.migrate import head_revision
from tests.conftest import count
from tests.helpers import write_csv

runner = CliRunner()


@pytest.fixture
def env(db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    return {"TIERBOT_DATABASE_URL": db_url}


def run(env, *args):
    return runner.invoke(app, list(args), env=env)


def test_init_then_import_then_reimport(env, tmp_path, bare_engine):
    result = run(env, "import", "orders", "x.csv")
    assert result.exit_code == 2 and "Run tierbot init first" in result.output
    assert f"created: revision (empty) -> {head_revision()}" in run(env, "init").output
    assert "is up to date" in run(env, "init").output
    path = write_csv(tmp_path / "o.csv", "account,date,amount,junk\nACME,2026-03-01,5,x\n")
    result = run(env, "import", "orders", str(path))
    assert result.exit_code == 0, result.output
    assert "1 were created" in result.output and "1 accounts not seen before" in result.output
    assert "warning: column 'junk' is not used" in result.output
    assert "0 were created, 0 updated, 1 skipped" in run(env, "import", "orders", str(path)).output
    assert count(bare_engine, "orders") == 1


def test_bad_file_exits_non_zero_and_writes_nothing(env, tmp_path, bare_engine):
    run(env, "init")
    path = write_csv(tmp_path / "o.csv", "account,date,amount\nACME,2026-03-01,5\nACME,soon,5\n")
    result = run(env, "import", "orders", str(path))
    assert result.exit_code == 1
    assert "o.csv: 1 problem found; nothing was imported." in result.output
    assert "line 3, column 'date': 'soon' is not a date" in result.output
    assert count(bare_engine, "orders") == 0


def test_dry_run_and_unknown_kind(env, tmp_path, bare_engine):
    run(env, "init")
    path = write_csv(tmp_path / "o.csv", "account,date,amount\nACME,2026-03-01,5\n")
    result = run(env, "import", "orders", str(path), "--dry-run")
    assert result.exit_code == 0 and "Dry run: nothing was written" in result.output
    assert count(bare_engine, "orders") == 0
    result = run(env, "import", "widgets", str(path))
    assert result.exit_code == 2 and "Use one of: orders, accounts, reps" in result.output


def test_demo_loads_and_refuses_to_overwrite(env, bare_engine):
    result = run(env, "demo", "--accounts", "30", "--today", "2026-11-22")
    assert result.exit_code == 0, result.output
    assert "30 accounts" in result.output and "Try next" in result.output
    result = run(env, "demo", "--accounts", "30")
    assert result.exit_code == 1 and "--reset" in result.output
    assert run(env, "demo", "--accounts", "10", "--reset").exit_code == 0
    assert count(bare_engine, "accounts") == 10


def test_configuration_errors_name_the_setting(db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run({"TIERBOT_DATABASE_URL": db_url, "TIERBOT_TIMEZONE": "Mars/Base"}, "init")
    assert result.exit_code == 2
    assert "TIERBOT_TIMEZONE" in result.output and "unknown IANA timezone 'Mars/Base'" in result.output
