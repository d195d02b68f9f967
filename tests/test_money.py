"""Money (issue 13): a reporting currency per book, rates the admin imports, conversion
before RFM, tiers, cards and totals, refusals naming what is missing, one money format."""
from datetime import date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from bot.cli import app
from bot.scoring_jobs import RatesMissing, rescore
from messages.render import money
from messages.risk import reason_sentence, stage_sentence
from messages.warnings import describe
from scoring.history import book_at
from scoring.warnings import Warning
from storage.importing import ImportFailed, import_file
from storage.models import Account, ExchangeRate, Order, ScoreRun, ScoreSnapshot
from storage.queries import team_summaries
from storage.rates import MissingRates
from storage.scores import latest_snapshot_rows, load_book
from tests.commands_support import FIXED_MODELS, TODAY, ask, make_services
from tests.conftest import count
from tests.helpers import import_rates, write_csv, write_xlsx

# --- the one money format -------------------------------------------------------------------


@pytest.mark.parametrize("value, currency, locale, shown", [
    (58469.4, "USD", "en", "$58,469"),          # whole units from 1,000
    (980.5, "USD", "en", "$980.50"),            # cents below
    (12349.05, "EUR", "en", "€12,349"),
    (96291, "CNY", "en", "¥96,291"),            # English never shows 万
    (433000, "USD", "zh", "$433,000"),          # 万 only for CNY: never "$43.3万"
    (12349.05, "EUR", "zh", "€12,349"),
    (58469.4, "CNY", "zh", "¥5.8万"),
    (9999.6, "CNY", "zh", "¥1.0万"),            # decided on the rounded figure
    (8354, "CNY", "zh", "¥8,354"),
    (5, "CNY", "zh", "¥5.00"),
    (125_000_000, "CNY", "zh", "¥1.25亿"),
    (-1234, "USD", "en", "-$1,234"),            # a return: the minus before the sign
    (1250, "CHF", "en", "CHF 1,250"),           # no sign of its own: the code
    (1250, "JPY", "en", "JP¥1,250"),            # never mistaken for yuan
    (12.5, "JPY", "zh", "JP¥12"),               # no cents in yen
    (None, "USD", "en", "—"),
    (float("nan"), "USD", "zh", "—"),
])
def test_money_format(value, currency, locale, shown):
    assert money(value, currency, locale) == shown


def test_reasons_and_warnings_say_amounts_with_the_currency():
    reason = {"code": "spend_12m", "effect": -0.4,
              "params": {"spend_12m": 12349.05, "typical_spend_12m": 58469.4}}
    assert reason_sentence(reason, "en", "USD") == (
        "$12,349 spent in the last 12 months (typical: $58,469).")
    assert reason_sentence(reason, "zh", "CNY") == "近12个月采购额¥1.2万（典型值：¥5.8万）。"
    trend = {"code": "spend_trend", "effect": 0.3,
             "params": {"last_quarter": 812.5, "quarter_before": 4000.0}}
    assert "Spend last quarter €812.50 against €4,000" in reason_sentence(trend, "en", "EUR")
    stage = {"code": "two_quarters_down", "two_quarters_ago": 30000.0,
             "quarter_before": 20000.0, "last_quarter": 12349.05}
    assert stage_sentence(stage, "zh", "CNY") == "衰退：采购额连续两个季度下降（¥3.0万、¥2.0万、¥1.2万）。"
    warning = Warning("spend_down_2q", {"last_quarter": 12349.05, "quarter_before": 30000.0,
                                        "two_quarters_ago": 60000.0, "drop_recent_pct": 58.8,
                                        "drop_before_pct": 50.0})
    assert "(last quarter $12,349)" in describe(warning, "en", lambda v: money(v, "USD", "en"))
    assert "（上季度 ¥1.2万）" in describe(warning, "zh", lambda v: money(v, "CNY", "zh"))


