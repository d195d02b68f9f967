"""The command layer as chat users meet it: transcripts, permissions, escaping, failures."""
import logging
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from bot.scoring_jobs import rescore
from messages.render import escape_slack, escape_wecom
from storage.demo import generate_demo, load_demo
from storage.models import Account, Interaction, Rep
from tests.commands_support import TODAY, ask, make_services

def owner_of(engine, key):
    with engine.connect() as conn:
        return conn.execute(sa.select(Rep.key).join(Account, Account.owner_id == Rep.id)
                            .where(Account.key == key)).scalar_one()


def test_tier_card_in_english(services):
    reply, text = ask(services, "/tier ACME")
    assert reply.template == "tier"
    lines = text.splitlines()
    assert lines[0] == "ACME Corp (ACME) · owner Tom Baker"
    assert lines[1].startswith("Tier: ") and "since 22 Nov 2026" in lines[1]
    assert lines[2].startswith("Why: ") and "rule" not in lines[2]
    assert any(line.startswith("RFM: R") for line in lines)
    assert "Suggested next steps" in text and "Next visit due: " in text


def test_tier_card_in_chinese_by_alias_and_chinese_command(services):
    reply, text = ask(services, "/分层 华锐 为什么", rep="mgr.li")
    assert reply.locale == "zh"  # the rep's own language
    assert text.splitlines()[0] == "上海华锐精密制造有限公司（CN-0001）· 负责人 张敏"
    assert "分层：" in text and "生命周期：" in text and "详细：" in text and "建议动作" in text


def test_same_command_without_slash_and_in_other_case(services):
    _, with_slash = ask(services, "/tier ACME")
    _, bare = ask(services, "TIER acme")
    assert bare == with_slash


def test_why_adds_the_breakdown(services):
    _, short = ask(services, "/tier ACME")
    _, full = ask(services, "/tier ACME why")
    assert "Full breakdown:" not in short and "Full breakdown:" in full
    assert "chance of an order in the next 90 days: " in full


def test_several_matches_ask_to_choose_and_none_suggests(services):
    with services.engine.connect() as conn:
        names = conn.execute(sa.select(Account.name).where(Account.key.like("US-%"))).scalars().all()
    first_word = max({n.split()[0] for n in names}, key=lambda w: sum(n.startswith(w + " ") for n in names))
    reply, text = ask(services, f"/tier {first_word}", rep="admin")
    assert reply.context["code"] == "choose"
    assert "Which one? Type /tier with its key:" in text
    assert len(reply.context["matches"]) >= 2
    reply, text = ask(services, "/tier qqqqxxxx", rep="admin")
    assert reply.context["code"] == "no_account" and 'no account matching "qqqqxxxx"' in text


@pytest.mark.parametrize("visibility, rep, key, allowed", [
    # ACME belongs to rep.tom (mgr.sarah's team); CN-0001 to rep.zhang (mgr.li's team).
    ("team", "rep.tom", "ACME", True),
    ("team", "rep.priya", "ACME", True),       # same team
    ("team", "rep.zhang", "ACME", False),      # other team
    ("own", "rep.priya", "ACME", False),       # team-mate, but own-only
    ("own", "rep.tom", "ACME", True),
    ("all", "rep.zhang", "ACME", True),
    ("own", "mgr.sarah", "ACME", True),        # managers always see their team
    ("own", "mgr.li", "ACME", False),
    ("own", "admin", "CN-0001", True),         # admins see everything
])
def test_read_permissions(services, visibility, rep, key, allowed):
    svc = make_services(services.engine, visibility=visibility)
    reply, text = ask(svc, f"/tier {key}", rep=rep, locale="en")
    if allowed:
        assert reply.template == "tier", text
    else:
        assert reply.context.get("code") == "not_your_account"
        assert text == "That's not your account, so I can't show it. Ask its owner or your manager."
        assert key not in text


def test_at_risk_scopes(services):
    reply, text = ask(services, "/at-risk", rep="rep.tom")
    assert reply.context["scope"] == "own"
    assert all(r["owner"] == "Tom Baker" for r in reply.context["rows"])
    reply, _ = ask(services, "/at-risk all 3", rep="admin")
    assert reply.context["scope"] == "all" and len(reply.context["rows"]) <= 3
    assert all(r["churn_risk"] >= 60 or r["tier"] == "at-risk" for r in reply.context["rows"])
    stakes = [r["stake"] for r in reply.context["rows"]]
    assert stakes == sorted(stakes, reverse=True)
    reply, text = ask(services, "/at-risk all", rep="rep.tom")
    assert reply.context["code"] == "scope_not_allowed" and "Try /at-risk team" in text
    reply, text = ask(services, "/风险 团队", rep="mgr.li")
    assert reply.context["scope"] == "team" and ("流失风险客户" in text or "没有流失风险" in text)


