from datetime import datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from storage.importing import ImportFailed, import_file
from tests.conftest import count
from tests.helpers import import_rates, write_csv, write_xlsx


def orders(engine):
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT a.key, o.order_date, o.amount, o.order_id, o.margin, o.category, o.currency "
            "FROM orders o JOIN accounts a ON a.id = o.account_id ORDER BY o.order_date, a.key"
        )).all()
    return [(k, str(d), Decimal(str(a)).normalize(), oid, m, c, cur)
            for k, d, a, oid, m, c, cur in rows]


def test_messy_utf8_bom_export(engine, tmp_path):
    import_rates(engine, tmp_path, "CNY,2026-01-01,0.14", "EUR,2026-01-01,1.08")  # issue 13
    path = write_csv(tmp_path / "orders.csv", (
        "Account,Date,Amount,Order ID,Margin,Category,Currency\n"
        "ACME,2026-03-01,\"¥1,234.50\",SO-1,22%,bolts,¥\n"
        "ACME,2026/3/2,$ 12,SO-2,,,\n"
        "ACME,20260303,\"1.234,5\",SO-3,,,EUR\n"
        "ACME,1 Mar 2026,0,SO-4,,,\n"
        "ACME,2026年3月5日,-40,SO-5,,,\n"), bom=True)
    summary = import_file(engine, "orders", path, default_currency="USD")
    assert (summary.rows, summary.created, summary.skipped) == (5, 5, 0)
    assert summary.accounts_created == 1
    got = {r[3]: r for r in orders(engine)}
    assert got["SO-1"][2] == Decimal("1234.5") and got["SO-1"][6] == "CNY"
    assert Decimal(str(got["SO-1"][4])) == Decimal("271.59")  # 22% of 1234.50
    assert got["SO-2"][2] == Decimal(12) and got["SO-2"][6] == "USD"
    assert got["SO-3"][2] == Decimal("1234.5") and got["SO-3"][6] == "EUR"
    assert got["SO-4"][2] == 0 and got["SO-4"][1] == "2026-03-01"
    assert got["SO-5"][2] == Decimal(-40) and got["SO-5"][1] == "2026-03-05"


def test_gbk_export_from_chinese_excel(engine, tmp_path):
    import_rates(engine, tmp_path, "CNY,2026-01-01,0.14")  # ￥: CNY orders (issue 13)
    path = write_csv(tmp_path / "订单.csv",
                     "客户,日期,金额,订单号\n华锐,2026/3/1,\"￥12,800.00\",D-1\n", encoding="gbk")
    summary = import_file(engine, "orders", path)
    assert summary.created == 1
    assert orders(engine)[0][:3] == ("华锐", "2026-03-01", Decimal(12800))


def test_wrong_encoding_is_explained(engine, tmp_path):
    path = write_csv(tmp_path / "o.csv", "account,date,amount\n华锐,2026-03-01,5\n", encoding="gbk")
    with pytest.raises(ImportFailed) as info:
        import_file(engine, "orders", path, encoding="utf-8")
    assert "--encoding gb18030" in info.value.report()
    assert count(engine, "orders") == 0


def test_xlsx_export(engine, tmp_path):
    import_rates(engine, tmp_path, "CNY,2026-01-01,0.14")  # ¥: a CNY order (issue 13)
    path = write_xlsx(tmp_path / "orders.xlsx", [
        ["account", "date", "amount", "order_id"],
        ["ACME", datetime(2026, 3, 1), 1234.5, 10023],
        ["ACME", "2026-03-02", "¥1,000.00", 10024],
        [None, None, None, None],
    ])
    summary = import_file(engine, "orders", path)
    assert (summary.rows, summary.created) == (2, 2)
    rows = orders(engine)
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("2026-03-01", Decimal("1234.5"), "10023"), ("2026-03-02", Decimal(1000), "10024")]


def test_semicolon_delimited_export(engine, tmp_path):
    path = write_csv(tmp_path / "o.csv", "account;date;amount\nACME;2026-03-01;1.234,50\n")
    import_file(engine, "orders", path)
    assert orders(engine)[0][2] == Decimal("1234.5")


