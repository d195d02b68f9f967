"""Issue 13, day-one trust: what a card, a list and the digest say agrees with itself and
is said in the user's language (rule labels, stakes, cut lists, due counts, risk figures)."""
from __future__ import annotations

import re
import tomllib
from dataclasses import replace
from importlib import resources

import sqlalchemy as sa

from scoring.config import parse_config
from storage.models import Account, ScoreSnapshot
from tests.commands_support import ask


def line(text, start):
    [found] = [ln for ln in text.splitlines() if ln.startswith(start)]
    return found


def snapshot_of(engine, key):
    with engine.connect() as conn:
        return conn.execute(sa.select(ScoreSnapshot.tier, ScoreSnapshot.tier_rule)
                            .join(Account, Account.id == ScoreSnapshot.account_id)
                            .where(Account.key == key)).one()


# ---- rule labels ----------------------------------------------------------------------

def test_the_card_says_why_with_the_rules_label_in_the_users_language(services):
    _, rule = snapshot_of(services.engine, "ACME")
    label = services.scoring.rule_label(rule, "en")
    assert label != rule
    why = line(ask(services, "/tier ACME")[1], "Why: ")
    assert why.startswith(f"Why: {label} (") and rule not in why
    zh = line(ask(services, "/tier ACME", locale="zh")[1], "依据：")
    assert zh.startswith("依据：" + services.scoring.rule_label(rule, "zh") + "（")
    # No English left: neither the rule's name nor the fields it matched on.
    assert not re.search(r"[a-z]{2,}", zh), zh


def test_a_tiers_file_without_labels_shows_the_rules_name(services):
    data = tomllib.loads(resources.files("scoring").joinpath("tiers.toml").read_text("utf-8"))
    for raw in data["rules"]:
        raw.pop("label", None)
    plain = replace(services, scoring=parse_config(data, "custom.toml"))
    _, rule = snapshot_of(services.engine, "ACME")
    assert line(ask(plain, "/tier ACME")[1], "Why: ").startswith(f"Why: {rule} (")
    assert line(ask(plain, "/tier ACME", locale="zh")[1], "依据：").startswith(f"依据：{rule}（")


def test_an_ended_override_is_said_as_such_not_dumped(services):
    from datetime import timedelta

    from tests.commands_support import TODAY

    ask(services, "/override ACME strategic board decision until 30 Nov 2026", rep="mgr.sarah")
    assert snapshot_of(services.engine, "ACME") == ("strategic", "override")
    later = replace(services, today=lambda: TODAY + timedelta(days=10))
    _, card = ask(later, "/tier ACME")
    assert line(card, "Why: ") == ("Why: set by hand; the override has ended, and the next "
                                   "score tiers it by the rules again.")
    assert "board decision" not in card and "2026-11-30" not in card
