import pytest
import sqlalchemy as sa

from storage.importing import ImportFailed, import_file
from tests.conftest import count
from tests.helpers import write_csv

REPS = ("rep,name,email,role,manager,slack_user_id,wecom_userid,timezone,locale\n"
        "rep.zhang,张敏,z@example.com,销售,mgr.li,,ZhangMin,Asia/Shanghai,zh-CN\n"
        "mgr.li,李伟,l@example.com,经理,,,LiWei,Asia/Shanghai,中文\n"
        "rep.tom,Tom,t@example.com,rep,mgr.li,U01,,America/New_York,en\n")


def rows(engine, sql):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).all()


def test_reps_with_managers_in_any_order(engine, tmp_path):
    summary = import_file(engine, "reps", write_csv(tmp_path / "r.csv", REPS))
    assert (summary.created, summary.updated, summary.skipped) == (3, 0, 0)
    got = rows(engine, "SELECT r.key, r.role, r.locale, m.key FROM reps r "
                       "LEFT JOIN reps m ON m.id = r.manager_id ORDER BY r.key")
    assert got == [("mgr.li", "manager", "zh", None), ("rep.tom", "rep", "en", "mgr.li"),
                   ("rep.zhang", "rep", "zh", "mgr.li")]


def test_reimport_is_unchanged_and_a_changed_manager_counts_as_updated(engine, tmp_path):
    import_file(engine, "reps", write_csv(tmp_path / "r.csv", REPS))
    again = import_file(engine, "reps", write_csv(tmp_path / "r.csv", REPS))
    assert (again.created, again.updated, again.skipped) == (0, 0, 3)
    moved = REPS.replace("rep.tom,Tom,t@example.com,rep,mgr.li", "rep.tom,Tom,t@example.com,rep,")
    third = import_file(engine, "reps", write_csv(tmp_path / "r2.csv", moved))
    assert (third.created, third.updated, third.skipped) == (0, 1, 2)
    assert rows(engine, "SELECT manager_id FROM reps WHERE key='rep.tom'") == [(None,)]


@pytest.mark.parametrize("line, column, fragment", [
    ("bo,Bo,,rep,nobody,,,,", "manager", "unknown rep 'nobody'"),
    ("bo,Bo,,rep,bo,,,,", "manager", "cannot be their own manager"),
    ("bo,Bo,,rep,,,,Mars/Base,", "timezone", "not an IANA timezone"),
    ("bo,Bo,,boss,,,,,", "role", "'boss' is not a role"),
    ("bo,Bo,bo-at-example,rep,,,,,", "email", "not an email address"),
    ("bo,Bo,,rep,,,,,klingon", "locale", "'klingon' is not a locale"),
    (",Bo,,rep,,,,,", "rep", "rep is empty"),
    ("bo,Bo,,rep,,U01,,,", "slack_user_id", "'U01' already belongs to rep 'rep.tom'"),
])
def test_bad_rep_rows(engine, tmp_path, line, column, fragment):
    import_file(engine, "reps", write_csv(tmp_path / "r.csv", REPS))
    path = write_csv(tmp_path / "bad.csv", REPS.splitlines()[0] + "\n" + line + "\n")
    with pytest.raises(ImportFailed) as info:
        import_file(engine, "reps", path)
    assert f"line 2, column '{column}'" in info.value.report()
    assert fragment in info.value.report()
    assert count(engine, "reps") == 3


def test_duplicate_key_in_one_file(engine, tmp_path):
    path = write_csv(tmp_path / "r.csv", "rep,name\nbo,Bo\nbo,Bob\n")
    with pytest.raises(ImportFailed, match=r"line 3, column 'rep': rep 'bo' appears twice \(first on line 2\)"):
        import_file(engine, "reps", path)


def test_accounts_upsert_with_owner_and_aliases(engine, tmp_path):
    import_file(engine, "reps", write_csv(tmp_path / "r.csv", REPS))
    # Orders first: the account is created with its key as name, then named by the import.
    import_file(engine, "orders", write_csv(tmp_path / "o.csv", "account,date,amount\nCN-1,2026-01-01,5\n"))
    path = write_csv(tmp_path / "a.csv", "account,name,owner,industry,size,region,aliases\n"
                                         "CN-1,上海华锐精密制造有限公司,rep.zhang,制造业,large,华东, 华锐 | 华锐精密 |\n"
                                         "ACME,ACME Corp,rep.tom,,,,\n")
    summary = import_file(engine, "accounts", path)
    assert (summary.created, summary.updated, summary.skipped) == (1, 1, 0)
    got = rows(engine, "SELECT a.key, a.name, a.aliases, r.key FROM accounts a "
                       "JOIN reps r ON r.id = a.owner_id ORDER BY a.key")
    assert got == [("ACME", "ACME Corp", None, "rep.tom"),
                   ("CN-1", "上海华锐精密制造有限公司", "华锐|华锐精密", "rep.zhang")]


def test_account_with_unknown_owner(engine, tmp_path):
    path = write_csv(tmp_path / "a.csv", "account,name,owner\nACME,ACME Corp,ghost\n")
    with pytest.raises(ImportFailed) as info:
        import_file(engine, "accounts", path)
    assert "line 2, column 'owner': unknown rep 'ghost'; import reps first" in info.value.report()
    assert count(engine, "accounts") == 0