def test_one_bad_row_writes_nothing_and_lists_every_problem(engine, tmp_path):
    good = write_csv(tmp_path / "good.csv", "account,date,amount,order_id\nACME,2026-01-01,5,X1\n")
    import_file(engine, "orders", good)
    bad = write_csv(tmp_path / "bad.csv", (
        "account,date,amount,order_id\n"
        "NEWCO,2026-03-01,10,N1\n"
        "NEWCO,2026-13-01,10,N2\n"
        "NEWCO,2026-03-02,1,234,N3\n"
        ",2026-03-03,abc,N4\n"
        "NEWCO,2026-03-04,\"1,234\",N5\n"))
    with pytest.raises(ImportFailed) as info:
        import_file(engine, "orders", bad)
    report = info.value.report()
    assert "bad.csv: 5 problems found; nothing was imported." in report
    assert "line 3, column 'date': '2026-13-01' is not a real calendar date" in report
    assert "line 4: 5 fields but the header has 4" in report
    assert "line 5, column 'account': account key is empty" in report
    assert "line 5, column 'amount': 'abc' is not an amount" in report
    assert "line 6, column 'amount': '1,234' is ambiguous" in report
    assert count(engine, "orders") == 1
    assert count(engine, "accounts") == 1  # NEWCO was rolled back too


def test_error_list_is_capped_at_twenty(engine, tmp_path):
    lines = "".join(f"ACME,not-a-date-{i},1\n" for i in range(30))
    path = write_csv(tmp_path / "o.csv", "account,date,amount\n" + lines)
    with pytest.raises(ImportFailed) as info:
        import_file(engine, "orders", path)
    assert info.value.total == 30 and len(info.value.errors) == 20
    assert "... and 10 more." in info.value.report()


def test_missing_required_column(engine, tmp_path):
    path = write_csv(tmp_path / "o.csv", "account,day,amount\nACME,2026-03-01,1\n")
    with pytest.raises(ImportFailed) as info:
        import_file(engine, "orders", path)
    assert "missing required column 'date'" in info.value.report()
    assert "header has: account, day, amount" in info.value.report()


def test_unknown_columns_are_ignored_with_a_warning(engine, tmp_path):
    path = write_csv(tmp_path / "o.csv", "account,date,amount,salesperson\nACME,2026-03-01,1,Bo\n")
    summary = import_file(engine, "orders", path)
    assert summary.created == 1
    assert summary.warnings == ["column 'salesperson' is not used for orders and was ignored"]


@pytest.mark.parametrize("header", ["account,date,amount,order_id", "account,date,amount"])
def test_importing_twice_changes_nothing(engine, tmp_path, header):
    body = "ACME,2026-03-01,10{}\nACME,2026-03-01,20{}\nBETA,2026-03-02,10{}\n"
    ids = [",A1", ",A2", ",A3"] if "order_id" in header else ["", "", ""]
    path = write_csv(tmp_path / "o.csv", header + "\n" + body.format(*ids))
    first = import_file(engine, "orders", path)
    before = orders(engine)
    second = import_file(engine, "orders", path)
    assert (first.created, first.skipped, first.accounts_created) == (3, 0, 2)
    assert (second.created, second.skipped, second.accounts_created) == (0, 3, 0)
    assert orders(engine) == before
    assert count(engine, "accounts") == 2


def test_amount_written_differently_is_the_same_order(engine, tmp_path):
    import_file(engine, "orders", write_csv(tmp_path / "a.csv", "account,date,amount\nA,2026-03-01,12.5\n"))
    again = import_file(engine, "orders", write_csv(tmp_path / "b.csv", "account,date,amount\nA,2026/3/1,\"$12.50\"\n"))
    assert again.created == 0 and count(engine, "orders") == 1


def test_dry_run_reports_and_writes_nothing(engine, tmp_path):
    path = write_csv(tmp_path / "o.csv", "account,date,amount\nNEW1,2026-03-01,10\nNEW2,2026-03-01,5\n")
    summary = import_file(engine, "orders", path, dry_run=True)
    assert (summary.created, summary.accounts_created, summary.dry_run) == (2, 2, True)
    assert "Dry run: nothing was written" in "\n".join(summary.lines())
    assert count(engine, "orders") == 0 and count(engine, "accounts") == 0


