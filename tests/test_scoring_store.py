"""Scoring against the store: snapshots, movements, overrides, export, backtest, CLI."""
import csv
import io
import json
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from bot.cli import app
from bot.scoring_config import load_scoring_config
from bot.scoring_jobs import backtest, rescore
from scoring.config import ConfigError
from storage.demo import generate_demo, load_demo
from storage.models import Account, Order, Rep, ScoreSnapshot, TierOverride
from storage.scores import EXPORT_COLUMNS, latest_snapshot_rows, load_book

TODAY = date(2026, 11, 22)


@pytest.fixture
def demo(engine):
    load_demo(engine, generate_demo(accounts=120, seed=11, today=TODAY))
    return engine


def snapshot(engine, key):
    with engine.connect() as conn:
        return conn.execute(
            sa.select(ScoreSnapshot).join(Account, Account.id == ScoreSnapshot.account_id)
            .where(Account.key == key).order_by(ScoreSnapshot.run_id.desc()).limit(1)).mappings().one()


def test_book_uses_only_data_up_to_as_of(demo):
    with demo.connect() as conn:
        acme = conn.execute(sa.select(Account.id).where(Account.key == "ACME")).scalar_one()
        dates = sorted(conn.execute(sa.select(Order.order_date).where(Order.account_id == acme)).scalars())
    cut = dates[len(dates) // 2]
    book = load_book(demo, cut)
    i = book.account_id.tolist().index(acme)
    assert book.last_order[i] == cut.toordinal()
    assert book.orders_all[i] == len([d for d in dates if d <= cut])


def test_snapshots_movements_and_tier_since(demo):
    cfg = load_scoring_config("")
    first = rescore(demo, cfg, TODAY)
    assert first.first_run and sum(first.counts.values()) == 120 and not first.moves
    with demo.begin() as conn:
        acme = conn.execute(sa.select(Account.id).where(Account.key == "ACME")).scalar_one()
        mgr = conn.execute(sa.select(Rep.id).where(Rep.key == "mgr.sarah")).scalar_one()
        before = snapshot(demo, "ACME")["tier"]
        target = "potential" if before != "potential" else "key"
        conn.execute(sa.insert(TierOverride).values(
            account_id=acme, tier=target, reason="Board decision", set_by_id=mgr,
            created_at=datetime(2026, 11, 22, tzinfo=timezone.utc)))
    second = rescore(demo, cfg, date(2026, 11, 29))
    assert second.moves[(before, target)] >= 1
    snap = snapshot(demo, "ACME")
    assert (snap["tier"], snap["previous_tier"], snap["tier_since"], snap["tier_rule"]) == (
        target, before, date(2026, 11, 29), "override")
    assert json.loads(snap["details"])["matched"]["reason"] == "Board decision"
    third = rescore(demo, cfg, date(2026, 12, 6))
    snap = snapshot(demo, "ACME")
    assert snap["tier_since"] == date(2026, 11, 29)  # carried forward while unchanged
    assert sum(third.counts.values()) == 120


def test_export_has_every_column_and_reasons(demo):
    rescore(demo, load_scoring_config(""), TODAY)
    from messages.warnings import describe

    rows = latest_snapshot_rows(demo, say=lambda w, cur: describe(w, "en"))
    assert len(rows) == 120 and list(rows[0]) == list(EXPORT_COLUMNS)
    warned = [r for r in rows if r["warnings"]]
    assert warned and all(r["reasons"] for r in warned)
    zh = latest_snapshot_rows(demo, say=lambda w, cur: describe(w, "zh"))
    assert any("天" in r["reasons"] for r in zh if r["reasons"])


def test_backtest_figures_with_intervals_and_calibration(engine):
    # The demo book `make demo` loads (300 accounts: big enough to learn from; how well the
    # risk ranks on it at several cuts is asserted in tests/scoring/test_risk.py). Here:
    # that the backtest, through the database, reports what it should.
    load_demo(engine, generate_demo(accounts=300, seed=7, today=TODAY))
    result = backtest(engine, load_scoring_config(""), date(2026, 8, 24), 90, reps=50)
    assert result.model["kind"] == "learned"
    assert result.auc["risk"] > result.auc["recency"] and result.auc["risk"] > result.auc["bgnbd"]
    assert result.accounts > 100 and 0 < result.churned < result.accounts
    for name in ("risk", "recency", "bgnbd"):
        lo, hi = result.auc_ci[name]
        assert 0.5 < lo <= result.auc[name] <= hi <= 1.0, (name, result.auc, result.auc_ci)
    for name in ("risk-recency", "risk-bgnbd"):
        d, lo, hi = result.diff[name]
        assert lo <= d <= hi
    assert result.top_decile_lift > 1.5
    deciles = result.calibration
    assert [c["decile"] for c in deciles] == list(range(1, 11))
    assert sum(c["accounts"] for c in deciles) == result.accounts
    assert deciles[0]["predicted_pct"] < deciles[-1]["predicted_pct"]
    assert deciles[0]["observed_pct"] < deciles[-1]["observed_pct"]


def test_backtest_refuses_a_horizon_that_has_not_ended(demo):
    from bot.scoring_jobs import BacktestRefused, backtest_many

    with pytest.raises(BacktestRefused, match="ends on 2026-12-14, after today \\(2026-11-22\\)"):
        backtest_many(demo, load_scoring_config(""), [date(2026, 8, 24), date(2026, 9, 15)],
                      [30, 90], today=TODAY, reps=20)


runner = CliRunner()


def test_cli_score_export_backtest(demo, db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"TIERBOT_DATABASE_URL": db_url}
    result = runner.invoke(app, ["export", "scores"], env=env)
    assert result.exit_code == 1 and "run `tierbot score` first" in result.output
    # Two runs a season apart, both in the past (a run dated after today is refused).
    result = runner.invoke(app, ["score", "--as-of", "2026-08-24"], env=env)
    assert result.exit_code == 0, result.output
    assert "Scored 120 accounts as of 2026-08-24" in result.output and "First snapshot" in result.output
    result = runner.invoke(app, ["score", "--as-of", "2026-11-22"], env=env)
    assert "Movements since the previous snapshot:" in result.output and " -> " in result.output
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["export", "scores", "--out", str(out)], env=env)
    assert result.exit_code == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads it as UTF-8
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert len(rows) == 120 and set(EXPORT_COLUMNS) <= set(rows[0])
    result = runner.invoke(app, ["export", "scores", "--format", "json"], env=env)
    assert len(json.loads(result.stdout)) == 120
    result = runner.invoke(app, ["backtest", "--as-of", "2026-08-24", "--json", "--reps", "20"],
                           env=env)
    figures = json.loads(result.stdout)
    assert figures["horizon_days"] == 90 and set(figures["auc"]) == {"risk", "recency", "bgnbd"}
    assert len(figures["calibration"]) == 10 and figures["model"]["kind"] in ("learned", "bgnbd")
    chart = tmp_path / "calibration.png"
    result = runner.invoke(app, ["backtest", "--as-of", "2026-05-26", "--as-of", "2026-08-24",
                                 "--horizon-days", "30", "--horizon-days", "90", "--reps", "20",
                                 "--chart", str(chart)], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.count("ROC AUC, churn risk") == 4 and "top decile lift" in result.output
    assert "risk minus BG/NBD" in result.output and "calibration" in result.output
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_backtest_refuses_an_unfinished_horizon(demo, db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tomorrow = date.today() + timedelta(days=1)
    result = runner.invoke(app, ["backtest", "--as-of", str(date.today() - timedelta(days=10))],
                           env={"TIERBOT_DATABASE_URL": db_url})
    assert result.exit_code == 1
    assert "horizon after" in result.output and "is not known yet" in result.output
    assert tomorrow  # (the 90-day horizon of a cut 10 days ago ends 80 days from now)


def test_score_on_a_young_book_says_it_uses_the_fallback(demo, db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with demo.connect() as conn:
        first = conn.execute(sa.select(sa.func.min(Order.order_date))).scalar_one()
    first = first if isinstance(first, date) else date.fromisoformat(first)
    day = first + timedelta(days=60)
    result = runner.invoke(app, ["score", "--as-of", day.isoformat()],
                           env={"TIERBOT_DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    assert "purchase model's (BG/NBD) chance of no order in the next 90 days" in result.output
    assert "the book has 60 days of history and learning from it needs" in result.output


def test_bad_tier_config_is_explained(tmp_path, db_url, engine, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "tiers.toml"
    bad.write_text((load_tiers_text()).replace('tier = "key"', 'tier = "vip"', 1), encoding="utf-8")
    with pytest.raises(ConfigError, match="tier 'vip' is not one of"):
        load_scoring_config(str(bad))
    result = runner.invoke(app, ["score"], env={"TIERBOT_DATABASE_URL": db_url,
                                                "TIERBOT_TIERS_PATH": str(bad)})
    assert result.exit_code == 2 and "Tier configuration error" in result.output
    with pytest.raises(ConfigError, match="not a file"):
        load_scoring_config(str(tmp_path / "missing.toml"))


def load_tiers_text():
    from importlib import resources
    return resources.files("scoring").joinpath("tiers.toml").read_text(encoding="utf-8")


def test_empty_book_and_too_early_backtest_are_explained(engine, db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"TIERBOT_DATABASE_URL": db_url}
    result = runner.invoke(app, ["score"], env=env)
    assert result.exit_code == 1 and "There are no accounts yet" in result.output
    load_demo(engine, generate_demo(accounts=40, seed=3, today=TODAY))
    result = runner.invoke(app, ["backtest", "--as-of", "2020-01-01"], env=env)
    assert result.exit_code == 1
    assert "Only 0 accounts had ordered by 2020-01-01" in result.output and "later --as-of" in result.output
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM score_runs")).scalar_one() == 0


def test_cli_refuses_a_score_dated_after_today(demo, db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"TIERBOT_DATABASE_URL": db_url}
    later = date.today() + timedelta(days=2)  # after today in any timezone
    result = runner.invoke(app, ["score", "--as-of", later.isoformat()], env=env)
    assert result.exit_code == 1
    assert f"--as-of {later} is after today" in result.output and "Traceback" not in result.output
    with demo.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM score_runs")).scalar() == 0


def test_cli_runs_lists_and_deletes_runs(demo, db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"TIERBOT_DATABASE_URL": db_url}
    assert "No score runs yet" in runner.invoke(app, ["runs"], env=env).output
    for day in ("2026-11-22", "2026-08-24"):  # the second is backdated: history
        result = runner.invoke(app, ["score", "--as-of", day], env=env)
        assert result.exit_code == 0, result.output
    assert "dated before the current run 1 (as of 2026-11-22)" in result.output
    assert "No run dated on or before 2026-08-24 to compare with" in result.output
    listing = runner.invoke(app, ["runs"], env=env).output.splitlines()
    assert listing[1].split()[:2] == ["1", "2026-11-22"] and listing[1].endswith("120  current")
    assert listing[2].split()[:2] == ["2", "2026-08-24"] and "current" not in listing[2]
    with demo.begin() as conn:  # an alert already sent for run 1
        rep = conn.execute(sa.text("SELECT min(id) FROM reps")).scalar()
        conn.execute(sa.text("INSERT INTO deliveries (recipient_id, kind, period, channel, "
                             "status, attempts, created_at) VALUES (:r, 'alert', 'run-1', "
                             "'slack', 'sent', 1, CURRENT_TIMESTAMP)"), {"r": rep})
    result = runner.invoke(app, ["runs", "delete", "1"], env=env, input="n\n")
    assert result.exit_code == 1 and "Nothing deleted" in result.output
    assert "run 1 (as of 2026-11-22, 120 account snapshots) is the current run" in result.output
    assert "run 2 (as of 2026-08-24) becomes the current run" in result.output
    result = runner.invoke(app, ["runs", "delete", "1", "--yes"], env=env)
    assert result.exit_code == 0 and "Deleted run 1" in result.output
    with demo.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM score_snapshots WHERE run_id = 1")
                            ).scalar() == 0
        assert conn.execute(sa.text("SELECT id FROM score_runs")).scalars().all() == [2]
        # A later run that gets id 1 again (SQLite reuses it) is not taken as alerted.
        assert conn.execute(sa.text("SELECT period FROM deliveries")).scalar().startswith(
            "deleted-")
    assert "  current" in runner.invoke(app, ["runs"], env=env).output.splitlines()[1]
    result = runner.invoke(app, ["runs", "delete", "7", "--yes"], env=env)
    assert result.exit_code == 1 and "There is no score run 7" in result.output
