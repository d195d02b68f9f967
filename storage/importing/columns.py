"""The columns each import kind takes, with the header spellings real exports use."""
from __future__ import annotations

from dataclasses import dataclass

from storage.importing.errors import ImportFailed, RowError

# Canonical column -> other header spellings (normalised: lower case, spaces as '_').
ALIASES: dict[str, tuple[str, ...]] = {
    "account": ("account_key", "customer", "customer_id", "client", "客户", "客户编号", "客户代码"),
    "date": ("order_date", "日期", "下单日期", "订单日期", "rate_date", "valid_from", "生效日期"),
    "amount": ("total", "金额", "订单金额"),
    "order_id": ("order_no", "order_number", "订单号", "订单编号"),
    "margin": ("profit", "gross_margin", "毛利", "利润"),
    "category": ("product_category", "品类", "类别"),
    "currency": ("币种", "货币"),
    "rate": ("exchange_rate", "fx_rate", "汇率"),
    "name": ("account_name", "customer_name", "名称", "客户名称", "姓名"),
    "owner": ("owner_rep", "account_owner", "负责人", "销售"),
    "industry": ("行业",),
    "size": ("size_segment", "company_size", "规模"),
    "region": ("区域", "地区"),
    "aliases": ("alias", "别名"),
    "rep": ("rep_key", "sales_rep", "销售代表"),
    "email": ("邮箱",),
    "role": ("角色",),
    "manager": ("经理",),
    "slack_user_id": ("slack_id",),
    "wecom_userid": ("wecom_user_id", "wecom_id", "企业微信"),
    "timezone": ("tz", "时区"),
    "locale": ("language", "语言"),
    "digest_at": ("digest_time", "周报时间"),
    "reminder_at": ("reminder_time", "提醒时间"),
    "kind": ("type", "类型"),
    "summary": ("notes", "note", "摘要", "备注"),
    "next_date": ("next", "下次日期"),
    "score": ("评分", "分数"),
    "comment": ("评论", "意见"),
}


@dataclass(frozen=True)
class KindSpec:
    required: tuple[str, ...]
    optional: tuple[str, ...]


SPECS: dict[str, KindSpec] = {
    # `name` (Account Name, 客户名称) names the accounts an orders file creates.
    "orders": KindSpec(("account", "date", "amount"),
                       ("order_id", "margin", "category", "currency", "name")),
    "accounts": KindSpec(("account", "name"), ("owner", "industry", "size", "region", "aliases")),
    "reps": KindSpec(("rep", "name"), ("email", "role", "manager", "slack_user_id",
                                       "wecom_userid", "timezone", "locale",
                                       "digest_at", "reminder_at")),
    "interactions": KindSpec(("account", "date", "kind"), ("rep", "summary", "next_date")),
    "feedback": KindSpec(("account", "date", "kind", "score"), ("comment",)),
    # 1 unit of `currency` = `rate` units of the reporting currency, from `date` on.
    "rates": KindSpec(("currency", "date", "rate"), ()),
}


def map_columns(kind: str, header: list[str], file: str) -> tuple[dict[str, int], list[str]]:
    """Column name -> index for `kind`, and warnings for columns that are ignored."""
    spec = SPECS[kind]
    wanted = spec.required + spec.optional
    lookup = {c: c for c in wanted}
    for canonical in wanted:
        for alias in ALIASES.get(canonical, ()):
            lookup.setdefault(alias, canonical)
    index: dict[str, int] = {}
    ignored: list[str] = []
    for i, name in enumerate(header):
        canonical = lookup.get(name)
        if canonical is None or canonical in index:
            ignored.append(name or f"(column {i + 1} has no name)")
        else:
            index[canonical] = i
    missing = [c for c in spec.required if c not in index]
    if missing:
        found = ", ".join(h or "''" for h in header) or "nothing"
        raise ImportFailed(file, [RowError(1, None,
            f"missing required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} for {kind} (header has: {found}). "
            f"{kind} files need: {', '.join(spec.required)}; optional: {', '.join(spec.optional)}")])
    warnings = [f"column '{name}' is not used for {kind} and was ignored" for name in ignored]
    return index, warnings