def test_unknown_user_gets_told_how_to_get_added_and_nothing_else(services):
    reply, text = ask(services, "/tier ACME", rep="U999", platform="slack")
    assert reply.context["code"] == "unknown_user"
    assert "Ask your tierbot admin to add you" in text and "ACME" not in text


def test_unknown_command_and_usage(services):
    _, text = ask(services, "/frobnicate now")
    assert 'I don\'t know the command "/frobnicate"' in text and "/tier" in text
    reply, text = ask(services, "/tier")
    assert reply.context["code"] == "usage" and "/tier <account> [why]" in text
    _, text = ask(services, "/at-risk lots")
    assert "/at-risk [mine|team|all] [N]" in text


def test_help_in_both_languages(services):
    _, en = ask(services, "/help", locale="en")
    _, zh = ask(services, "/帮助", locale="zh")
    assert "/tier <account> [why]" in en and "/分层 <客户> [为什么]" in zh


def test_unexpected_failure_is_an_apology_with_a_reference(services, caplog):
    with services.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE tier_overrides"))
    with caplog.at_level(logging.ERROR, logger="tierbot.commands"):
        reply, text = ask(services, "/tier ACME")
    assert reply.template == "oops"
    ref = reply.context["ref"]
    assert ref in text and "Traceback" not in text and "tier_overrides" not in text
    assert any(ref in r.getMessage() for r in caplog.records)


def test_not_scored_yet(engine):
    load_demo(engine, generate_demo(accounts=10, seed=5, today=TODAY))
    reply, text = ask(make_services(engine), "/tier ACME")
    assert reply.context["code"] == "not_scored" and "tierbot score" in text


HOSTILE = ["<!channel> pay me", "@all 紧急", "*bold* _it_ `code` [x](http://evil)",
           "{{ 7*7 }} {% raw %}", "\x1b[31mred\x1b[0m", "مرحبا \u202e RTL", "🔥" * 20,
           "x" * 10_000]


