"""The risk's reasons stored compactly (issue 12) and expanded when shown say exactly what
the reasons as scored said: every code, effect and number of the old params (the oracle,
tests/reasons_reference.py), for every account of the demo book, through every loader
that shows them (card, /at-risk and the digest, alerts), on SQLite and PostgreSQL."""
import json
import re
from dataclasses import replace
from datetime import date

import numpy as np
import pytest
import sqlalchemy as sa

from bot.scoring_config import load_scoring_config
from messages.risk import reason_sentence
from scoring import risk
from scoring.book import NO_DATE
from scoring.engine import _usual_gap, score_book
from storage.cards import account_card, at_risk_accounts, newly_at_risk
from storage.demo import generate_demo, load_demo
from storage.models import Account, Rep, ScoreSnapshot
from storage.scores import load_book, save_snapshot
from tests.reasons_reference import old_risk_reasons

TODAY = date(2026, 11, 22)


def as_scored(book, scores, cfg) -> list[list[dict]]:
    """Every account's reasons as the old code path built them, params and all."""
    horizon = int(cfg.risk["horizon_days"])
    detractor = int(cfg.warnings["detractor_nps"])
    ordered = book.last_order != NO_DATE
    recency = np.where(ordered, TODAY.toordinal() - book.last_order, -1)
    gap = _usual_gap(book, int(cfg.warnings["min_orders_for_gap"]))
    X = risk.features(book, scores.models.bg, horizon, detractor)
    return old_risk_reasons(book, scores.models.risk, X, ordered, recency, gap, horizon,
                            int(cfg.risk["reasons"]))


def stored_then_expanded(engine, cfg):
    """(book, scores, expected reasons by account id, each card's reasons by account id)."""
    book = load_book(engine, TODAY)
    scores = score_book(book, cfg)
    save_snapshot(engine, scores, {})
    expected = dict(zip(book.account_id.tolist(), as_scored(book, scores, cfg)))
    shown = {a: account_card(engine, a, TODAY)["snapshot"]["details"]["risk_reasons"]
             for a in book.account_id.tolist()}
    return book, scores, expected, shown


@pytest.fixture
def demo_book(engine):
    load_demo(engine, generate_demo(today=TODAY))  # the demo book of `make demo`
    return engine


def test_cards_say_the_reasons_as_scored_for_every_account(demo_book):
    cfg = load_scoring_config("")
    book, scores, expected, shown = stored_then_expanded(demo_book, cfg)
    assert scores.models.risk.learned and len(book) == 300
    assert shown == expected
    codes = {r["code"] for reasons in expected.values() for r in reasons}
    assert len(codes) >= 5 and sum(map(len, expected.values())) > 500, codes
    # Each says itself in both languages, dates and counts in the card's words.
    for r in (r for reasons in shown.values() for r in reasons):
        en, zh = reason_sentence(r, "en"), reason_sentence(r, "zh")
        assert "(s)" not in en and not re.search(r"\d{4}-\d\d-\d\d", en + zh), (en, zh)
    # In process, the same expansion over the run's own figures.
    assert [scores.reasons_of(i) for i in range(len(book))] == list(expected.values())
    # /at-risk, the digest (same loader) and alerts expand them the same way.
    rows, _ = at_risk_accounts(demo_book, None, limit=1000)
    keys = {k: a for a, k in _keys(demo_book).items()}
    assert rows and all(r["details"]["risk_reasons"] == expected[keys[r["key"]]] for r in rows)
    with demo_book.begin() as conn:  # every at-risk account "moved" into at-risk
        conn.execute(sa.update(ScoreSnapshot).where(ScoreSnapshot.tier == "at-risk")
                     .values(previous_tier="key"))
        owners = conn.execute(sa.select(Rep.id)).scalars().all()
    alerted = [r for owner in owners for r in newly_at_risk(demo_book, owner, limit=1000)[1]]
    assert alerted and all(r["details"]["risk_reasons"] == expected[keys[r["key"]]]
                           for r in alerted)


def test_the_span_between_orders_is_stored_where_the_snapshot_has_no_usual_gap(demo_book):
    """With a usual gap needing many order days, most accounts' snapshots have none: their
    overdue reasons keep the span between their orders of their own."""
    cfg = load_scoring_config("")
    cfg = replace(cfg, warnings={**cfg.warnings, "min_orders_for_gap": 12})
    book, scores, expected, shown = stored_then_expanded(demo_book, cfg)
    assert shown == expected
    own = [r for i, reasons in enumerate(expected.values()) for r in reasons
           if "usual_gap_days" in r["params"] and np.isnan(scores.usual_gap_days[i])]
    assert own, "no overdue reason of an account without a usual gap: nothing was tested"


def test_a_fallback_risks_reasons_too(demo_book):
    """The fallback model (no history to learn from) has reasons of its own kind."""
    cfg = load_scoring_config("")
    book = replace(load_book(demo_book, TODAY), history=None)
    scores = score_book(book, cfg)
    assert not scores.models.risk.learned
    save_snapshot(demo_book, scores, {})
    expected = as_scored(book, scores, cfg)
    assert any(expected)
    for a, reasons in zip(book.account_id.tolist(), expected):
        assert account_card(demo_book, a, TODAY)["snapshot"]["details"]["risk_reasons"] == reasons


def _keys(engine) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(Account.id, Account.key)).all())


def test_a_reason_says_the_cards_own_figures_and_old_runs_still_show(demo_book):
    """One truth: a reason's days since the last order and 12-month spend are the
    snapshot's own columns (the card's RFM line), not copies. A run stored before the
    compact form (every number in its params) still shows as stored."""
    cfg = load_scoring_config("")
    book = load_book(demo_book, TODAY)
    scores = score_book(book, cfg)
    save_snapshot(demo_book, scores, {})
    i = next(i for i in range(len(book))
             if {"recency", "spend_12m"} & {r["code"] for r in scores.reasons_of(i)})
    account = int(book.account_id[i])
    mine = ScoreSnapshot.account_id == account
    with demo_book.begin() as conn:
        conn.execute(sa.update(ScoreSnapshot).where(mine).values(
            recency_days=ScoreSnapshot.recency_days + 1, monetary=ScoreSnapshot.monetary + 10))
    card = account_card(demo_book, account, TODAY)["snapshot"]
    said = {r["code"]: r["params"] for r in card["details"]["risk_reasons"]}
    assert {"recency", "spend_12m"} & said.keys()
    if "recency" in said:
        assert said["recency"]["recency_days"] == card["recency_days"] == book_recency(book, i) + 1
    if "spend_12m" in said:
        assert said["spend_12m"]["spend_12m"] == round(float(card["monetary"]), 2)
    old = [{"code": "recency", "effect": 0.7,
            "params": {"recency_days": 40, "typical_recency_days": 20}}]
    with demo_book.begin() as conn:
        conn.execute(sa.update(ScoreSnapshot).where(mine).values(
            details=json.dumps({"matched": {}, "warnings": [], "risk_reasons": old})))
    assert account_card(demo_book, account, TODAY)["snapshot"]["details"]["risk_reasons"] == old


def book_recency(book, i) -> int:
    return TODAY.toordinal() - int(book.last_order[i])
