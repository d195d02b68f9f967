"""Importers for reps, accounts, interactions and feedback.

These files are small next to orders, so rows are validated into plain dicts first
(every problem collected), then written with Core statements in the caller's
transaction. Reps and accounts are upserted by key; interactions and feedback are
inserted once, keyed by a hash of their content, so re-importing changes nothing.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage.importing.errors import MAX_LISTED_ERRORS, ErrorCollector, RowError
from storage.importing.parse import parse_date
from storage.importing.reader import Table
from storage.schedule import BadTime, parse_clock, parse_weekly
from storage.models import Account, Feedback, Interaction, Rep

ROLE_WORDS = {"rep": "rep", "sales": "rep", "销售": "rep", "manager": "manager", "经理": "manager",
              "admin": "admin", "管理员": "admin"}
LOCALE_WORDS = {"en": "en", "english": "en", "英文": "en", "zh": "zh", "chinese": "zh",
                "中文": "zh", "zh-cn": "zh", "zh_cn": "zh", "zh-hans": "zh", "en-us": "en",
                "en_us": "en", "en-gb": "en"}
INTERACTION_WORDS = {"visit": "visit", "拜访": "visit", "call": "call", "电话": "call",
                     "meeting": "meeting", "会议": "meeting", "email": "email", "邮件": "email",
                     "review": "review", "复盘": "review"}
FEEDBACK_WORDS = {"nps": "nps", "净推荐值": "nps", "csat": "csat", "满意度": "csat",
                  "complaint": "complaint", "投诉": "complaint"}
CHUNK = 500


class RowContext:
    """Cell access for one row that records a clear error for each bad field."""

    def __init__(self, line: int, cells: list, index: dict[str, int], errors: ErrorCollector):
        self.line, self.cells, self.index, self.errors = line, cells, index, errors
        self.ok = True

    def text(self, column: str, *, required: bool = False, what: str = "") -> str | None:
        i = self.index.get(column)
        value = str(self.cells[i]).strip() if i is not None and i < len(self.cells) else ""
        if not value:
            if required:
                self.fail(column, f"{column} is empty; {what or 'it is required'}")
            return None
        return value

    def date(self, column: str, *, required: bool = False):
        i = self.index.get(column)
        value = self.cells[i] if i is not None and i < len(self.cells) else ""
        if value == "" and not required:
            return None
        try:
            return parse_date(value)
        except ValueError as exc:
            self.fail(column, str(exc))
            return None

    def choice(self, column: str, words: dict[str, str], *, default: str | None = None):
        raw = self.text(column, required=default is None)
        if raw is None:
            return default
        value = words.get(raw.lower())
        if value is None:
            allowed = ", ".join(sorted(set(words.values())))
            self.fail(column, f"{raw!r} is not a {column}; use one of: {allowed}")
        return value

    def fail(self, column: str | None, reason: str) -> None:
        self.ok = False
        self.errors.add(self.line, column, reason)


def _rows(table: Table, index, errors, summary) -> Iterable[RowContext]:
    for line, cells in table.rows:
        summary.rows += 1
        yield RowContext(line, cells, index, errors)


def _digest(*parts: object) -> str:
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _existing(conn: Connection, column: sa.Column, values: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(values), CHUNK):
        chunk = values[start:start + CHUNK]
        found.update(conn.execute(sa.select(column).where(column.in_(chunk))).scalars())
    return found


def _key_map(conn: Connection, model) -> dict[str, int]:
    return dict(conn.execute(sa.select(model.key, model.id)).all())


def _first_seen(ctx: RowContext, seen: dict[str, int], column: str, value: str | None) -> None:
    if value is None:
        return
    if value in seen:
        ctx.fail(column, f"{column} {value!r} appears twice (first on line {seen[value]})")
    else:
        seen[value] = ctx.line


# --- reps -------------------------------------------------------------------------

def import_reps(conn, table, index, summary, errors) -> None:
    records, seen, slack_seen, wecom_seen = [], {}, {}, {}
    for ctx in _rows(table, index, errors, summary):
        key = ctx.text("rep", required=True, what="every rep needs a key, e.g. their login")
        _first_seen(ctx, seen, "rep", key)
        rec = {
            "key": key,
            "name": ctx.text("name", required=True, what="every rep needs a name"),
            "email": ctx.text("email"),
            "role": ctx.choice("role", ROLE_WORDS, default="rep"),
            "manager": ctx.text("manager"),
            "slack_user_id": ctx.text("slack_user_id"),
            "wecom_userid": ctx.text("wecom_userid"),
            "timezone": ctx.text("timezone"),
            "locale": ctx.choice("locale", LOCALE_WORDS, default=None)
            if ctx.text("locale") else None,
            "digest_at": ctx.text("digest_at"),
            "reminder_at": ctx.text("reminder_at"),
        }
        for field, parse in (("digest_at", parse_weekly), ("reminder_at", parse_clock)):
            if rec[field]:
                try:
                    parse(rec[field])
                except BadTime as exc:
                    ctx.fail(field, str(exc))
        _first_seen(ctx, slack_seen, "slack_user_id", rec["slack_user_id"])
        _first_seen(ctx, wecom_seen, "wecom_userid", rec["wecom_userid"])
        if rec["email"] and "@" not in rec["email"]:
            ctx.fail("email", f"{rec['email']!r} is not an email address")
        if rec["timezone"]:
            try:
                ZoneInfo(rec["timezone"])
            except (ZoneInfoNotFoundError, ValueError):
                ctx.fail("timezone", f"{rec['timezone']!r} is not an IANA timezone; use a name "
                                     "like Asia/Shanghai or America/New_York")
        if rec["manager"] and rec["manager"] == key:
            ctx.fail("manager", f"rep {key!r} cannot be their own manager")
        if ctx.ok:
            records.append((ctx.line, rec))
    known = _key_map(conn, Rep)
    file_keys = {rec["key"] for _, rec in records}
    for line, rec in records:
        if rec["manager"] and rec["manager"] not in file_keys and rec["manager"] not in known:
            errors.add(line, "manager", f"unknown rep {rec['manager']!r}; add the manager as a "
                                        "row of this file or import them first")
    _check_chat_ids_free(conn, records, errors)
    if errors:
        return
    status = _upsert(conn, Rep, [rec for _, rec in records], summary, exclude=("manager",))
    # Managers are set once every rep of the file exists, so the file's order doesn't matter.
    keys = _key_map(conn, Rep)
    current = dict(conn.execute(sa.select(Rep.key, Rep.manager_id)).all())
    for _, rec in records:
        manager_id = keys.get(rec["manager"]) if rec["manager"] else None
        if current[rec["key"]] != manager_id:
            conn.execute(sa.update(Rep).where(Rep.key == rec["key"]).values(manager_id=manager_id))
            if status[rec["key"]] == "unchanged":
                status[rec["key"]] = "updated"
                summary.skipped -= 1
                summary.updated += 1


def _check_chat_ids_free(conn, records, errors) -> None:
    for column in ("slack_user_id", "wecom_userid"):
        col = getattr(Rep, column)
        ids = [rec[column] for _, rec in records if rec[column]]
        owners = dict(conn.execute(sa.select(col, Rep.key).where(col.in_(ids))).all()) if ids else {}
        for line, rec in records:
            owner = owners.get(rec[column])
            if owner and owner != rec["key"]:
                errors.add(line, column, f"{rec[column]!r} already belongs to rep {owner!r}")


def _upsert(conn, model, recs: list[dict], summary, *, exclude=()) -> dict[str, str]:
    """Insert new keys, update changed ones, count unchanged ones as skipped.

    Returns each key's outcome: created, updated or unchanged."""
    columns = [c for c in recs[0] if c not in exclude] if recs else []
    current = {row.key: row for row in conn.execute(
        sa.select(*[getattr(model, c) for c in columns])).all()}
    inserts, status = [], {}
    for rec in recs:
        values = {c: rec[c] for c in columns}
        row = current.get(rec["key"])
        if row is None:
            inserts.append(values)
            status[rec["key"]] = "created"
        elif any(getattr(row, c) != values[c] for c in columns):
            conn.execute(sa.update(model).where(model.key == rec["key"]).values(**values))
            status[rec["key"]] = "updated"
        else:
            status[rec["key"]] = "unchanged"
    if inserts:
        conn.execute(sa.insert(model), inserts)
    summary.created += len(inserts)
    summary.updated += sum(1 for s in status.values() if s == "updated")
    summary.skipped += sum(1 for s in status.values() if s == "unchanged")
    return status


