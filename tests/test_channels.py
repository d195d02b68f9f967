"""What each channel receives: limits by construction, escaping, and golden renders."""
import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.commands import Request, dispatch
from messages.channels import SLACK_MAX_BLOCKS, SLACK_MAX_SECTION, WECOM_MAX_BYTES, to_slack, to_wecom
from messages.render import render_for
from storage.models import Account, Interaction
from tests.commands_support import TODAY

GOLDEN = Path(__file__).parent / "golden"


def test_slack_block_and_section_limits():
    paragraphs = [f"paragraph {i}\nsecond line" for i in range(200)] + ["x" * 10_000]
    message = to_slack("\n\n".join(paragraphs), "en")
    blocks = message["blocks"]
    assert len(blocks) == SLACK_MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= SLACK_MAX_SECTION for b in blocks if b["type"] == "section")
    more = blocks[-1]["elements"][0]["text"]
    hidden = 200 - (SLACK_MAX_BLOCKS - 1)
    assert more == f"... and {hidden * 2 + 1} more"
    long_line = to_slack("y" * 10_000)["blocks"][0]["text"]["text"]
    assert len(long_line) == SLACK_MAX_SECTION and long_line.endswith("…")


def test_wecom_byte_limit_cuts_between_lines_in_chinese():
    lines = [f"{i}. 上海华锐精密制造有限公司 · 风险 88 · 近12个月 ¥12.3万" for i in range(300)]
    out = to_wecom("\n".join(lines), "zh")
    assert len(out.encode("utf-8")) <= WECOM_MAX_BYTES
    kept = out.split("\n")
    assert kept[-1] == f"……还有 {300 - (len(kept) - 1)} 行"
    assert kept[:-1] == lines[: len(kept) - 1]  # whole lines only
    assert to_wecom("short", "en") == "short"


def _with_note(services, note):
    with services.engine.begin() as conn:
        acme = conn.execute(sa.select(Account.id).where(Account.key == "ACME")).scalar_one()
        conn.execute(sa.insert(Interaction).values(
            account_id=acme, kind="visit", occurred_on=TODAY, summary=note, source="test",
            idempotency_key="note-1"))


def test_a_note_cannot_mention_anyone_on_slack_or_wecom(services):
    _with_note(services, "<!channel> <@U0TOMBK01> @all *pay* now")
    reply = dispatch(Request("console", "mgr.sarah", "/tier ACME", channel="slack"), services)
    slack = json.dumps(render_for(reply.template, reply.context, channel="slack", locale="en"))
    assert "<!channel>" not in slack and "<@U0TOMBK01>" not in slack
    assert "&lt;!channel&gt;" in slack
    wecom = render_for(reply.template, reply.context, channel="wecom", locale="en")
    assert "@all" not in wecom and "\\*pay\\*" in wecom


TRANSCRIPTS = [
    ("tier", "/tier ACME why", "mgr.sarah"), ("tier_zh", "/分层 华锐", "mgr.li"),
    ("at_risk", "/at-risk team 5", "mgr.sarah"), ("accounts", "/accounts", "rep.tom"),
    ("due", "/due week", "rep.tom"), ("help", "/help", "rep.tom"),
    ("digest", "/digest", "mgr.sarah"),
    ("choose", "/tier northwind", "admin"), ("no_account", "/tier qqqq", "rep.tom"),
    ("not_yours", "/tier ACME", "rep.zhang"), ("unknown_user", "/tier ACME", "nobody"),
    ("visit", "/visit ACME call reviewed the quote next 2026-12-04", "rep.tom"),
    ("feedback", "/feedback ACME nps 9 great service", "rep.tom"),
    ("override", "/override ACME key board decision until 2027-03-31", "mgr.sarah"),
    ("assign", "/assign ACME rep.priya", "mgr.sarah"),
]


@pytest.mark.parametrize("channel", ["text", "slack", "wecom"])
@pytest.mark.parametrize("locale", ["en", "zh"])
def test_golden_renders(services, channel, locale, request):
    if "postgres" in request.node.callspec.id:
        pytest.skip("goldens are byte-exact; the SQLite run checks them, PostgreSQL the logic")
    out = []
    for name, text, rep in TRANSCRIPTS:
        reply = dispatch(Request("console", rep, text, channel=channel, locale=locale,
                                 request_id=f"golden-{name}"), services)
        shown = render_for(reply.template, reply.context, channel=channel, locale=reply.locale)
        if not isinstance(shown, str):
            shown = json.dumps(shown, ensure_ascii=False, indent=1)
        out.append(f"### {name}: {text} (as {rep})\n{shown}\n")
    got = "\n".join(out)
    path = GOLDEN / f"{channel}.{locale}.txt"
    if os.environ.get("TIERBOT_UPDATE_GOLDEN"):
        path.write_text(got, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run with TIERBOT_UPDATE_GOLDEN=1"
    assert got == path.read_text(encoding="utf-8")