# --- rates: `tierbot import rates` ---------------------------------------------------------

def _rates(engine):
    r = ExchangeRate
    with engine.connect() as conn:
        return {(c, into, d.isoformat() if isinstance(d, date) else d): Decimal(str(x))
                for c, into, d, x in conn.execute(sa.select(r.currency, r.reporting_currency,
                                                            r.rate_date, r.rate))}


def test_rates_import_upserts_by_currency_and_day(engine, tmp_path):
    path = write_csv(tmp_path / "rates.csv", "currency,date,rate\n"
                     "CNY,2026-01-01,0.1389\nCNY,2026-07-01,0.14\neur,1 Mar 2026,\"1,08\"\n")
    first = import_file(engine, "rates", path, default_currency="USD")
    assert (first.rows, first.created, first.updated, first.skipped) == (3, 3, 0, 0)
    assert _rates(engine) == {("CNY", "USD", "2026-01-01"): Decimal("0.1389"),
                              ("CNY", "USD", "2026-07-01"): Decimal("0.14"),
                              ("EUR", "USD", "2026-03-01"): Decimal("1.08")}
    again = import_file(engine, "rates", path, default_currency="USD")
    assert (again.created, again.updated, again.skipped) == (0, 0, 3)
    fixed = write_csv(tmp_path / "fixed.csv", "currency,date,rate\nCNY,2026-07-01,0.1415\n")
    assert import_file(engine, "rates", fixed, default_currency="USD").updated == 1
    assert _rates(engine)[("CNY", "USD", "2026-07-01")] == Decimal("0.1415")


def test_rates_with_chinese_headers_and_xlsx(engine, tmp_path):
    path = write_csv(tmp_path / "汇率.csv", "币种,生效日期,汇率\n人民币,2026年1月1日,0.14\n美元,2026/1/1,7.1\n",
                     encoding="gbk")
    with pytest.raises(ImportFailed) as info:  # into USD, a USD rate makes no sense
        import_file(engine, "rates", path, default_currency="USD")
    assert ("line 3, column 'currency': USD is the reporting currency (TIERBOT_CURRENCY): its "
            "amounts count as they are (rate 1); remove this line") in info.value.report()
    assert count(engine, "exchange_rates") == 0
    summary = import_file(engine, "rates", path, default_currency="EUR")
    assert summary.created == 2
    book = write_xlsx(tmp_path / "rates.xlsx", [["currency", "date", "rate"],
                                                ["CNY", datetime(2026, 2, 1), 0.13],
                                                ["HKD", "2026-02-01", "0.128"]])
    assert import_file(engine, "rates", book, default_currency="USD").created == 2
    assert _rates(engine)[("USD", "EUR", "2026-01-01")] == Decimal("7.1")
    assert _rates(engine)[("CNY", "USD", "2026-02-01")] == Decimal("0.13")


def test_bad_rates_are_refused_with_line_field_and_what_to_do(engine, tmp_path):
    import_rates(engine, tmp_path, "CNY,2026-01-01,0.14")
    path = write_csv(tmp_path / "bad.csv", (
        "currency,date,rate\n"
        "CNY,2026-02-01,0.141\n"          # fine, but the file fails: not written
        "XX,2026-02-01,1\n"
        "EUR,2026-13-01,1.1\n"
        "EUR,2026-02-01,-1.1\n"
        "EUR,2026-02-02,\n"
        "GBP,2026-02-01,about one\n"
        "CNY,2026/2/1,0.142\n"))
    with pytest.raises(ImportFailed) as info:
        import_file(engine, "rates", path, default_currency="USD")
    report = info.value.report()
    assert "bad.csv: 6 problems found; nothing was imported." in report
    assert "line 3, column 'currency': 'XX' is not a currency; use a 3-letter code" in report
    assert "line 4, column 'date': '2026-13-01' is not a real calendar date" in report
    assert ("line 5, column 'rate': '-1.1' is not above 0; a rate is how many USD one EUR is "
            "worth, e.g. 0.1389 or 7.2") in report
    assert "line 6, column 'rate': rate is empty; write how many USD one unit" in report
    assert "line 7, column 'rate': 'about one' is not a number" in report
    assert ("line 8, column 'date': a second CNY rate for 2026-02-01 (the first is on line 2)"
            in report)
    assert _rates(engine) == {("CNY", "USD", "2026-01-01"): Decimal("0.14")}
    missing = write_csv(tmp_path / "m.csv", "currency,rate\nCNY,0.14\n")
    with pytest.raises(ImportFailed, match="missing required column 'date' for rates"):
        import_file(engine, "rates", missing, default_currency="USD")


