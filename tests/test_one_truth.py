"""What a rep sees is one truth (issue 13): one due date everywhere, one current score run,
ranked account choices, a digest that says what it leaves out, a cleared override undone."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from bot.scoring_jobs import rescore
from messages.render import render
from storage.logbook import log_interaction, visits_due
from storage.lookup import AccountIndex
from storage.models import Account, Interaction, Rep, ScoreSnapshot
from storage.scores import current_run, latest_snapshot_rows
from tests.commands_support import FIXED_MODELS, TODAY, ask


def account_id(engine, key):
    with engine.connect() as conn:
        return conn.execute(sa.select(Account.id).where(Account.key == key)).scalar_one()


def rep_id(engine, key):
    with engine.connect() as conn:
        return conn.execute(sa.select(Rep.id).where(Rep.key == key)).scalar_one()


def line(text, start):
    [found] = [ln for ln in text.splitlines() if ln.startswith(start)]
    return found


# ---- 1. next visit due: one function, live ------------------------------------------

def test_the_card_due_and_digest_agree_with_what_the_rep_just_planned(services):
    _, logged = ask(services, "/visit ACME visit Walked the plant next tue", rep="rep.tom")
    assert "Next visit due 24 Nov 2026 (as you planned)." in logged
    planned = "Next visit due: 24 Nov 2026, as planned at the last contact"
    _, card = ask(services, "/tier ACME", rep="rep.tom")
    assert line(card, "Next visit due:") == planned
    _, due = ask(services, "/due week", rep="rep.tom")
    assert "ACME Corp (ACME) · key · due 24 Nov 2026" in due
    digest, _ = ask(services, "/digest", rep="rep.tom")
    [row] = [r for r in digest.context["revisits"]["this_week"] if r["key"] == "ACME"]
    assert row["due"] == date(2026, 11, 24)
    # A rescore doesn't put a date of its own on the card.
    rescore(services.engine, services.scoring, TODAY, models=FIXED_MODELS)
    _, card = ask(services, "/tier ACME", rep="rep.tom")
    assert line(card, "Next visit due:") == planned


def test_a_contact_after_a_plan_supersedes_it(services):
    """The plan made at the LATEST contact counts: a /done after an older plan restarts the
    cadence instead of keeping the older contact's (later) planned date."""
    engine = services.engine
    acme, tom = account_id(engine, "ACME"), rep_id(engine, "rep.tom")
    log_interaction(engine, account_id=acme, rep_id=tom, kind="call",
                    occurred_on=TODAY - timedelta(days=10), summary="plan",
                    next_date=TODAY + timedelta(days=40), source="console",
                    idempotency_key="t:plan")
    [before] = visits_due(engine, None, TODAY, services.scoring.cadence_days, account_id=acme)
    assert (before["due"], before["basis"]) == (TODAY + timedelta(days=40), "planned")
    reply, text = ask(services, "/done ACME", rep="rep.tom")
    cadence = services.scoring.cadence_days["key"]
    assert reply.context["due"] == TODAY + timedelta(days=cadence)  # not the older plan
    _, card = ask(services, "/tier ACME", rep="rep.tom")
    assert line(card, "Next visit due:") == \
        f"Next visit due: 22 Dec 2026, {cadence} days after the last contact"
    # A plan made at the same contact day still counts (/visit ... next, then Done).
    ask(services, "/visit ACME call agreed a trial next 2 Dec", rep="rep.tom")
    [after] = visits_due(engine, None, TODAY, services.scoring.cadence_days, account_id=acme)
    assert (after["due"], after["basis"]) == (date(2026, 12, 2), "planned")


def test_after_done_the_card_counts_contacts_live(services):
    """A card whose scored warning says '0 interactions in the last 90 days' shows the live
    count after /done, and says the warnings are as of the score."""
    with services.engine.connect() as conn:
        rows = conn.execute(sa.select(Account.key, ScoreSnapshot.details)
                            .join(ScoreSnapshot, ScoreSnapshot.account_id == Account.id)).all()
    key = next(k for k, d in rows if any(
        w["code"] == "interactions_falling" and w["params"]["last_90"] == 0
        for w in json.loads(d)["warnings"]))
    _, before = ask(services, f"/tier {key}", rep="admin")
    assert line(before, "Warnings") == "Warnings:"
    ask(services, f"/done {key}", rep="admin")
    _, card = ask(services, f"/tier {key}", rep="admin")
    assert line(card, "Warnings") == \
        "Warnings (as of the score on 22 Nov 2026, before the 1 contact logged since):"
    assert "Visit marked done · 1 contact in the last 90 days" in line(card, "Last contact:")
    assert "(overdue)" not in line(card, "Next visit due:")
    _, zh = ask(services, f"/tier {key}", rep="admin", locale="zh")
    assert "未计入之后记录的1次联系" in zh and "近90天联系1次" in zh