# --- accounts -----------------------------------------------------------------------

def import_accounts(conn, table, index, summary, errors) -> None:
    reps = _key_map(conn, Rep)
    records, seen = [], {}
    for ctx in _rows(table, index, errors, summary):
        key = ctx.text("account", required=True, what="every account needs its CRM key")
        _first_seen(ctx, seen, "account", key)
        owner = ctx.text("owner")
        if owner and owner not in reps:
            ctx.fail("owner", f"unknown rep {owner!r}; import reps first "
                              "(tierbot import reps FILE) or fix the key")
        aliases = ctx.text("aliases")
        rec = {
            "key": key,
            "name": ctx.text("name", required=True, what="every account needs a name"),
            "owner_id": reps.get(owner) if owner else None,
            "industry": ctx.text("industry"),
            "size_segment": ctx.text("size"),
            "region": ctx.text("region"),
            "aliases": "|".join(a.strip() for a in aliases.split("|") if a.strip()) or None
            if aliases else None,
        }
        if ctx.ok:
            records.append(rec)
    if not errors:
        _upsert(conn, Account, records, summary)


# --- interactions and feedback -----------------------------------------------------------

def import_interactions(conn, table, index, summary, errors) -> None:
    accounts, reps = _key_map(conn, Account), _key_map(conn, Rep)
    records = []
    for ctx in _rows(table, index, errors, summary):
        account_id = _known(ctx, "account", accounts, "import accounts or orders first")
        rep_key = ctx.text("rep")
        rep_id = _known(ctx, "rep", reps, "import reps first") if rep_key else None
        rec = {
            "account_id": account_id, "rep_id": rep_id,
            "occurred_on": ctx.date("date", required=True),
            "kind": ctx.choice("kind", INTERACTION_WORDS),
            "summary": ctx.text("summary"),
            "next_date": ctx.date("next_date"),
            "source": "import",
        }
        rec["idempotency_key"] = "imp:" + _digest(
            ctx.text("account"), rec["occurred_on"], rec["kind"], rep_key, rec["summary"])
        if ctx.ok:
            records.append(rec)
            _check_next_date(ctx, rec, summary)
    if not errors:
        _insert_new(conn, Interaction, Interaction.idempotency_key, "idempotency_key",
                    records, summary)