def test_tierbot_import_rates_on_the_command_line(db_url, tmp_path, monkeypatch, bare_engine):
    monkeypatch.chdir(tmp_path)
    env = {"TIERBOT_DATABASE_URL": db_url, "TIERBOT_CURRENCY": "CNY"}
    runner = CliRunner()
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    good = write_csv(tmp_path / "r.csv", "currency,date,rate\nUSD,2026-01-01,7.1\n")
    result = runner.invoke(app, ["import", "rates", str(good)], env=env)
    assert result.exit_code == 0, result.output
    assert "1 were created" in result.output and "into CNY" in result.output
    bad = write_csv(tmp_path / "b.csv", "currency,date,rate\nUSD,2026-01-02,seven\n")
    result = runner.invoke(app, ["import", "rates", str(bad)], env=env)
    assert result.exit_code == 1
    assert "line 2, column 'rate': 'seven' is not a number; a rate is how many CNY one USD" in (
        result.output)
    assert count(bare_engine, "exchange_rates") == 1


# --- orders in a currency without a rate are refused at import --------------------------------

def test_an_order_in_a_currency_without_a_rate_is_refused_naming_the_line(engine, tmp_path):
    import_rates(engine, tmp_path, "CNY,2026-01-01,0.14")
    path = write_csv(tmp_path / "o.csv", (
        "account,date,amount,currency\n"
        "ACME,2026-03-01,100,USD\n"
        "ACME,2026-03-02,700,CNY\n"
        "ACME,2026-03-03,50,EUR\n"
        "ACME,2026-03-04,\"€1.234,50\",\n"       # the amount's sign says EUR
        "ACME,2026-03-05,\"¥1,200.00\",USD\n"))  # the sign contradicts the column
    with pytest.raises(ImportFailed) as info:
        import_file(engine, "orders", path, default_currency="USD")
    report = info.value.report()
    assert "o.csv: 3 problems found; nothing was imported." in report
    assert ("line 4, column 'currency': the order is in EUR, which has no exchange rate into "
            "USD (the reporting currency, TIERBOT_CURRENCY): import EUR rates first (tierbot "
            "import rates FILE), then this file again") in report
    assert "line 5, column 'amount': the amount '€1.234,50' is in EUR, which has no" in report
    assert ("line 6, column 'currency': the amount '¥1,200.00' is written in ¥ but the "
            "currency is USD; make them agree") in report
    assert count(engine, "orders") == 0 and count(engine, "accounts") == 0


def test_a_sign_in_the_amount_is_the_currency_when_no_column_says(engine, tmp_path):
    import_rates(engine, tmp_path, "CNY,2026-01-01,0.14")
    path = write_csv(tmp_path / "o.csv", "account,date,amount\nACME,2026-03-01,\"￥12,800.00\"\n"
                                         "ACME,2026-03-02,\"$5.00\"\nACME,2026-03-03,7\n")
    import_file(engine, "orders", path, default_currency="USD")
    with engine.connect() as conn:
        got = conn.execute(sa.select(Order.amount, Order.currency).order_by(Order.order_date)).all()
    assert [(float(a), c) for a, c in got] == [(12800.0, "CNY"), (5.0, "USD"), (7.0, "USD")]


