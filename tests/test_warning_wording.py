"""Early warnings in words (messages/warnings.py): counts agree with their nouns, chances
have the one precision a risk has, no "0.0 orders", and no English left in Chinese."""
import re
from pathlib import Path

import pytest

from messages.render import money
from messages.warnings import describe

ROOT = Path(__file__).resolve().parent.parent


def w(code, **params):
    return {"code": code, "params": params}


@pytest.mark.parametrize("warning, en, zh", [
    (w("interactions_falling", last_90=1, previous_90=4),
     "Contact is falling: 1 interaction in the last 90 days against 4 in the 90 before.",
     "互动频次减少：近90天1次，之前90天4次。"),
    (w("interactions_falling", last_90=2, previous_90=6),
     "Contact is falling: 2 interactions in the last 90 days", "近90天2次"),
    (w("complaint", complaints=1), "1 complaint in the last 90 days.", "近90天有1次投诉。"),
    (w("complaint", complaints=3), "3 complaints in the last 90 days.", "近90天有3次投诉。"),
    (w("overdue", days_since_order=1, usual_gap_days=0.4),
     "No order for 1 day; this account usually orders every 0 days.", "已1天未下单"),
    (w("overdue", days_since_order=95, usual_gap_days=30.0),
     "No order for 95 days; this account usually orders every 30 days.",
     "已95天未下单；该客户通常每30天下单一次。"),
    (w("low_p_alive", p_alive_pct=0.2), "still buying at <1%.", "仍在采购的概率为<1%。"),
    (w("low_p_alive", p_alive_pct=40.8), "still buying at 41%.", "仍在采购的概率为41%。"),
    (w("low_p_alive", p_alive_pct=99.7), "still buying at >99%.", "仍在采购的概率为>99%。"),
    (w("low_activity", expected_90d=0.0, orders_12m=5, usual_90d=1.2),
     "expects fewer than 0.1 orders in the next 90 days; this account placed 5 in the last "
     "12 months (about 1.2 per 90 days).", "购买模型预计未来90天下单不到0.1次"),
    (w("spend_down_2q", drop_before_pct=40.0, drop_recent_pct=47.0, last_quarter=12349.05),
     "down 40% and then 47% (last quarter $12,349)", "先降40%，再降47%（上季度 $12,349）"),
])
def test_warnings_say_counts_chances_and_amounts_as_the_card_does(warning, en, zh):
    said_en = describe(warning, "en", lambda v: money(v, "USD", "en"))
    said_zh = describe(warning, "zh", lambda v: money(v, "USD", "zh"))
    assert en in said_en, said_en
    assert zh in said_zh, said_zh
    assert "(s)" not in said_en and ".0%" not in said_en + said_zh
    assert not re.search(r"[A-Za-z]{3,}", said_zh.replace("$", "")), said_zh


def test_scoring_has_no_words_of_its_own():
    # Every word a user reads lives in messages/ (ARCHITECTURE.md): scoring/ computes codes
    # and numbers, so no string in its code holds Chinese (docstrings aside). config.py is
    # the exception by nature: its errors quote tiers.toml's own syntax to the admin,
    # labels included.
    import ast

    for path in (ROOT / "scoring").rglob("*.py"):
        if path.name == "config.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and id(node) not in docs:
                assert not re.search(r"[\u4e00-\u9fff]", node.value), \
                    f"{path.name} holds Chinese text: {node.value[:40]!r}"
