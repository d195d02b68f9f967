"""WeCom template cards (button_interaction) for reminders and at-risk alerts."""
from __future__ import annotations

import re

BUTTONS = {"zh": (("已拜访", "done"), ("延后7天", "snooze"), ("查看详情", "tier")),
           "en": (("Visited", "done"), ("Snooze 7 days", "snooze"), ("Details", "tier"))}
_TASK_SAFE = re.compile(r"[^0-9A-Za-z_\-@]")


def task_id(*parts: str) -> str:
    """A card's task id: unique per card, at most 128 of WeCom's allowed characters."""
    return _TASK_SAFE.sub("_", "-".join(parts))[:128]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def account_card(*, key: str, name: str, title: str, description: str,
                 facts: list[tuple[str, str]], locale: str, task: str) -> dict:
    """A card about one account with the 已拜访 / 延后7天 / 查看详情 buttons. Clicks come back
    as template_card_event with the button's key (`done:KEY`, `snooze:KEY`, `tier:KEY`)."""
    buttons = BUTTONS.get(locale, BUTTONS["zh"])
    return {
        "card_type": "button_interaction",
        "source": {"desc": "tierbot"},
        "main_title": {"title": _cut(title, 36), "desc": _cut(description, 44)},
        "sub_title_text": _cut(f"{name} ({key})", 120),
        "horizontal_content_list": [{"keyname": _cut(k, 10), "value": _cut(v, 30)}
                                    for k, v in facts[:6]],
        "task_id": task,
        "button_list": [{"text": text, "style": 1 if action == "done" else 2,
                         "key": f"{action}:{key}"} for text, action in buttons],
    }