def test_big_files_converted_in_a_second_process_are_refused_too(engine, tmp_path, monkeypatch):
    from storage.importing import reader

    monkeypatch.setattr(reader, "BIG_CSV_BYTES", 100)  # the converting child process runs
    lines = "".join(f"K{i % 7},2026-02-{i % 28 + 1:02d},{i},B{i},USD\n" for i in range(400))
    path = write_csv(tmp_path / "o.csv", "account,date,amount,order_id,currency\n" + lines
                     + "K1,2026-03-01,5,B999,GBP\n")
    with pytest.raises(ImportFailed, match="line 402, column 'currency': the order is in GBP"):
        import_file(engine, "orders", path, default_currency="USD")
    assert count(engine, "orders") == 0


# --- conversion before RFM, tiers and the card --------------------------------------------------

CNY_RATES = ("CNY,2026-06-01,0.14", "CNY,2026-09-01,0.15")
# ACME's CNY orders: one older than every rate (the earliest rate applies), one under each.
CNY_ORDERS = (("2026-03-10", "10000"), ("2026-07-15", "20000"), ("2026-11-20", "12800"))


def _rate_on(day: str) -> Decimal:
    """The rule, written out for the test: the latest rate on or before the day, else the
    earliest."""
    if day >= "2026-09-01":
        return Decimal("0.15")
    return Decimal("0.14")


def _add_cny_orders(engine, tmp_path):
    import_rates(engine, tmp_path, *CNY_RATES)
    path = write_csv(tmp_path / "cny.csv", "account,date,amount,currency,order_id\n" + "".join(
        f"ACME,{d},{a},CNY,CN-{i}\n" for i, (d, a) in enumerate(CNY_ORDERS)))
    import_file(engine, "orders", path, default_currency="USD")