@pytest.mark.parametrize("summary", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_notes_are_shown_as_plain_text(services, summary):
    with services.engine.begin() as conn:
        acme = conn.execute(sa.select(Account.id).where(Account.key == "ACME")).scalar_one()
        conn.execute(sa.insert(Interaction).values(
            account_id=acme, kind="visit", occurred_on=TODAY, summary=summary, source="test",
            idempotency_key=f"hostile-{hash(summary)}"))
    reply, text = ask(services, "/tier ACME")
    line = next(l for l in text.splitlines() if l.startswith("Last contact:"))
    assert "\x1b" not in line and "49" not in line
    assert len(line) < 200  # long notes are cut, not dumped
    assert line.startswith("Last contact: 22 Nov 2026, visit")


def test_channel_escapers():
    assert escape_slack("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    wecom = escape_wecom("@all *bold* [link](x) <font>")
    assert "@" not in wecom and "\\*bold\\*" in wecom and "\\[link\\]" in wecom and "\\<font\\>" in wecom


def test_accounts_book_by_tier_with_movements(services):
    reply, text = ask(services, "/accounts", rep="rep.tom")
    ctx = reply.context
    assert ctx["scope"] == "own" and ctx["since"] is None and "No earlier score" in text
    with services.engine.connect() as conn:
        mine = conn.execute(sa.select(sa.func.count()).select_from(Account).join(
            Rep, Rep.id == Account.owner_id).where(Rep.key == "rep.tom")).scalar_one()
    assert ctx["total"] == mine
    assert [r["tier"] for r in ctx["rows"]] == ["strategic", "key", "potential", "general", "at-risk"]
    rescore(services.engine, services.scoring, date(2027, 2, 20))
    reply, text = ask(services, "/客户 团队", rep="mgr.li")
    assert reply.context["since"] == TODAY
    assert ("自2026年11月22日以来的变动" in text) == bool(reply.context["moves"])
    assert sum(m["accounts"] for m in reply.context["moves"]) > 0


def test_digest_preview(services):
    reply, text = ask(services, "/digest", rep="mgr.sarah")
    ctx = reply.context
    assert ctx["scope"] == "team" and text.startswith("Weekly digest for Sarah Chen (your team)")
    with services.engine.connect() as conn:
        freq = conn.execute(sa.text(
            "SELECT s.frequency FROM score_snapshots s JOIN accounts a ON a.id = s.account_id "
            "JOIN reps r ON r.id = a.owner_id WHERE r.key IN ('mgr.sarah','rep.tom','rep.priya','rep.lucas')"
        )).scalars().all()
    buyers = [f for f in freq if f >= 1]
    assert ctx["kpis"]["repurchase_rate"] == pytest.approx(sum(f >= 2 for f in buyers) / len(buyers))
    # The digest's revisit counts agree with what each rep sees in /due.
    per_rep = {p["rep"]: p["overdue"] for p in ctx["revisits"]["per_rep"]}
    tom_overdue = ask(services, "/due overdue", rep="rep.tom")[0].context["rows"]
    assert per_rep["Tom Baker"] == len(tom_overdue)
    assert ctx["revisits"]["overdue_total"] == sum(per_rep.values())
    assert "none yet (no earlier score to compare with)" in text
    rescore(services.engine, services.scoring, date(2027, 2, 20))
    reply, text = ask(services, "/周报", rep="rep.tom", locale="zh")
    assert reply.context["scope"] == "own" and "的周报（您的客户）" in text
    assert all(m["tier"] != m["was"] for m in reply.context["moved"])


@pytest.mark.parametrize("topic", ["tier", "at-risk", "accounts", "digest", "visit", "due",
                                   "feedback", "assign", "override"])
def test_help_for_each_command(services, topic):
    _, en = ask(services, f"/help {topic}", locale="en")
    _, zh = ask(services, f"/帮助 {topic}", locale="zh")
    assert "tierbot commands:" not in en and "tierbot 命令：" not in zh  # a specific entry
    assert en.startswith(f"/{topic}")


def test_manager_digest_has_repurchase_rate_by_tier_vs_a_month_ago(services):
    first = ask(services, "/digest", rep="mgr.sarah")[0].context["kpis"]["repurchase_by_tier"]
    assert first and all(r["before"] is None for r in first)  # no run a month older yet
    rescore(services.engine, services.scoring, date(2026, 12, 30))
    reply, text = ask(services, "/digest", rep="mgr.sarah")
    rows = {r["tier"]: r for r in reply.context["kpis"]["repurchase_by_tier"]}
    with services.engine.connect() as conn:
        run_then = conn.execute(sa.text("SELECT min(id) FROM score_runs")).scalar()
        counted = conn.execute(sa.text(
            "SELECT s.tier, sum(CASE WHEN s.frequency >= 1 THEN 1 ELSE 0 END), "
            "sum(CASE WHEN s.frequency >= 2 THEN 1 ELSE 0 END) FROM score_snapshots s "
            "JOIN accounts a ON a.id = s.account_id JOIN reps r ON r.id = a.owner_id "
            "WHERE s.run_id = :run AND r.key IN ('mgr.sarah','rep.tom','rep.priya','rep.lucas') "
            "GROUP BY s.tier"), {"run": run_then}).all()
    compared = [t for t, buyers, _ in counted if t in rows and buyers]
    assert compared and all(rows[t]["before"] is not None for t in compared)
    for tier, buyers, repeat in counted:
        if tier in rows and buyers:
            assert rows[tier]["before"] == pytest.approx(repeat / buyers)
    assert "Repurchase rate by tier (vs a month ago):" in text
    _, own = ask(services, "/digest", rep="rep.tom")
    assert "Repurchase rate by tier" not in own  # a rep's digest is about their own book


@pytest.mark.parametrize("text, locale, says", [("/help foo", "en", '"foo" is not a command.'),
                                                 ("/帮助 随便", "zh", "“随便”不是命令。")])
def test_help_for_something_that_is_not_a_command_says_so_and_lists_them(services, text,
                                                                          locale, says):
    reply, shown = ask(services, text, rep="rep.tom", locale=locale)
    assert shown.splitlines()[0] == says
    assert "/tier" in shown or "/分层" in shown
    _, known = ask(services, "/help /snooze", rep="rep.tom")
    assert known.startswith("/snooze <account>") and "not a command" not in known


def test_english_counts_agree_with_their_nouns():
    from messages.render import render

    one = render("visit_logged", {"key": "A", "name": "A", "kind": "call", "day": "2026-11-22",
                                  "note": "n", "due": "2026-11-23", "tier": "key", "cadence": 1,
                                  "basis": "cadence", "duplicate": False})
    assert "every 1 day)" in one and "1 days" not in one
    rows = [{"name": "A", "key": "A", "tier": "key", "days_overdue": 1, "snoozed": False,
             "last": None, "due": "2026-11-21", "owner": "Tom"}]
    due = render("due", {"rows": rows, "overdue": rows, "upcoming": [], "mode": "due",
                         "today": "2026-11-22", "team": False})
    assert "1 day overdue" in due
    book = render("accounts", {"rows": [{"tier": "key", "accounts": 1, "revenue": 5.0}],
                               "moves": [], "as_of": "2026-11-22", "since": None,
                               "scope": "own", "total": 1, "revenue": 5.0, "currency": "USD"})
    assert "1 account," in book and "1 account " in book and "1 accounts" not in book


def test_chinese_cards_name_interaction_kinds_in_chinese(services):
    ask(services, "/visit 华锐 meeting 季度复盘", rep="rep.zhang", locale="en")
    _, card = ask(services, "/分层 华锐", rep="rep.zhang", locale="zh")
    line = next(x for x in card.splitlines() if x.startswith("最近联系"))
    assert "会议" in line and "meeting" not in line


def test_no_card_contradicts_its_own_risk(services):
    """Every account's card, in both languages: the chance of an order is 100 - risk, a
    missed rhythm is said as overdue (never "expected" in the past), no P(still buying)
    beside a risk, a declining or dormant account says why, and the purchase model's own
    warnings appear only when the risk agrees."""
    import re
    from datetime import date as Date

    with services.engine.connect() as conn:
        keys = conn.execute(sa.select(Account.key).order_by(Account.key)).scalars().all()
    checked = 0
    for key in keys:
        reply, text = ask(services, f"/tier {key} why", rep="admin")
        if reply.template != "tier":
            continue
        s, risk = reply.context["s"], reply.context["risk"]
        assert "P(still buying)" not in text and "still a customer" not in text
        if s["churn_risk"] is None:
            continue
        checked += 1
        assert abs(risk["chance"] + s["churn_risk"] - 100.0) < 1e-9
        shown = re.search(r"churn risk ([\d.<>]+)% chance of no order", text).group(1)
        chance = re.search(r"([\d.<>]+)% chance of an order in the next 90 days", text).group(1)
        if shown[0].isdigit() and chance[0].isdigit():
            assert abs(float(shown) + float(chance) - 100) <= 1.0, (key, shown, chance)
        if "was expected" in text:
            late = risk["overdue_days"]
            assert risk["expected"] < s["as_of"] and f"{late} day{'' if late == 1 else 's'} overdue" in text
        if "expected around" in text:
            assert risk["expected"] >= s["as_of"]
        if s["lifecycle"] in ("declining", "dormant"):
            assert ("Declining: " if s["lifecycle"] == "declining" else "Dormant: ") in text
        if "The purchase model puts the chance" in text or "The purchase model expects" in text.split("Why this risk:")[0]:
            assert s["churn_risk"] >= 50
        _, zh = ask(services, f"/tier {key}", rep="admin", locale="zh")
        assert "未来90天不下单的概率" in zh or "排名" in zh
    assert checked > 50


def test_backtest_in_chat_for_managers(services):
    reply, text = ask(services, "/backtest")
    assert reply.template == "backtest"
    r = reply.context["r"]
    assert r.horizon_days == 90 and r.as_of == TODAY - timedelta(days=90)
    assert f"churn risk     AUC {r.auc['risk']:.3f}" in text and "recency alone  AUC" in text
    assert "Risk minus recency" in text and "Top 10% by risk" in text
    _, zh = ask(services, "/回测 30", locale="zh")
    assert "流失风险在本客户群上的预测效果" in zh and "30天内" in zh
    reply, text = ask(services, "/backtest", rep="rep.tom")
    assert reply.context["code"] == "managers_only"
    reply, _ = ask(services, "/backtest 45")
    assert reply.context["code"] == "usage"
