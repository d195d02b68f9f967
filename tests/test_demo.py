from collections import defaultdict
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from storage.demo import DemoRefused, generate_demo, load_demo
from tests.conftest import count

TODAY = date(2026, 11, 22)


def test_same_seed_same_book_other_seed_other_book():
    a = generate_demo(seed=3, today=TODAY)
    b = generate_demo(seed=3, today=TODAY)
    c = generate_demo(seed=4, today=TODAY)
    assert a == b
    assert a.orders != c.orders


def test_book_has_the_promised_shape():
    book = generate_demo(seed=7, today=TODAY)
    assert len(book.accounts) == 300
    assert {r["role"] for r in book.reps} == {"rep", "manager", "admin"}
    managers = [r for r in book.reps if r["role"] == "manager"]
    assert len(managers) == 2 and all(any(r["manager"] == m["key"] for r in book.reps) for m in managers)
    names = [a["name"] for a in book.accounts]
    assert len(set(names)) == len(names)
    assert sum(any("\u4e00" <= ch <= "\u9fff" for ch in n) for n in names) >= 100
    assert sum(n.isascii() for n in names) >= 100
    assert sum(bool(a["aliases"]) for a in book.accounts) >= 30
    assert min(o["order_date"] for o in book.orders) < TODAY - timedelta(days=2 * 365)
    assert max(o["order_date"] for o in book.orders) <= TODAY
    assert any(o["amount"] < 0 for o in book.orders)  # returns
    assert any(f["kind"] == "complaint" for f in book.feedback)
    assert any(f["kind"] == "nps" and f["score"] <= 6 for f in book.feedback)


def _quarter_totals(book, key):
    totals = defaultdict(float)
    for o in book.orders:
        if o["account"] == key:
            totals[(TODAY - o["order_date"]).days // 91] += float(o["amount"])
    return totals


def test_patterns_are_real():
    book = generate_demo(seed=7, today=TODAY)
    by_type = defaultdict(list)
    for a in book.accounts:
        by_type[a["archetype"]].append(a["key"])
    assert set(by_type) >= {"weekly", "monthly", "quarterly", "growing", "declining", "quiet",
                            "new", "sporadic"}
    firsts, lasts = {}, {}
    for o in book.orders:
        k = o["account"]
        firsts[k] = min(firsts.get(k, o["order_date"]), o["order_date"])
        lasts[k] = max(lasts.get(k, o["order_date"]), o["order_date"])
    assert all((TODAY - lasts[k]).days >= 120 for k in by_type["quiet"])
    assert all((TODAY - firsts[k]).days < 90 for k in by_type["new"])
    # Most declining accounts bought less in each of the last two quarters than before.
    declining = 0
    for k in by_type["declining"]:
        q = _quarter_totals(book, k)
        declining += q[0] < q[1] < q[2]
    assert declining >= 0.6 * len(by_type["declining"])


def test_load_refuses_existing_data_unless_reset(engine):
    book = generate_demo(accounts=40, seed=1, today=TODAY)
    counts = load_demo(engine, book)
    assert counts["accounts"] == 40 == count(engine, "accounts")
    assert count(engine, "orders") == len(book.orders)
    with pytest.raises(DemoRefused, match="already has 40 accounts"):
        load_demo(engine, book)
    load_demo(engine, generate_demo(accounts=20, seed=2, today=TODAY), reset=True)
    assert count(engine, "accounts") == 20
    with engine.connect() as conn:
        managed = conn.execute(sa.text("SELECT count(*) FROM reps WHERE manager_id IS NOT NULL")).scalar_one()
    assert managed == 6


def test_team_summaries_match_the_book(engine):
    from decimal import Decimal

    from storage.queries import team_summaries

    book = generate_demo(accounts=60, seed=5, today=TODAY)
    load_demo(engine, book)
    reps = {r["key"]: r for r in book.reps}
    expected = defaultdict(lambda: [0, Decimal(0), 0])
    last = {}
    for o in book.orders:
        last[o["account"]] = max(last.get(o["account"], o["order_date"]), o["order_date"])
    for a in book.accounts:
        owner = reps[a["owner"]]
        team = reps[owner["manager"]]["name"] if owner["manager"] else owner["name"]
        expected[team][0] += 1
        expected[team][1] += sum((o["amount"] for o in book.orders if o["account"] == a["key"]
                                  and o["order_date"] > TODAY - timedelta(days=365)), Decimal(0))
        expected[team][2] += a["key"] in last and last[a["key"]] < TODAY - timedelta(days=120)
    got = {t.manager: [t.accounts, t.revenue_12m, t.quiet_accounts]
           for t in team_summaries(engine, today=TODAY)}
    assert got == {k: [n, r.quantize(Decimal("0.01")), q] for k, (n, r, q) in expected.items()}


def test_names_stay_unique_far_beyond_the_name_pools():
    """20,000 accounts is ~14x the English pool: every name (and key) is still unique."""
    import random

    from storage.demo import _make_account

    rng, names, keys = random.Random(7), set(), set()
    for i in range(20_000):
        account = _make_account(rng, i, "en" if i % 2 == 0 else "zh", names, ["rep.a"])
        keys.add(account["key"])
    assert len(names) == len(keys) == 20_000
    assert any(n.startswith("Acme Logistics 2 ") for n in names)  # a branch numbered


def test_a_demo_just_beyond_the_english_pool_loads(engine):
    """The English pool holds 1,440 names, so 3,000 accounts (1,500 English) used to loop
    forever; now it finishes and loads with unique names and keys."""
    book = generate_demo(accounts=3000, seed=7, today=TODAY)
    load_demo(engine, book)
    with engine.connect() as conn:
        distinct = conn.execute(sa.text(
            "SELECT count(DISTINCT name), count(DISTINCT key), count(*) FROM accounts")).one()
    assert tuple(distinct) == (3000, 3000, 3000)
    assert count(engine, "orders") == len(book.orders)