def _check_next_date(ctx: RowContext, rec: dict, summary) -> None:
    """A next date before the contact it was planned at is valid but surely a slip."""
    planned, on = rec["next_date"], rec["occurred_on"]
    if planned is not None and on is not None and planned < on:
        summary.doubts_total += 1
        if len(summary.doubts) < MAX_LISTED_ERRORS:
            summary.doubts.append(RowError(ctx.line, "next_date", f"next date {planned} is "
                                           f"before the contact's date {on}; check it"))


def import_feedback(conn, table, index, summary, errors) -> None:
    accounts = _key_map(conn, Account)
    records = []
    for ctx in _rows(table, index, errors, summary):
        account_id = _known(ctx, "account", accounts, "import accounts or orders first")
        kind = ctx.choice("kind", FEEDBACK_WORDS)
        score = _score(ctx, kind)
        rec = {"account_id": account_id, "kind": kind, "score": score,
               "comment": ctx.text("comment"), "given_on": ctx.date("date", required=True)}
        rec["dedupe_key"] = "imp:" + _digest(ctx.text("account"), rec["given_on"], kind, score,
                                             rec["comment"])
        if ctx.ok:
            records.append(rec)
    if not errors:
        _insert_new(conn, Feedback, Feedback.dedupe_key, "dedupe_key", records, summary)


SCORE_RANGES = {"nps": (0, 10), "csat": (1, 5)}


def _score(ctx: RowContext, kind: str | None) -> int | None:
    raw = ctx.text("score")
    if kind == "complaint" and raw is None:
        return None
    low, high = SCORE_RANGES.get(kind, (0, 10))
    try:
        score = int(float(raw or ""))
        if float(raw) != score or not low <= score <= high:
            raise ValueError
    except ValueError:
        ctx.fail("score", f"{raw!r} is not a {kind or 'feedback'} score; use a whole number "
                          f"from {low} to {high}")
        return None
    return score


def _known(ctx: RowContext, column: str, keys: dict[str, int], hint: str) -> int | None:
    key = ctx.text(column, required=True)
    if key is None:
        return None
    found = keys.get(key)
    if found is None:
        ctx.fail(column, f"unknown {column} {key!r}; {hint}")
    return found


def _insert_new(conn, model, key_col, key_name, records, summary) -> None:
    unique: dict[str, dict] = {}
    for rec in records:
        unique.setdefault(rec[key_name], rec)
    present = _existing(conn, key_col, list(unique))
    new = [rec for k, rec in unique.items() if k not in present]
    if new:
        conn.execute(sa.insert(model), new)
    summary.created = len(new)
    summary.skipped = summary.rows - len(new)