def test_interactions_in_both_languages_once(engine, tmp_path):
    import_file(engine, "reps", write_csv(tmp_path / "r.csv", REPS))
    import_file(engine, "accounts", write_csv(tmp_path / "a.csv", "account,name\nACME,ACME Corp\n"))
    path = write_csv(tmp_path / "i.csv", "account,date,kind,rep,summary,next_date\n"
                                         "ACME,2026-05-10,visit,rep.tom,QBR,2026-06-10\n"
                                         "ACME,2026/5/12,电话,rep.zhang,跟进报价,\n"
                                         "ACME,2026/5/13,复盘,,,\n")
    first = import_file(engine, "interactions", path)
    second = import_file(engine, "interactions", path)
    assert (first.created, second.created, second.skipped) == (3, 0, 3)
    got = rows(engine, "SELECT kind, occurred_on, next_date, source FROM interactions ORDER BY occurred_on")
    assert [(k, str(d), n and str(n), s) for k, d, n, s in got] == [
        ("visit", "2026-05-10", "2026-06-10", "import"), ("call", "2026-05-12", None, "import"),
        ("review", "2026-05-13", None, "import")]


def test_interaction_errors(engine, tmp_path):
    import_file(engine, "accounts", write_csv(tmp_path / "a.csv", "account,name\nACME,ACME Corp\n"))
    path = write_csv(tmp_path / "i.csv", "account,date,kind,rep\n"
                                         "NOPE,2026-05-10,visit,\n"
                                         "ACME,2026-05-10,lunch,\n"
                                         "ACME,2026-05-10,visit,ghost\n")
    with pytest.raises(ImportFailed) as info:
        import_file(engine, "interactions", path)
    report = info.value.report()
    assert "line 2, column 'account': unknown account 'NOPE'" in report
    assert "line 3, column 'kind': 'lunch' is not a kind; use one of: call, email, meeting, review, visit" in report
    assert "line 4, column 'rep': unknown rep 'ghost'" in report


def test_feedback_scores(engine, tmp_path):
    import_file(engine, "accounts", write_csv(tmp_path / "a.csv", "account,name\nACME,ACME Corp\n"))
    ok = write_csv(tmp_path / "f.csv", "account,date,kind,score,comment\n"
                                       "ACME,2026-05-20,nps,9,good\n"
                                       "ACME,2026-05-21,投诉,,交货延迟\n"
                                       "ACME,2026-05-22,csat,4,\n")
    assert import_file(engine, "feedback", ok).created == 3
    assert import_file(engine, "feedback", ok).created == 0
    bad = write_csv(tmp_path / "b.csv", "account,date,kind,score\n"
                                        "ACME,2026-05-20,nps,11\nACME,2026-05-20,csat,0\nACME,2026-05-20,nps,\n"
                                        "ACME,2026-05-20,nps,7.5\n")
    with pytest.raises(ImportFailed) as info:
        import_file(engine, "feedback", bad)
    assert info.value.total == 4
    assert "line 2, column 'score': '11' is not a nps score; use a whole number from 0 to 10" in info.value.report()
    assert "line 3, column 'score': '0' is not a csat score; use a whole number from 1 to 5" in info.value.report()
    assert count(engine, "feedback") == 3


def test_reps_own_delivery_times(engine, tmp_path):
    path = write_csv(tmp_path / "r.csv", "rep,name,timezone,digest_at,reminder_at\n"
                                         "bo,Bo,Europe/Berlin,fri 16:30,8:00\n"
                                         "li,李,Asia/Shanghai,周一 09:00,\n")
    import_file(engine, "reps", path)
    assert rows(engine, "SELECT key, digest_at, reminder_at FROM reps ORDER BY key") == [
        ("bo", "fri 16:30", "8:00"), ("li", "周一 09:00", None)]


@pytest.mark.parametrize("line, column, fragment", [
    ("bo,Bo,someday 9:00,", "digest_at", "write it like 'mon 09:00'"),
    ("bo,Bo,mon 25:00,", "digest_at", "not a time of day"),
    ("bo,Bo,,9am", "reminder_at", "write it as HH:MM"),
])
def test_bad_delivery_times(engine, tmp_path, line, column, fragment):
    path = write_csv(tmp_path / "r.csv", "rep,name,digest_at,reminder_at\n" + line + "\n")
    with pytest.raises(ImportFailed) as info:
        import_file(engine, "reps", path)
    assert f"line 2, column '{column}'" in info.value.report() and fragment in info.value.report()
    assert count(engine, "reps") == 0


def test_a_next_date_before_its_contact_is_warned_and_refused_when_strict(engine, tmp_path):
    from datetime import date

    import_file(engine, "accounts", write_csv(tmp_path / "a.csv", "account,name\nACME,ACME Corp\n"))
    path = write_csv(tmp_path / "i.csv", (
        "account,date,kind,summary,next_date\n"
        "ACME,2026-03-01,visit,plant tour,2026-04-01\n"
        "ACME,2026-03-05,call,pricing,2026-02-05\n"))
    with pytest.raises(ImportFailed) as failed:
        import_file(engine, "interactions", path, strict=True)
    assert ("line 3, column 'next_date': next date 2026-02-05 is before the contact's date "
            "2026-03-05") in failed.value.report()
    assert count(engine, "interactions") == 0
    summary = import_file(engine, "interactions", path, today=date(2026, 11, 22))
    assert summary.created == 2 and summary.doubts_total == 1 and summary.doubts[0].line == 3
