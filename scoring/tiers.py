"""Tier rules as data, with hysteresis, and human overrides that always win."""
from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import date

import numpy as np

from scoring.config import Condition, ScoringConfig

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
        "==": operator.eq, "!=": operator.ne}


@dataclass(frozen=True)
class Override:
    tier: str
    reason: str
    by: str
    expires_on: date | None = None


def _mask(cond: Condition, values: dict, slack: float = 0.0) -> np.ndarray:
    """Where `cond` holds; `slack` loosens a numeric threshold in the account's favour."""
    v = values[cond.field]
    if cond.field == "lifecycle":
        wanted = cond.value if isinstance(cond.value, list) else [cond.value]
        inside = np.isin(v, wanted)
        return ~inside if cond.op == "!=" else inside
    threshold = cond.value
    if cond.op in (">=", ">"):
        threshold -= slack
    elif cond.op in ("<=", "<"):
        threshold += slack
    return _OPS[cond.op](v, threshold)


def assign_tiers(account_id: np.ndarray, values: dict, config: ScoringConfig,
                 previous: dict[int, str], overrides: dict[int, Override], as_of: date):
    """(tier, rule name, matched values) per account. First matching rule wins.

    Hysteresis: for the rules of an account's current tier, numeric thresholds are loosened
    by `config.hysteresis[field]`, so an account on a boundary does not flap week to week;
    moving up or down needs a clear margin."""
    n = len(account_id)
    prev = np.array([previous.get(int(a), "") for a in account_id.tolist()], dtype=object)
    tier = np.full(n, "", dtype=object)
    rule_index = np.full(n, -1)
    open_ = np.ones(n, dtype=bool)
    for i, rule in enumerate(config.rules):
        strict = np.ones(n, dtype=bool)
        relaxed = np.ones(n, dtype=bool)
        for cond in rule.when:
            strict &= _mask(cond, values)
            relaxed &= _mask(cond, values, float(config.hysteresis.get(cond.field, 0)))
        hit = open_ & np.where(prev == rule.tier, relaxed, strict)
        tier[hit] = rule.tier
        rule_index[hit] = i
        open_ &= ~hit
    rules, matched = [], []
    for k, a in enumerate(account_id.tolist()):
        rule = config.rules[rule_index[k]]
        model = {c.field: _plain(values[c.field][k]) for c in rule.when}
        override = overrides.get(int(a))
        if override and (override.expires_on is None or override.expires_on >= as_of):
            # The model's own verdict is kept, so clearing the override can restore it.
            matched.append({"reason": override.reason, "by": override.by,
                            "until": override.expires_on.isoformat() if override.expires_on else None,
                            "model": {"tier": str(tier[k]), "rule": rule.name, "matched": model}})
            tier[k] = override.tier
            rules.append("override")
            continue
        rules.append(rule.name)
        matched.append(model)
    return tier, rules, matched


def _plain(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return round(float(value), 2)
    return value