def test_dry_run_still_reports_errors(engine, tmp_path):
    path = write_csv(tmp_path / "o.csv", "account,date,amount\nA,2026-03-01,ten\n")
    with pytest.raises(ImportFailed, match="'ten' is not an amount"):
        import_file(engine, "orders", path, dry_run=True)


def test_empty_and_headerless_files(engine, tmp_path):
    with pytest.raises(ImportFailed, match="no data rows"):
        import_file(engine, "orders", write_csv(tmp_path / "h.csv", "account,date,amount\n"))
    with pytest.raises(ImportFailed, match="the file is empty"):
        import_file(engine, "orders", write_csv(tmp_path / "e.csv", ""))
    with pytest.raises(ImportFailed, match="unsupported file type '.json'"):
        import_file(engine, "orders", write_csv(tmp_path / "o.json", "{}"))
    with pytest.raises(ImportFailed, match="no such file"):
        import_file(engine, "orders", tmp_path / "missing.csv")


def test_orders_for_known_accounts_use_them(engine, tmp_path):
    import_file(engine, "accounts", write_csv(tmp_path / "a.csv", "account,name\nACME,ACME Corp\n"))
    summary = import_file(engine, "orders", write_csv(tmp_path / "o.csv", "account,date,amount\nACME,2026-03-01,1\n"))
    assert summary.accounts_created == 0
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM accounts")).scalar_one() == "ACME Corp"


def test_orders_batches_larger_than_one_write(engine, tmp_path):
    from storage.importing import orders as orders_module

    n = orders_module.BATCH + 7
    lines = "".join(f"K{i % 50},2026-01-{i % 28 + 1:02d},{i}.25,O{i}\n" for i in range(n))
    summary = import_file(engine, "orders", write_csv(tmp_path / "o.csv", "account,date,amount,order_id\n" + lines))
    assert (summary.created, summary.accounts_created) == (n, 50)
    with engine.connect() as conn:
        total = conn.execute(sa.text("SELECT sum(amount) FROM orders")).scalar_one()
    assert Decimal(str(total)) == Decimal(sum(range(n))) + Decimal("0.25") * n


def _scan_index_present(engine):
    return "ix_orders_account_date_amount" in {i["name"] for i in sa.inspect(engine).get_indexes("orders")}


def test_big_import_rebuilds_the_scan_index_and_a_failed_one_keeps_it(engine, tmp_path, monkeypatch):
    from storage.importing import reader

    # Make a small file count as big so the bulk-load path (index drop + rebuild, and the
    # converting child process) runs in a test-sized file.
    monkeypatch.setattr(reader, "BIG_CSV_BYTES", 100)
    lines = "".join(f"K{i % 7},2026-02-{i % 28 + 1:02d},{i},B{i}\n" for i in range(500))
    summary = import_file(engine, "orders", write_csv(tmp_path / "o.csv", "account,date,amount,order_id\n" + lines))
    assert (summary.rows, summary.created, summary.accounts_created) == (500, 500, 7)
    assert _scan_index_present(engine)
    bad = write_csv(tmp_path / "bad.csv", "account,date,amount,order_id\n"
                    + "".join(f"Z{i},2026-03-01,{i},C{i}\n" for i in range(3000)) + "Z1,someday,1,C999\n")
    with pytest.raises(ImportFailed, match="line 3002, column 'date'"):
        import_file(engine, "orders", bad)
    assert _scan_index_present(engine)
    assert count(engine, "orders") == 500 and count(engine, "accounts") == 7


def test_big_files_report_progress(engine, tmp_path, monkeypatch):
    from storage.importing import orders as orders_module
    from storage.importing import reader

    monkeypatch.setattr(reader, "BIG_CSV_BYTES", 100)
    monkeypatch.setattr(orders_module, "BATCH", 50)
    lines = "".join(f"K{i % 3},2026-02-01,{i},P{i}\n" for i in range(400))
    path = write_csv(tmp_path / "o.csv", "account,date,amount,order_id\n" + lines)
    seen = []

    def factory(total):
        seen.append(("total", total))
        return lambda position: seen.append(position)

    import_file(engine, "orders", path, progress=factory)
    assert seen[0] == ("total", path.stat().st_size)
    positions = seen[1:]
    assert len(positions) == 8 and positions == sorted(positions) and positions[-1] <= path.stat().st_size


