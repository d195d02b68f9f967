"""Block Kit pieces the adapter adds around rendered replies: buttons and the visit modal."""
from __future__ import annotations

import json
from datetime import date

from messages.render import escape_slack, render

LOG_VISIT, SNOOZE, DONE = "tierbot_log_visit", "tierbot_snooze", "tierbot_done"
VISIT_MODAL = "tierbot_visit"

LABELS = {
    "en": {"log_visit": "Log visit", "snooze": "Snooze 7 days", "done": "Done",
           "title": "Log a visit", "save": "Save", "cancel": "Cancel", "kind": "Kind",
           "date": "Date", "notes": "Notes", "next": "Next visit (optional)",
           "notes_hint": "What was discussed, what was agreed",
           "kinds": {"visit": "Visit", "call": "Call", "meeting": "Meeting", "email": "Email",
                     "review": "Review"}},
    "zh": {"log_visit": "记录拜访", "snooze": "延后7天", "done": "已拜访",
           "title": "记录拜访", "save": "保存", "cancel": "取消", "kind": "类型",
           "date": "日期", "notes": "备注", "next": "下次拜访（可选）",
           "notes_hint": "沟通了什么，约定了什么",
           "kinds": {"visit": "拜访", "call": "电话", "meeting": "会议", "email": "邮件",
                     "review": "复盘"}},
}


def _label(locale: str) -> dict:
    return LABELS.get(locale, LABELS["en"])


def _plain(text: str) -> dict:
    return {"type": "plain_text", "text": text, "emoji": True}


def account_value(key: str, name: str) -> str:
    """A button's value: the account key and name (for the modal's header), < 2,000 chars."""
    return json.dumps({"k": key, "n": name[:200]}, ensure_ascii=False)


def read_value(value: str) -> tuple[str, str]:
    data = json.loads(value)
    return str(data["k"]), str(data.get("n", data["k"]))


def account_buttons(key: str, name: str, locale: str) -> dict:
    """The actions block on a tier card and on each reminder: Log visit, Snooze 7 days, Done."""
    label, value = _label(locale), account_value(key, name)
    return {"type": "actions", "block_id": f"tierbot_account:{key}"[:255], "elements": [
        {"type": "button", "action_id": LOG_VISIT, "text": _plain(label["log_visit"]),
         "value": value, "style": "primary"},
        {"type": "button", "action_id": SNOOZE, "text": _plain(label["snooze"]), "value": value},
        {"type": "button", "action_id": DONE, "text": _plain(label["done"]), "value": value},
    ]}


def visit_modal(key: str, name: str, locale: str, today: date, private: dict) -> dict:
    label = _label(locale)
    kinds = label["kinds"]
    options = [{"text": _plain(kinds[k]), "value": k} for k in kinds]
    return {
        "type": "modal", "callback_id": VISIT_MODAL,
        "private_metadata": json.dumps({"k": key, **private}, ensure_ascii=False)[:3000],
        "title": _plain(label["title"][:24]), "submit": _plain(label["save"]),
        "close": _plain(label["cancel"]),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn",
                                         "text": f"*{escape_slack(name)}* ({escape_slack(key)})"}},
            {"type": "input", "block_id": "kind", "label": _plain(label["kind"]),
             "element": {"type": "static_select", "action_id": "value", "options": options,
                         "initial_option": options[0]}},
            {"type": "input", "block_id": "date", "label": _plain(label["date"]),
             "element": {"type": "datepicker", "action_id": "value",
                         "initial_date": today.isoformat()}},
            {"type": "input", "block_id": "notes", "label": _plain(label["notes"]),
             "element": {"type": "plain_text_input", "action_id": "value", "multiline": True,
                         "max_length": 2000, "placeholder": _plain(label["notes_hint"])}},
            {"type": "input", "block_id": "next", "label": _plain(label["next"]),
             "optional": True, "element": {"type": "datepicker", "action_id": "value"}},
        ],
    }


def read_visit_modal(view: dict) -> dict:
    """The submitted modal's values: key, kind, date, notes, next (dates as date or None)."""
    values = view["state"]["values"]

    def field(block: str) -> dict:
        return values.get(block, {}).get("value", {}) or {}

    def day(block: str) -> date | None:
        raw = field(block).get("selected_date")
        return date.fromisoformat(raw) if raw else None

    kind = (field("kind").get("selected_option") or {}).get("value", "")
    meta = json.loads(view.get("private_metadata") or "{}")
    return {"key": meta.get("k", ""), "meta": meta, "kind": kind, "date": day("date"),
            "notes": field("notes").get("value") or "", "next": day("next")}


def field_errors(errors: dict[str, str], locale: str) -> dict[str, str]:
    """Inline modal errors: block id -> the message, in the user's language."""
    return {block: render("form_error", {"code": code}, channel="slack", locale=locale)
            for block, code in errors.items()}