def _acme_spend(engine, since: date | None = None) -> Decimal:
    """ACME's orders up to TODAY (after `since`), each converted by the rule above."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(Order.order_date, Order.amount, Order.currency)
            .join(Account, Account.id == Order.account_id)
            .where(Account.key == "ACME", Order.order_date <= TODAY)).all()
    assert {c for _, _, c in rows} == {"USD", "CNY"}
    return sum((Decimal(str(a)) * (_rate_on(d.isoformat()) if c == "CNY" else 1)
                for d, a, c in rows if since is None or d > since), Decimal(0))


def test_a_mixed_currency_account_is_scored_and_shown_converted(services, tmp_path):
    engine = services.engine
    _add_cny_orders(engine, tmp_path)
    rescore(engine, services.scoring, TODAY, models=FIXED_MODELS, currency="USD")
    with engine.connect() as conn:
        acme = conn.execute(sa.select(Account.id).where(Account.key == "ACME")).scalar_one()
        monetary = conn.execute(sa.select(ScoreSnapshot.monetary).where(
            ScoreSnapshot.account_id == acme).order_by(ScoreSnapshot.run_id.desc())).first()[0]
    in_window = _acme_spend(engine, since=date(2025, 11, 22))
    assert float(monetary) == pytest.approx(float(in_window), abs=0.01)
    book = load_book(engine, TODAY, currency="USD")
    i = book.account_id.tolist().index(acme)
    assert book.spend_all[i] == pytest.approx(float(_acme_spend(engine)), abs=0.01)
    assert book.spend_window[i] == pytest.approx(float(in_window), abs=0.01)
    # The churn risk learns on histories that say the same as the book.
    again = book_at(book.history, TODAY)
    k = book.history.account_id.tolist().index(acme)
    assert again.spend_all[k] == pytest.approx(book.spend_all[i], abs=0.01)
    assert again.spend_q[k].tolist() == pytest.approx(book.spend_q[i].tolist(), abs=0.01)
    # The card: the total in the reporting currency, the last order in its own.
    _, card = ask(services, "/tier ACME", rep="mgr.sarah")
    assert f"and {money(monetary, 'USD', 'en')} in 12 months" in card
    assert "Last order: 20 Nov 2026, ¥12,800" in card
    _, card_zh = ask(services, "/tier ACME", rep="mgr.sarah", locale="zh")
    assert f"{money(monetary, 'USD', 'zh')}" in card_zh and "¥1.3万" in card_zh


def test_team_revenue_is_converted(services, tmp_path):
    engine = services.engine
    before = {t.manager: t.revenue_12m for t in team_summaries(engine, today=TODAY)}
    _add_cny_orders(engine, tmp_path)
    after = {t.manager: t.revenue_12m for t in team_summaries(engine, today=TODAY)}
    added = sum(Decimal(a) * _rate_on(d) for d, a in CNY_ORDERS if d > "2025-11-22")
    assert after["Sarah Chen"] - before["Sarah Chen"] == added.quantize(Decimal("0.01"))
    with pytest.raises(MissingRates, match="Orders in USD have no exchange rate into CNY"):
        team_summaries(engine, today=TODAY, currency="CNY")


# --- refusing to score what can't be converted ----------------------------------------------

def _order_in(engine, currency: str):
    """An order written past the importer: as if its rates were deleted afterwards."""
    with engine.begin() as conn:
        acme = conn.execute(sa.select(Account.id).where(Account.key == "ACME")).scalar_one()
        conn.execute(sa.insert(Order).values(account_id=acme, order_date=date(2026, 10, 2),
                                             amount=Decimal(500), currency=currency,
                                             dedupe_key=f"t:{currency}"))


def _runs(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(ScoreRun)).scalar_one()


def test_score_refuses_orders_in_currencies_without_rates(services, tmp_path):
    engine = services.engine
    _order_in(engine, "EUR")
    _order_in(engine, "GBP")
    runs = _runs(engine)
    with pytest.raises(RatesMissing) as info:
        rescore(engine, services.scoring, TODAY, models=FIXED_MODELS, currency="USD")
    assert info.value.currencies == ["EUR", "GBP"]
    assert str(info.value).startswith("Nothing was scored. Orders in EUR, GBP have no "
                                      "exchange rate into USD")
    assert "tierbot import rates FILE" in str(info.value)
    # The reporting currency changed: every USD order needs a rate into it now.
    import_rates(engine, tmp_path, "EUR,2026-01-01,1.08", "GBP,2026-01-01,1.27")
    with pytest.raises(RatesMissing) as info:
        rescore(engine, services.scoring, TODAY, models=FIXED_MODELS, currency="CNY")
    assert info.value.currencies == ["EUR", "GBP", "USD"] and info.value.reporting == "CNY"
    assert _runs(engine) == runs  # nothing half-done
    rescore(engine, services.scoring, TODAY, models=FIXED_MODELS, currency="USD")
    assert _runs(engine) == runs + 1


def test_tierbot_score_says_which_rates_are_missing(db_url, tmp_path, monkeypatch, bare_engine):
    monkeypatch.chdir(tmp_path)
    env = {"TIERBOT_DATABASE_URL": db_url, "TIERBOT_CURRENCY": "CNY"}
    runner = CliRunner()
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    path = write_csv(tmp_path / "o.csv", "account,date,amount\nACME,2026-03-01,5\n")
    assert runner.invoke(app, ["import", "orders", str(path)], env=env).exit_code == 0
    env["TIERBOT_CURRENCY"] = "USD"  # the admin switches the book's reporting currency
    result = runner.invoke(app, ["score", "--as-of", "2026-11-22"], env=env)
    assert result.exit_code == 1
    assert "Orders in CNY have no exchange rate into USD, the reporting currency" in result.output
    assert _runs(bare_engine) == 0


# --- money carries its currency: the run's ---------------------------------------------------

def test_scores_are_shown_in_the_currency_they_were_made_in(services):
    # The run was made in USD; the setting now says CNY: until the next run, the figures
    # are still dollars and must say so.
    now_cny = make_services(services.engine, currency="CNY")
    _, card = ask(now_cny, "/tier ACME", rep="mgr.sarah")
    assert "and $58,469 in 12 months" in card
    _, accounts = ask(now_cny, "/accounts", rep="rep.tom", locale="zh")
    assert "近12个月 $995,799" in accounts and "¥" not in accounts
    rows = latest_snapshot_rows(services.engine, currency="CNY",
                                say=lambda w, cur: describe(w, "en", lambda v: money(v, cur, "en")))
    assert {r["currency"] for r in rows} == {"USD"}


def test_tierbot_rates_lists_rates_and_what_lacks_one(db_url, tmp_path, monkeypatch, bare_engine):
    monkeypatch.chdir(tmp_path)
    env = {"TIERBOT_DATABASE_URL": db_url}
    runner = CliRunner()
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    assert "No rates into it yet." in runner.invoke(app, ["rates"], env=env).output
    import_rates(bare_engine, tmp_path, "CNY,2026-01-01,0.1389", "CNY,2026-07-01,0.1405")
    with bare_engine.begin() as conn:
        a = conn.execute(sa.insert(Account).values(key="A", name="A")).inserted_primary_key[0]
        conn.execute(sa.insert(Order).values(account_id=a, order_date=date(2026, 3, 1),
                                             amount=5, currency="GBP", dedupe_key="g"))
    result = runner.invoke(app, ["rates"], env=env)
    assert result.exit_code == 0, result.output
    assert "CNY      2 rates, 2026-01-01 to 2026-07-01; latest: 1 CNY = 0.1405 USD" in result.output
    assert "Orders in GBP have no rate into USD" in result.output


def test_the_rate_rule():
    from storage.rates import rate_on, rates_by_day

    cny = [(date(2026, 6, 1), 0.14), (date(2026, 9, 1), 0.15)]
    assert rate_on(cny, date(2026, 3, 10)) == 0.14   # before every rate: the earliest
    assert rate_on(cny, date(2026, 6, 1)) == 0.14    # on the rate's own day
    assert rate_on(cny, date(2026, 8, 31)) == 0.14
    assert rate_on(cny, date(2026, 9, 1)) == 0.15
    assert rate_on(cny, date(2030, 1, 1)) == 0.15    # after every rate: the latest
    days = list(rates_by_day({"CNY": cny, "EUR": [(date(2026, 7, 1), 1.1)]}))
    assert len(days) == 2 * 93  # every currency, every day from the first rate to the last
    assert ("EUR", date(2026, 6, 1), 1.1) in days and ("CNY", date(2026, 9, 1), 0.15) in days


def test_orders_without_a_recorded_currency_count_in_the_reporting_one(services, tmp_path):
    engine = services.engine
    import_rates(engine, tmp_path, *CNY_RATES)  # the converting scan, not the plain one
    before = load_book(engine, TODAY, currency="USD")
    with engine.begin() as conn:
        acme = conn.execute(sa.select(Account.id).where(Account.key == "ACME")).scalar_one()
        conn.execute(sa.insert(Order).values(account_id=acme, order_date=date(2026, 10, 2),
                                             amount=Decimal(500), currency=None,
                                             dedupe_key="t:none"))
    after = load_book(engine, TODAY, currency="USD")
    i = after.account_id.tolist().index(acme)
    assert after.spend_window[i] - before.spend_window[i] == pytest.approx(500)
    # The same book read without rates in the picture: the same figures.
    with engine.begin() as conn:
        conn.execute(sa.delete(ExchangeRate))
    assert load_book(engine, TODAY, currency="USD").spend_all.tolist() == pytest.approx(
        after.spend_all.tolist())