def test_export_next_visit_due_is_the_live_one(services):
    ask(services, "/visit ACME visit Walked the plant next tue", rep="rep.tom")
    cadence = services.scoring.cadence_days
    rows = {r["account"]: r for r in latest_snapshot_rows(services.engine, today=TODAY,
                                                          cadence=cadence)}
    live = {r["key"]: r["due"] for r in visits_due(services.engine, None, TODAY, cadence)}
    assert rows["ACME"]["next_visit_due"] == date(2026, 11, 24)
    assert {k: r["next_visit_due"] for k, r in rows.items()} == live


# ---- 2. the current run ----------------------------------------------------------------

def test_a_backdated_run_is_history_and_changes_nothing_reps_see(services):
    engine = services.engine
    _, card_before = ask(services, "/tier ACME why", rep="rep.tom")
    _, book_before = ask(services, "/accounts", rep="mgr.sarah")
    with engine.connect() as conn:
        current = current_run(conn)
    result = rescore(engine, services.scoring, date(2026, 9, 1), models=FIXED_MODELS,
                     today=TODAY)
    assert result.current == (current.id, TODAY)  # the run made is not the current one
    assert result.first_run  # nothing dated on or before 1 Sep to compare with
    with engine.connect() as conn:
        assert current_run(conn).id == current.id
    assert ask(services, "/tier ACME why", rep="rep.tom")[1] == card_before
    # The book is the current run's; the backdated run is now the earlier run it is
    # compared with (it is a real past snapshot).
    book = ask(services, "/accounts", rep="mgr.sarah")[1]
    tiers = book_before.split("No earlier score")[0]
    assert book.startswith(tiers) and "Moved since 1 Sep 2026:" in book


def test_a_run_dated_after_today_is_refused(services):
    from bot.scoring_jobs import FutureAsOf

    with pytest.raises(FutureAsOf, match="after today"):
        rescore(services.engine, services.scoring, TODAY + timedelta(days=1), today=TODAY)
    with services.engine.connect() as conn:
        assert current_run(conn).as_of == TODAY


def test_a_rerun_follows_the_run_current_on_its_date(services):
    """Movements of a backdated run are against the run before it by date, not the newest:
    rerunning the newest date compares with the earlier run of that date."""
    engine = services.engine
    rescore(engine, services.scoring, date(2026, 8, 1), models=FIXED_MODELS, today=TODAY)
    mid = rescore(engine, services.scoring, date(2026, 10, 1), models=FIXED_MODELS, today=TODAY)
    assert not mid.first_run and mid.current is not None
    with engine.connect() as conn:
        aug, octo = conn.execute(sa.text(
            "SELECT id FROM score_runs WHERE as_of IN ('2026-08-01', '2026-10-01') "
            "ORDER BY as_of")).scalars().all()
        pairs = conn.execute(sa.text(
            "SELECT a.tier, b.previous_tier FROM score_snapshots a JOIN score_snapshots b "
            "ON a.account_id = b.account_id WHERE a.run_id = :a AND b.run_id = :b"),
            {"a": aug, "b": octo}).all()
    assert pairs and all(t == p for t, p in pairs)


# ---- 4. ambiguous names ----------------------------------------------------------------

def test_contains_matches_are_ranked_by_match_quality_with_a_total():
    names = ["Old Northwind Trading", "Northwind Retail Holdings International",
             "Northwind Energy", "Northwind Medical", "Northwind Systems", "Northwind Foods",
             "Northwind Logistics Group"]
    index = AccountIndex([(i, f"K{i}", n, None) for i, n in enumerate(names)])
    result = index.find("northwind")
    assert result.status == "several" and result.total == 7 and len(result.matches) == 5
    ranked = [c.name for c in index.find("northwind", limit=50).matches]
    # Names starting with the query first, the more of the name it covers the better,
    # then alphabetical; a name that only has it inside comes last.
    assert ranked == ["Northwind Foods", "Northwind Energy", "Northwind Medical",
                      "Northwind Systems", "Northwind Logistics Group",
                      "Northwind Retail Holdings International", "Old Northwind Trading"]
    scores = [c.score for c in index.find("northwind", limit=50).matches]
    assert scores == sorted(scores, reverse=True)


def add_accounts(services, owner, names):
    engine = services.engine
    owner_id = rep_id(engine, owner)
    with engine.begin() as conn:
        for i, name in enumerate(names):
            conn.execute(sa.insert(Account).values(key=f"NW-{owner[-3:]}{i}", name=name,
                                                   owner_id=owner_id))
    services.accounts_changed()


