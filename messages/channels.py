"""Channel framing with the platforms' limits kept by construction.

Slack: at most 50 blocks, at most 3,000 characters in a section's text. WeCom markdown: at
most 2,048 bytes. Long replies are cut between lines with "... and N more", never mid-line.
"""
from __future__ import annotations

SLACK_MAX_BLOCKS = 50
SLACK_MAX_SECTION = 3000
WECOM_MAX_BYTES = 2048
MORE = {"en": "... and {n} more", "zh": "……还有 {n} 行"}


def _more(n: int, locale: str) -> str:
    return MORE.get(locale, MORE["en"]).format(n=n)


def _chunks(lines: list[str], limit: int) -> list[str]:
    """Lines packed into chunks of at most `limit` characters (a longer line is cut)."""
    chunks, current = [], ""
    for line in lines:
        line = line if len(line) <= limit else line[: limit - 1] + "…"
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            candidate = line
        current = candidate
    if current:
        chunks.append(current)
    return chunks


def to_slack(text: str, locale: str = "en") -> dict:
    """Block Kit: one mrkdwn section per paragraph (split to fit), at most 50 blocks."""
    sections: list[str] = []
    for paragraph in text.split("\n\n"):
        sections.extend(_chunks(paragraph.split("\n"), SLACK_MAX_SECTION))
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": s}} for s in sections if s]
    if len(blocks) > SLACK_MAX_BLOCKS:
        hidden = blocks[SLACK_MAX_BLOCKS - 1:]
        lines = sum(b["text"]["text"].count("\n") + 1 for b in hidden)
        blocks = blocks[: SLACK_MAX_BLOCKS - 1] + [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _more(lines, locale)}]}]
    first_line = text.split("\n", 1)[0][:150]
    return {"text": first_line, "blocks": blocks}


def to_wecom(text: str, locale: str = "en") -> str:
    """WeCom markdown within 2,048 bytes, cut between lines with '... and N more'."""
    if len(text.encode("utf-8")) <= WECOM_MAX_BYTES:
        return text
    lines = text.split("\n")
    kept: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        tail = _more(len(lines) - i, locale)
        size = len(line.encode("utf-8")) + 1
        if used + size + len(tail.encode("utf-8")) > WECOM_MAX_BYTES:
            return "\n".join(kept + [tail])
        kept.append(line)
        used += size
    return "\n".join(kept)
