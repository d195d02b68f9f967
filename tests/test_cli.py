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
    assert "1 were created" in result.output and "1 new account was created" in result.output
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


# --- an admin's first hour (issue 13) -------------------------------------------------------

def test_demo_reset_refuses_a_database_holding_imported_data_unless_forced(env, tmp_path,
                                                                             bare_engine):
    assert run(env, "demo", "--accounts", "20", "--today", "2026-11-22").exit_code == 0
    # The demo's own book (and what was done to it in chat) is replaced without fuss.
    assert run(env, "ask", "/visit ACME call hello", "--as", "rep.tom").exit_code == 0
    assert run(env, "demo", "--accounts", "20", "--reset").exit_code == 0
    path = write_csv(tmp_path / "o.csv", "order_id,account,date,amount\nX1,ACME,2026-03-01,5\n")
    assert run(env, "import", "orders", str(path)).exit_code == 0
    orders = count(bare_engine, "orders")
    result = run(env, "demo", "--accounts", "20", "--reset")
    assert result.exit_code == 1
    assert "holds data the demo did not write (1 orders)" in " ".join(result.output.split())
    assert "--force" in result.output and count(bare_engine, "orders") == orders
    result = run(env, "demo", "--accounts", "10", "--reset", "--force")
    assert result.exit_code == 0 and count(bare_engine, "accounts") == 10


def test_make_demo_never_forces_a_reset():
    from pathlib import Path

    makefile = (Path(__file__).parent.parent / "Makefile").read_text()
    recipe = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "tierbot demo --reset" in recipe and "--force" not in recipe


@pytest.mark.parametrize("url, says", [
    ("postgresql://nobody@127.0.0.1:1/nope", "Cannot use the database postgresql://nobody@"),
    ("sqlite:////nonexistent-dir/x/tierbot.db", "that the file's folder exists"),
    ("foo://x", "is not a database tierbot can use (foo://x)"),
    ("not a url", "is not a database tierbot can use (not a URL)"),
])
@pytest.mark.parametrize("command", [["init"], ["ask", "/help"], ["score"], ["deliveries"],
                                     ["export", "scores"], ["demo"]])
def test_a_wrong_database_url_is_one_clear_message(tmp_path, monkeypatch, url, says, command):
    monkeypatch.chdir(tmp_path)
    result = run({"TIERBOT_DATABASE_URL": url}, *command)
    assert result.exit_code == 2, result.output
    assert says in " ".join(result.output.split()) and "TIERBOT_DATABASE_URL" in result.output
    assert "Traceback" not in result.output and len(result.output.splitlines()) <= 3


def test_version():
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"tierbot {version('tierbot')}"


@pytest.mark.parametrize("variable", ["WECOM_AGENT_ID", "wecom_agent_id"])
def test_a_bad_platform_setting_is_named_by_its_real_variable(db_url, tmp_path, monkeypatch,
                                                               variable):
    monkeypatch.chdir(tmp_path)
    result = run({"TIERBOT_DATABASE_URL": db_url, variable: "abc"}, "init")
    assert result.exit_code == 2
    assert "WECOM_AGENT_ID" in result.output and "TIERBOT_WECOM_AGENT_ID" not in result.output


def _scored(env):
    assert run(env, "demo", "--accounts", "20", "--today", "2026-11-22").exit_code == 0
    assert run(env, "score", "--as-of", "2026-11-22").exit_code == 0


def test_exports_open_in_excel_csv_with_a_bom_and_real_xlsx(env, tmp_path):
    import csv

    from openpyxl import load_workbook

    _scored(env)
    result = run(env, "export", "scores", "--out", str(tmp_path / "s.csv"))
    assert result.exit_code == 0, result.output
    raw = (tmp_path / "s.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert any("华锐" in r["name"] for r in rows)
    result = run(env, "export", "scores", "--out", str(tmp_path / "s.xlsx"))
    assert result.exit_code == 0, result.output
    sheet = load_workbook(tmp_path / "s.xlsx").active
    values = list(sheet.values)
    assert values[0][0] == "account" and len(values) == len(rows) + 1
    assert {r[0] for r in values[1:]} == {r["account"] for r in rows}
    assert isinstance(values[1][list(values[0]).index("churn_risk")], (int, float))


@pytest.mark.parametrize("args, says", [
    (["--out", "s.xls"], "name the file .csv, .json or .xlsx"),
    (["--format", "json", "--out", "s.xlsx"], "does not match the file name"),
    (["--format", "xlsx"], "needs a file"),
])
def test_export_refuses_what_it_cannot_write(env, tmp_path, args, says):
    result = run(env, "export", "scores", *args)
    assert result.exit_code == 2 and says in result.output
    assert not list(tmp_path.glob("s.*"))


def test_import_warns_of_doubtful_rows_and_strict_refuses_them(env, tmp_path, bare_engine):
    run(env, "init")
    path = write_csv(tmp_path / "i.csv", "account,date,amount\nACME,2999-01-01,5\n")
    result = run(env, "import", "orders", str(path), "--strict")
    assert result.exit_code == 1 and "after today" in result.output
    assert count(bare_engine, "orders") == 0
    result = run(env, "import", "orders", str(path))
    assert result.exit_code == 0 and "warning: file, column 'date'" in result.output
    assert "run with --strict to refuse" in result.output and count(bare_engine, "orders") == 1