def test_a_converter_that_dies_fails_the_import_instead_of_hanging(engine, tmp_path):
    import multiprocessing

    from storage.importing.orders import ConverterDied, _next_message

    ctx = multiprocessing.get_context("spawn")
    for close_our_end in (True, False):  # EOF on the pipe, or only the child's exit seen
        receiver, sender = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_exit_at_once, args=(sender,))
        child.start()
        if close_our_end:
            sender.close()
        child.join(timeout=30)
        with pytest.raises(ConverterDied, match="ended unexpectedly .exit code 3"):
            _next_message(receiver, child, poll_seconds=0.2)
        receiver.close()
        if not close_our_end:
            sender.close()


def _exit_at_once(sender):
    raise SystemExit(3)


# --- doubtful rows: warned, refused with --strict (issue 13) --------------------------------

def _book(n=60):
    """A plausible book: orders between ~800 and ~12,000."""
    lines = ["order_id,account,date,amount"]
    for i in range(n):
        lines.append(f"B{i},ACC{i % 7},2026-0{1 + i % 9}-1{i % 10},{800 + (i * 937) % 11_000}.00")
    return "\n".join(lines) + "\n"


def test_future_dates_and_outlier_amounts_are_warned_and_refused_when_strict(engine, tmp_path):
    from datetime import date

    today = date(2026, 11, 22)
    import_file(engine, "orders", write_csv(tmp_path / "book.csv", _book()), today=today)
    assert count(engine, "orders") == 60
    doubtful = write_csv(tmp_path / "new.csv", (
        "order_id,account,date,amount\n"
        "N1,ACC1,2026-11-20,1500.00\n"          # fine
        "N2,ACC2,2027-11-20,1500.00\n"          # a year ahead
        "N3,ACC3,2026-10-01,95000000.00\n"))    # 95 million among thousands
    with pytest.raises(ImportFailed) as failed:
        import_file(engine, "orders", doubtful, strict=True, today=today)
    report = failed.value.report()
    assert "2 problems found; nothing was imported" in report
    assert "'N2' is dated 2027-11-20, after today (2026-11-22)" in report
    assert "'N3' is 95,000,000.00, far above the book's usual orders" in report
    assert count(engine, "orders") == 60
    summary = import_file(engine, "orders", doubtful, today=today)
    assert summary.created == 3 and summary.doubts_total == 2
    assert [d.column for d in summary.doubts] == ["date", "amount"]
    assert count(engine, "orders") == 63
    # Only what this import added is judged: importing a clean file warns of nothing.
    clean = write_csv(tmp_path / "clean.csv", "order_id,account,date,amount\nC1,ACC1,2026-11-21,900\n")
    assert import_file(engine, "orders", clean, strict=True, today=today).doubts_total == 0


def test_a_small_book_has_no_outliers_to_judge(engine, tmp_path):
    from datetime import date

    path = write_csv(tmp_path / "o.csv", "account,date,amount\nA,2026-01-01,5\nA,2026-01-02,5000000\n")
    summary = import_file(engine, "orders", path, strict=True, today=date(2026, 11, 22))
    assert summary.doubts_total == 0 and summary.created == 2


@pytest.mark.parametrize("header", ["Account Name", "客户名称"])
def test_an_account_name_column_names_the_accounts_it_creates(engine, tmp_path, header):
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO accounts (key, name) VALUES ('OLD', 'Old Name Ltd')"))
    path = write_csv(tmp_path / "o.csv", (
        f"account,{header},date,amount\n"
        "C9,上海华锐精密制造有限公司,2026-03-01,5\n"
        "C9,上海华锐精密制造有限公司,2026-03-02,6\n"
        "D1,,2026-03-01,5\n"
        "OLD,Renamed Here,2026-03-01,7\n"))
    summary = import_file(engine, "orders", path)
    assert (summary.accounts_created, summary.accounts_named) == (2, 1)
    assert not summary.warnings  # the column is used, not ignored
    with engine.connect() as conn:
        names = dict(conn.execute(sa.text("SELECT key, name FROM accounts")).all())
    assert names == {"C9": "上海华锐精密制造有限公司", "D1": "D1", "OLD": "Old Name Ltd"}
    assert "  1 new account was created with the name in the file." in summary.lines()
