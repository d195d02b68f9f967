"""A realistic demo book: two teams, ~300 accounts, three years of orders with patterns.

Deterministic for a seed and a `today`: `generate_demo` is pure (its own `random.Random`),
`load_demo` writes the result in one transaction.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from storage.models import Account, Feedback, Interaction, Order, Rep

REPS = [
    # key, name, role, manager, slack, wecom, timezone, locale
    ("mgr.sarah", "Sarah Chen", "manager", None, "U0SARAH01", None, "America/New_York", "en"),
    ("rep.tom", "Tom Baker", "rep", "mgr.sarah", "U0TOMBK01", None, "America/New_York", "en"),
    ("rep.priya", "Priya Patel", "rep", "mgr.sarah", "U0PRIYA01", None, "America/Chicago", "en"),
    ("rep.lucas", "Lucas Meyer", "rep", "mgr.sarah", "U0LUCAS01", None, "Europe/Berlin", "en"),
    ("mgr.li", "李伟", "manager", None, None, "LiWei", "Asia/Shanghai", "zh"),
    ("rep.zhang", "张敏", "rep", "mgr.li", None, "ZhangMin", "Asia/Shanghai", "zh"),
    ("rep.wang", "王磊", "rep", "mgr.li", None, "WangLei", "Asia/Shanghai", "zh"),
    ("rep.chen", "陈静", "rep", "mgr.li", "U0CHENJ01", "ChenJing", "Asia/Shanghai", "zh"),
    ("admin", "Alex Admin", "admin", None, "U0ADMIN01", None, "UTC", "en"),
]
EN_CORES = ["Acme", "Northwind", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark",
            "Wayne", "Contoso", "Fabrikam", "Tailspin", "Litware", "Proseware", "Adatum",
            "Wingtip", "Soylent", "Cyberdyne", "Massive", "Pied Piper", "Blue Sky", "Redwood",
            "Ironclad", "Summit", "Harbor", "Keystone", "Pinnacle", "Bluebird", "Oakridge",
            "Silverline"]
EN_INDUSTRY = [("Logistics", "Logistics"), ("Manufacturing", "Manufacturing"),
               ("Foods", "Food & Beverage"), ("Medical", "Healthcare"), ("Energy", "Energy"),
               ("Retail", "Retail"), ("Systems", "Technology"), ("Chemicals", "Chemicals")]
EN_SUFFIX = ["Corp", "Inc", "Ltd", "GmbH", "Group", "LLC"]
CN_CITIES = ["上海", "北京", "深圳", "杭州", "苏州", "广州", "成都", "武汉", "南京", "天津"]
CN_CORES = ["华锐", "鼎信", "恒通", "博远", "天成", "瑞丰", "中联", "宏达", "金桥", "东方",
            "远航", "星河", "新锐", "永泰", "汇川", "嘉禾", "德润", "明阳", "九州", "万通"]
CN_INDUSTRY = [("精密制造", "制造业"), ("科技", "科技"), ("医疗器械", "医疗"), ("物流", "物流"),
               ("化工", "化工"), ("食品", "食品饮料"), ("电子", "电子"), ("新能源", "能源")]
CN_SUFFIX = ["有限公司", "股份有限公司", "集团"]
EN_REGIONS = ["US-East", "US-West", "US-Central", "EMEA"]
CN_REGIONS = ["华东", "华南", "华北", "西南"]
CATEGORIES = ["components", "consumables", "equipment", "services", "spare parts"]
# archetype -> share of the book
ARCHETYPES = [("weekly", 0.05), ("monthly", 0.22), ("quarterly", 0.20), ("growing", 0.10),
              ("declining", 0.10), ("quiet", 0.10), ("new", 0.08), ("sporadic", 0.15)]
BASE_GAP = {"weekly": 7, "monthly": 30, "quarterly": 90, "growing": 45, "declining": 18,
            "quiet": 35, "new": 20, "sporadic": 150}
NOTES = {
    "en": ["Reviewed open quotes with procurement", "Discussed next quarter's volumes",
           "Walked the plant with the operations lead", "Followed up on a delivery issue",
           "Presented the new product line", "Checked in on payment terms",
           "Call with the buyer about a price increase"],
    "zh": ["与采购部讨论下季度需求", "回访交付问题", "介绍新产品线", "与运营负责人参观工厂",
           "沟通付款条件", "电话跟进报价", "季度业务复盘"],
}
COMPLAINTS = {"en": ["Late delivery two weeks running", "Invoice errors again",
                     "Support did not answer for three days"],
              "zh": ["交货延迟两周", "发票再次出错", "售后三天没有回复"]}


class DemoRefused(Exception):
    """The database already holds data and --reset was not given, or holds data the demo
    did not write and --force was not given."""


# What the demo writes: its reps, accounts keyed ACME / US-nnnn / CN-nnnn, and orders,
# interactions and feedback keyed "demo:N". What reps then do to the demo book in chat
# (visits, snoozes, feedback, overrides) and score runs are the demo's too: --reset
# replaces them. Anything else (an imported file, a rep or account from a CRM) is not.


def foreign_data(conn) -> dict[str, int]:
    """Rows the demo did not write (and chat on the demo book did not either), by table;
    empty when `tierbot demo --reset` loses nothing but the demo."""
    demo_reps = [r[0] for r in REPS]
    demo_key = sa.or_(Account.key == "ACME", Account.key.like("US-____"),
                      Account.key.like("CN-____"))
    found = {
        "reps": conn.execute(sa.select(sa.func.count()).select_from(Rep)
                             .where(Rep.key.not_in(demo_reps))).scalar_one(),
        "accounts": conn.execute(sa.select(sa.func.count()).select_from(Account)
                                 .where(sa.not_(demo_key))).scalar_one(),
        "orders": conn.execute(sa.select(sa.func.count()).select_from(Order)
                               .where(Order.dedupe_key.not_like("demo:%"))).scalar_one(),
        "interactions": conn.execute(sa.select(sa.func.count()).select_from(Interaction)
                                     .where(Interaction.source == "import")).scalar_one(),
        "feedback": conn.execute(sa.select(sa.func.count()).select_from(Feedback)
                                 .where(Feedback.dedupe_key.like("imp:%"))).scalar_one(),
    }
    return {table: n for table, n in found.items() if n}


@dataclass
class DemoBook:
    reps: list[dict] = field(default_factory=list)
    accounts: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    interactions: list[dict] = field(default_factory=list)
    feedback: list[dict] = field(default_factory=list)


def generate_demo(*, accounts: int = 300, seed: int = 7, today: date,
                  currency: str = "USD") -> DemoBook:
    """The demo book as plain records (keys, not ids), the same for the same arguments."""
    rng = random.Random(seed)
    book = DemoBook()
    for key, name, role, manager, slack, wecom, tz, locale in REPS:
        book.reps.append({"key": key, "name": name, "role": role, "manager": manager,
                          "email": f"{key}@example.com", "slack_user_id": slack,
                          "wecom_userid": wecom, "timezone": tz, "locale": locale})
    team_reps = {"en": ["rep.tom", "rep.priya", "rep.lucas", "mgr.sarah"],
                 "zh": ["rep.zhang", "rep.wang", "rep.chen", "mgr.li"]}
    names: set[str] = set()
    for i in range(accounts):
        lang = "en" if i % 2 == 0 else "zh"
        archetype = _pick_archetype(rng, i)
        account = _make_account(rng, i, lang, names, team_reps[lang])
        account["archetype"] = archetype
        book.accounts.append(account)
        first = _orders_for(rng, book, account, archetype, today, currency)
        account["created_on"] = first
        _interactions_for(rng, book, account, archetype, today, lang)
        _feedback_for(rng, book, account, archetype, today, lang)
    return book


def _pick_archetype(rng: random.Random, i: int) -> str:
    if i == 0:
        return "monthly"  # ACME: a solid, regular buyer to show first
    roll, acc = rng.random(), 0.0
    for name, share in ARCHETYPES:
        acc += share
        if roll < acc:
            return name
    return ARCHETYPES[-1][0]


def _make_account(rng, i, lang, names, owners) -> dict:
    if i == 0:
        name, key, aliases, industry = "ACME Corp", "ACME", "Acme|Acme Corporation", "Manufacturing"
    elif i == 1:
        name, key, aliases, industry = ("上海华锐精密制造有限公司", "CN-0001", "华锐|华锐精密",
                                        "制造业")
    else:
        name, alias, industry = _company_name(rng, lang, names)
        key = f"{'US' if lang == 'en' else 'CN'}-{i:04d}"
        aliases = alias if rng.random() < 0.35 else None
    names.add(name)
    size = rng.choices(["enterprise", "mid-market", "smb"], weights=[2, 4, 5])[0]
    return {"key": key, "name": name, "aliases": aliases, "industry": industry,
            "size_segment": size,
            "region": rng.choice(EN_REGIONS if lang == "en" else CN_REGIONS),
            "owner": owners[i // 2 % len(owners)], "lang": lang}


NAME_TRIES = 50  # random picks before a taken name gets a branch number


def _company_name(rng, lang: str, names: set[str]) -> tuple[str, str, str]:
    """A name not in `names`: (name, alias, industry). The pools hold about 1,400 English
    and 4,800 Chinese names; once a pick keeps landing on taken ones, the last pick gets
    a branch number (the first free one), so a book of any size gets unique names."""
    for _ in range(NAME_TRIES):
        if lang == "en":
            core = rng.choice(EN_CORES)
            word, industry = rng.choice(EN_INDUSTRY)
            suffix = rng.choice(EN_SUFFIX)
            name, alias = f"{core} {word} {suffix}", f"{core} {word}"
        else:
            core = rng.choice(CN_CORES)
            word, industry = rng.choice(CN_INDUSTRY)
            city, suffix = rng.choice(CN_CITIES), rng.choice(CN_SUFFIX)
            name, alias = f"{city}{core}{word}{suffix}", f"{core}{word}"
        if name not in names:
            return name, alias, industry
    branch = 2
    while True:
        name = (f"{core} {word} {branch} {suffix}" if lang == "en"
                else f"{city}{core}{word}{branch}号{suffix}")
        if name not in names:
            return name, alias, industry
        branch += 1


def _orders_for(rng, book, account, archetype, today, currency) -> date:
    """Append the account's orders; returns its first order date."""
    history = 3 * 365
    if archetype == "new":
        start = today - timedelta(days=rng.randint(10, 85))
    elif archetype == "growing":
        start = today - timedelta(days=rng.randint(300, 540))
    else:
        start = today - timedelta(days=rng.randint(history - 200, history))
    stop = today
    if archetype == "quiet":
        stop = today - timedelta(days=rng.randint(120, 270))
    size = {"enterprise": 6000, "mid-market": 2000, "smb": 600}[account["size_segment"]]
    base = size * min(rng.paretovariate(1.6), 25)
    gap = BASE_GAP[archetype] * rng.uniform(0.8, 1.25)
    day, first = start, None
    while day <= stop:
        age = (day - start).days / max((today - start).days, 1)
        # Decliners are steady buyers whose spend falls: less noise so the fall shows.
        sigma = 0.2 if archetype == "declining" else 0.45
        amount = base * rng.lognormvariate(0, sigma) * _trend(archetype, day, today, age)
        if rng.random() < 0.02:
            amount = -amount * 0.3  # a return
        book.orders.append({
            "account": account["key"], "order_date": day,
            "amount": Decimal(f"{amount:.2f}"),
            "margin": Decimal(f"{amount * rng.uniform(0.08, 0.35):.2f}"),
            "category": rng.choice(CATEGORIES), "currency": currency,
        })
        first = first or day
        step = gap / (1 + age) if archetype == "growing" else gap
        day += timedelta(days=max(1, round(rng.gammavariate(4, step / 4))))
    return first or start


