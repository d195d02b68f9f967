"""Scoring configuration as data, validated up front with clear errors."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TIERS = ("strategic", "key", "potential", "general", "at-risk")
LIFECYCLES = ("new", "growing", "mature", "declining", "dormant")
NUMERIC_FIELDS = ("r_score", "f_score", "m_score", "recency_days", "frequency", "monetary",
                  "churn_risk", "risk_rank", "p_alive", "age_days", "days_to_due")
FIELDS = NUMERIC_FIELDS + ("lifecycle",)
OPERATORS = (">=", "<=", ">", "<", "==", "!=", "in")
LOCALES = ("en", "zh")  # the languages a rule's label may be given in


class ConfigError(ValueError):
    """The tiers configuration is wrong; the message says where and how to fix it."""


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Rule:
    name: str
    tier: str
    when: tuple[Condition, ...]
    # What a user reads for the rule, per locale: (("en", "..."), ("zh", "...")).
    labels: tuple[tuple[str, str], ...] = ()

    def label(self, locale: str) -> str:
        """The rule's label in `locale`, else its English label, else its name."""
        given = dict(self.labels)
        return given.get(locale) or given.get("en") or self.name


@dataclass(frozen=True)
class ScoringConfig:
    rules: tuple[Rule, ...]
    window_days: int = 365
    lifecycle: dict[str, float] = field(default_factory=dict)
    warnings: dict[str, float] = field(default_factory=dict)
    risk: dict[str, float] = field(default_factory=dict)
    hysteresis: dict[str, float] = field(default_factory=dict)
    cadence_days: dict[str, int] = field(default_factory=dict)
    playbook: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def rule_label(self, name: str, locale: str) -> str:
        """What a user reads for the rule `name` (as stored in a snapshot): its label in
        `locale`; a rule no longer in the configuration is shown by its name."""
        for rule in self.rules:
            if rule.name == name:
                return rule.label(locale)
        return name


REQUIRED = {
    "lifecycle": ("new_days", "growing_days", "growth_ratio", "decline_ratio", "dormant_days",
                  "dormant_gap_multiple"),
    "warnings": ("quarter_drop", "overdue_gap_multiple", "min_orders_for_gap",
                 "interaction_drop", "min_interactions", "low_p_alive", "detractor_nps",
                 "low_activity_ratio", "min_orders_for_activity"),
    "risk": ("horizon_days", "reasons"),
}


def parse_config(data: dict, source: str = "tiers.toml") -> ScoringConfig:
    """Build a ScoringConfig from parsed TOML, or raise ConfigError naming the bad entry."""
    for section, keys in REQUIRED.items():
        values = data.get(section, {})
        missing = [k for k in keys if not isinstance(values.get(k), (int, float))]
        if missing:
            raise ConfigError(f"{source}: [{section}] needs numbers for: {', '.join(missing)}")
    cadence = data.get("cadence_days", {})
    if set(cadence) != set(TIERS) or not all(isinstance(v, int) and v > 0 for v in cadence.values()):
        raise ConfigError(f"{source}: [cadence_days] needs a whole number of days > 0 for "
                          f"each tier: {', '.join(TIERS)}")
    horizon = data["risk"]["horizon_days"]
    if not (isinstance(horizon, int) and 7 <= horizon <= 730):
        raise ConfigError(f"{source}: [risk] horizon_days must be a whole number of days "
                          f"from 7 to 730, not {horizon!r}")
    rules = tuple(_parse_rule(i, r, source) for i, r in enumerate(data.get("rules", []), 1))
    if not rules or rules[-1].when:
        raise ConfigError(f"{source}: the last [[rules]] entry must have `when = []` so every "
                          "account gets a tier")
    return ScoringConfig(rules=rules, window_days=int(data.get("window_days", 365)),
                         lifecycle=dict(data["lifecycle"]), warnings=dict(data["warnings"]),
                         risk=dict(data["risk"]), hysteresis=dict(data.get("hysteresis", {})),
                         cadence_days=dict(cadence), playbook=dict(data.get("playbook", {})))


def _parse_rule(number: int, raw: dict, source: str) -> Rule:
    where = f"{source}: rule {number} ({raw.get('name', 'unnamed')})"
    if raw.get("tier") not in TIERS:
        raise ConfigError(f"{where}: tier {raw.get('tier')!r} is not one of {', '.join(TIERS)}")
    conditions = []
    for cond in raw.get("when", []):
        if not (isinstance(cond, list) and len(cond) == 3):
            raise ConfigError(f"{where}: each condition is [field, operator, value], not {cond!r}")
        name, op, value = cond
        if name not in FIELDS:
            raise ConfigError(f"{where}: unknown field {name!r}; use one of {', '.join(FIELDS)}")
        if op not in OPERATORS:
            raise ConfigError(f"{where}: unknown operator {op!r}; use one of {' '.join(OPERATORS)}")
        if name == "lifecycle":
            values = value if isinstance(value, list) else [value]
            if op not in ("==", "!=", "in") or not set(values) <= set(LIFECYCLES):
                raise ConfigError(f"{where}: lifecycle compares with ==, != or in against "
                                  f"{', '.join(LIFECYCLES)}")
        elif op == "in" or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: {name} needs a number and one of >= <= > < == !=")
        conditions.append(Condition(name, op, value))
    return Rule(name=str(raw.get("name") or f"rule-{number}"), tier=raw["tier"],
                when=tuple(conditions), labels=_parse_label(raw.get("label"), where))


def _parse_label(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    """A rule's optional `label = {en = "...", zh = "..."}` (either language may be left
    out: the card falls back to English, then to the rule's name)."""
    if raw is None:
        return ()
    example = 'label = {en = "Solid regular buyer", zh = "稳定常购客户"}'
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{where}: label must be a table of texts by language, like "
                          f"{example}, not {raw!r}")
    unknown = [k for k in raw if k not in LOCALES]
    if unknown:
        raise ConfigError(f"{where}: label has an unknown language {unknown[0]!r}; use "
                          f"{' or '.join(LOCALES)}, like {example}")
    for locale, text in raw.items():
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{where}: label.{locale} must be a non-empty text in quotes, "
                              f"like {example}, not {text!r}")
    return tuple((locale, raw[locale].strip()) for locale in LOCALES if locale in raw)
