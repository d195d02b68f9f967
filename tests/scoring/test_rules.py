"""Each default tier rule, table-driven, through the rule engine with the shipped rules."""
from datetime import date

import numpy as np
import pytest

from scoring.config import ConfigError, parse_config
from scoring.tiers import assign_tiers
from tests.scoring.helpers import config

BASE = dict(r_score=3, f_score=3, m_score=3, recency_days=20, frequency=6, monetary=5000.0,
            churn_risk=10.0, risk_rank=30.0, days_to_due=0, p_alive=0.95, age_days=800, lifecycle="mature")

CASES = [
    ("valuable-going-quiet", "at-risk", dict(m_score=4, churn_risk=75.0, risk_rank=85.0)),
    ("top-recent-frequent-high-spend", "strategic", dict(r_score=5, f_score=4, m_score=5)),
    ("solid-regular-buyer", "key", dict()),
    ("growing-firm", "key", dict(r_score=2, lifecycle="growing", m_score=3)),
    ("high-spend-infrequent", "potential", dict(r_score=2, f_score=1, m_score=5)),
    ("young-account", "potential", dict(r_score=2, f_score=1, m_score=1, lifecycle="new")),
    ("everyone-else", "general", dict(r_score=1, f_score=2, m_score=2)),
    # Edges: a new account is never at-risk; the riskiest fifth means rank 80, not 79.9;
    # a high risk alone is not at-risk when most of the book is as risky (rank 50).
    ("young-account", "potential", dict(r_score=2, m_score=3, f_score=1, churn_risk=90.0,
                                        risk_rank=95.0, lifecycle="new")),
    ("solid-regular-buyer", "key", dict(risk_rank=79.9)),
    ("solid-regular-buyer", "key", dict(churn_risk=90.0, risk_rank=50.0)),
    # Risky only because its next order is not due yet (a slow buyer between orders).
    ("solid-regular-buyer", "key", dict(m_score=4, risk_rank=85.0, days_to_due=100)),
]


def run(cases, previous=None):
    values = {k: np.array([c[2].get(k, BASE[k]) for c in cases],
                          dtype=object if k == "lifecycle" else float) for k in BASE}
    ids = np.arange(1, len(cases) + 1)
    return assign_tiers(ids, values, config(), previous or {}, {}, date(2026, 11, 22))


def test_each_rule():
    tiers, rules, matched = run(CASES)
    assert list(zip(rules, tiers)) == [(c[0], c[1]) for c in CASES]
    assert matched[0] == {"m_score": 4, "risk_rank": 85.0, "lifecycle": "mature",
                          "days_to_due": 0}


def test_leaving_at_risk_needs_a_clear_margin():
    case = [("", "", dict(m_score=4, risk_rank=75.0))]
    assert run(case)[0][0] == "key"                          # newcomer at 75: not at-risk
    assert run(case, previous={1: "at-risk"})[0][0] == "at-risk"  # incumbent stays until < 70
    case = [("", "", dict(m_score=4, risk_rank=65.0))]
    assert run(case, previous={1: "at-risk"})[0][0] == "key"


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["rules"].append({"name": "x", "tier": "key", "when": [["m_score", ">=", 1]]}),
     "last \\[\\[rules\\]\\] entry must have `when = \\[\\]`"),
    (lambda d: d["rules"][0]["when"].append(["spend", ">=", 1]), "unknown field 'spend'"),
    (lambda d: d["rules"][0]["when"].append(["m_score", "~", 1]), "unknown operator '~'"),
    (lambda d: d["rules"][0]["when"].append(["lifecycle", ">=", "new"]), "lifecycle compares with"),
    (lambda d: d["cadence_days"].pop("key"), "\\[cadence_days\\] needs"),
    (lambda d: d["risk"].pop("horizon_days"), "\\[risk\\] needs numbers for: horizon_days"),
    (lambda d: d["risk"].update(horizon_days=3), "horizon_days must be a whole number"),
    (lambda d: d["rules"][2].update(label="Solid"),
     "rule 3 \\(solid-regular-buyer\\): label must be a table of texts by language, like "
     "label = \\{en = "),
    (lambda d: d["rules"][2].update(label={"fr": "Client fidèle"}),
     "rule 3 \\(solid-regular-buyer\\): label has an unknown language 'fr'; use en or zh"),
    (lambda d: d["rules"][2].update(label={"en": "Solid", "zh": 3}),
     "rule 3 \\(solid-regular-buyer\\): label.zh must be a non-empty text in quotes"),
    (lambda d: d["rules"][2].update(label={"en": "  "}), "label.en must be a non-empty text"),
])
def test_config_errors_name_what_is_wrong(mutate, message):
    import tomllib
    from importlib import resources

    data = tomllib.loads(resources.files("scoring").joinpath("tiers.toml").read_text("utf-8"))
    mutate(data)
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


def _shipped():
    import tomllib
    from importlib import resources

    return tomllib.loads(resources.files("scoring").joinpath("tiers.toml").read_text("utf-8"))


def test_every_shipped_rule_has_a_label_in_english_and_chinese():
    rules = parse_config(_shipped()).rules
    for rule in rules:
        en, zh = rule.label("en"), rule.label("zh")
        assert en != rule.name and zh != rule.name and en != zh, rule.name
        assert not any("a" <= ch.lower() <= "z" for ch in zh), (rule.name, zh)
    assert parse_config(_shipped()).rule_label("solid-regular-buyer", "zh") == "稳定的常购客户"


def test_rules_without_labels_are_shown_by_their_names():
    data = _shipped()
    for raw in data["rules"]:
        raw.pop("label")
    data["rules"][0]["label"] = {"en": "Going quiet"}  # one language only: English for both
    config = parse_config(data)
    assert config.rule_label("solid-regular-buyer", "zh") == "solid-regular-buyer"
    assert config.rule_label("valuable-going-quiet", "zh") == "Going quiet"
    assert config.rule_label("a-rule-since-removed", "en") == "a-rule-since-removed"