def _trend(archetype: str, day: date, today: date, age: float) -> float:
    if archetype == "growing":
        return 0.5 + 1.5 * age
    if archetype == "declining":
        days_ago = (today - day).days
        # Two (or three) quarters, each clearly below the one before.
        if days_ago < 91:
            return 0.35
        if days_ago < 182:
            return 0.6
        if days_ago < 273:
            return 0.85
    return 1.0


def _interactions_for(rng, book, account, archetype, today, lang) -> None:
    gap = {"weekly": 21, "monthly": 30, "growing": 30, "declining": 25}.get(archetype, 60)
    day = today - timedelta(days=rng.randint(500, 700))
    kinds = ["visit", "call", "call", "meeting", "email"]
    while day <= today:
        days_ago = (today - day).days
        fading = archetype in ("declining", "quiet") and days_ago < 120
        if not (fading and rng.random() < 0.7):
            nxt = day + timedelta(days=gap) if rng.random() < 0.4 else None
            book.interactions.append({
                "account": account["key"], "rep": account["owner"], "kind": rng.choice(kinds),
                "occurred_on": day, "summary": rng.choice(NOTES[lang]), "next_date": nxt,
            })
        day += timedelta(days=max(3, round(rng.gammavariate(3, gap / 3))))


def _feedback_for(rng, book, account, archetype, today, lang) -> None:
    unhappy = archetype in ("declining", "quiet")
    if rng.random() < 0.4:
        score = rng.randint(2, 6) if unhappy else rng.choice([7, 8, 8, 9, 9, 10])
        book.feedback.append({"account": account["key"], "kind": "nps", "score": score,
                              "comment": None,
                              "given_on": today - timedelta(days=rng.randint(5, 200))})
    if unhappy and rng.random() < 0.35:
        book.feedback.append({"account": account["key"], "kind": "complaint", "score": None,
                              "comment": rng.choice(COMPLAINTS[lang]),
                              "given_on": today - timedelta(days=rng.randint(5, 80))})