def test_choose_says_how_many_more_and_how_to_narrow(services):
    add_accounts(services, "rep.tom", ["Northwind Foods Inc", "Northwind Steel Ltd",
                                       "Northwind Paper Co", "Northwind Glass Corp",
                                       "Old Northwind Trading Ltd"])
    # Another team's: not visible to rep.tom, so not counted for him.
    add_accounts(services, "rep.zhang", ["Northwind Asia Ltd", "Northwind Pacific Ltd"])
    reply, text = ask(services, "/tier Northwind", rep="rep.tom")
    assert reply.context["code"] == "choose"
    lines = text.splitlines()
    assert lines[0] == ('Several accounts match "Northwind" (7, best match first). '
                        'Which one? Type /tier with its key:')
    assert len(reply.context["matches"]) == 5 and reply.context["more"] == 2
    assert "Old Northwind Trading Ltd" not in text  # ranked last, among the 2 more
    assert lines[-1].startswith("  ... and 2 more. To narrow it down, type more of the name")
    _, zh = ask(services, "/分层 Northwind", rep="rep.tom", locale="zh")
    assert zh.splitlines()[0].startswith("有7个客户与“Northwind”匹配（最接近的在前）")
    assert "……还有2个。请输入更完整的名称" in zh and "/分层" in zh
    _, admin = ask(services, "/tier Northwind", rep="admin")
    assert "(9, best match first)" in admin and "and 4 more" in admin


# ---- 5. the digest -----------------------------------------------------------------------

@pytest.mark.parametrize("channel", ["text", "slack", "wecom"])
def test_digest_says_how_many_revisits_it_leaves_out(services, channel):
    reply, _ = ask(services, "/digest", rep="admin")
    revisits = reply.context["revisits"]
    assert revisits["overdue_total"] > 5 and len(revisits["overdue"]) == 5
    en = render("digest", reply.context, channel=channel, locale="en")
    zh = render("digest", reply.context, channel=channel, locale="zh")
    assert f"... and {revisits['overdue_total'] - 5} more overdue (/due team overdue" in en
    assert f"……另有 {revisits['overdue_total'] - 5} 个逾期（/待办 团队 逾期" in zh
    if revisits["this_week_total"] > 5:
        assert f"... and {revisits['this_week_total'] - 5} more this week" in en


def test_digest_repurchase_vs_a_month_ago_says_na_without_a_run_that_old(services):
    _, text = ask(services, "/digest", rep="mgr.sarah")
    kpi = line(text, "Repurchase rate by tier")
    assert "(n/a)" in kpi and kpi.endswith("; n/a: no score from a month ago yet")
    _, zh = ask(services, "/digest", rep="mgr.sarah", locale="zh")
    assert "（无）" in line(zh, "各分层复购率") and "还没有一个月前的评分" in zh
    rescore(services.engine, services.scoring, date(2026, 10, 15), models=FIXED_MODELS,
            today=TODAY)
    _, text = ask(services, "/digest", rep="mgr.sarah")
    kpi = line(text, "Repurchase rate by tier")
    assert kpi.endswith("; a month ago = the score of 15 Oct 2026")


def test_a_cleared_override_leaves_no_trace_on_the_card(services):
    engine = services.engine
    with engine.connect() as conn:
        key, since, previous = conn.execute(
            sa.select(Account.key, ScoreSnapshot.tier_since, ScoreSnapshot.previous_tier)
            .join(ScoreSnapshot, ScoreSnapshot.account_id == Account.id)
            .where(ScoreSnapshot.tier == "general", Account.key.like("US-%"))
            .order_by(Account.key).limit(1)).one()
    _, card_before = ask(services, f"/tier {key}", rep="admin")
    ask(services, f"/override {key} key big pilot deal", rep="admin")
    assert ", was general" in line(ask(services, f"/tier {key}", rep="admin")[1], "Tier:")
    ask(services, f"/override {key} clear", rep="admin")
    _, card = ask(services, f"/tier {key}", rep="admin")
    assert "was key" not in card
    assert card == card_before
    with engine.connect() as conn:
        assert conn.execute(sa.select(ScoreSnapshot.tier_since, ScoreSnapshot.previous_tier)
                            .join(Account, Account.id == ScoreSnapshot.account_id)
                            .where(Account.key == key)).one() == (since, previous)


def test_interaction_created_at_is_what_logged_since_compares(services):
    """`logged since the score` counts rows created after the run, not contact dates: an
    import of old contacts after the score makes the scored figures stale too."""
    engine = services.engine
    acme, tom = account_id(engine, "ACME"), rep_id(engine, "rep.tom")
    log_interaction(engine, account_id=acme, rep_id=tom, kind="call",
                    occurred_on=TODAY - timedelta(days=200), summary="old", next_date=None,
                    source="import", idempotency_key="t:old")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Interaction)
                            .where(Interaction.idempotency_key == "t:old")).scalar() == 1
    reply, _ = ask(services, "/tier ACME", rep="rep.tom")
    assert reply.context["card"]["logged_since_score"] == 1