def load_demo(engine: Engine, book: DemoBook, *, reset: bool = False,
              force: bool = False) -> dict[str, int]:
    """Write the book in one transaction; refuses a database that has data unless `reset`,
    and one holding data the demo did not write (an imported book) unless `force` too."""
    with engine.begin() as conn:
        existing = conn.execute(sa.select(sa.func.count()).select_from(Account)).scalar_one()
        if existing and not reset:
            raise DemoRefused(
                f"The database already has {existing} accounts. Run `tierbot demo --reset` to "
                "replace the demo book, or set TIERBOT_DATABASE_URL to another database.")
        foreign = foreign_data(conn) if reset and not force else {}
        if foreign:
            held = ", ".join(f"{n:,} {table}" for table, n in foreign.items())
            raise DemoRefused(
                f"Not resetting: the database holds data the demo did not write ({held}), "
                "e.g. an imported CRM book; nothing was changed. Point TIERBOT_DATABASE_URL "
                "at another database for the demo (e.g. sqlite:///demo.db), or, to delete "
                "everything in this one, run `tierbot demo --reset --force`.")
        if reset:
            for table in reversed(SQLModel.metadata.sorted_tables):
                conn.execute(table.delete())
        _insert_reps(conn, book.reps)
        reps = dict(conn.execute(sa.select(Rep.key, Rep.id)).all())
        conn.execute(sa.insert(Account), [
            {k: v for k, v in a.items() if k not in ("owner", "lang", "archetype")}
            | {"owner_id": reps[a["owner"]]} for a in book.accounts])
        accounts = dict(conn.execute(sa.select(Account.key, Account.id)).all())
        _chunked_insert(conn, Order, [
            {k: v for k, v in o.items() if k != "account"}
            | {"account_id": accounts[o["account"]], "dedupe_key": f"demo:{n}"}
            for n, o in enumerate(book.orders)])
        _chunked_insert(conn, Interaction, [
            {k: v for k, v in it.items() if k not in ("account", "rep")}
            | {"account_id": accounts[it["account"]], "rep_id": reps[it["rep"]],
               "source": "demo", "idempotency_key": f"demo:{n}"}
            for n, it in enumerate(book.interactions)])
        _chunked_insert(conn, Feedback, [
            {k: v for k, v in f.items() if k != "account"}
            | {"account_id": accounts[f["account"]], "dedupe_key": f"demo:{n}"}
            for n, f in enumerate(book.feedback)])
    return {"reps": len(book.reps), "accounts": len(book.accounts), "orders": len(book.orders),
            "interactions": len(book.interactions), "feedback": len(book.feedback)}


def _insert_reps(conn, reps: list[dict]) -> None:
    conn.execute(sa.insert(Rep), [{k: v for k, v in r.items() if k != "manager"} for r in reps])
    ids = dict(conn.execute(sa.select(Rep.key, Rep.id)).all())
    for r in reps:
        if r["manager"]:
            conn.execute(sa.update(Rep).where(Rep.key == r["key"])
                         .values(manager_id=ids[r["manager"]]))


def _chunked_insert(conn, model, rows: list[dict], size: int = 5000) -> None:
    for start in range(0, len(rows), size):
        conn.execute(sa.insert(model), rows[start:start + size])
