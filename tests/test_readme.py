"""The README renders as written: its tables are whole tables, its PostgreSQL example names
a role it creates."""
import re
from pathlib import Path

from markdown_it import MarkdownIt

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def _tables() -> list[list[str]]:
    """Each rendered table as its rows' first cells (markdown-it, GitHub's table rules)."""
    tokens = MarkdownIt("commonmark").enable("table").parse(README)
    tables, rows, in_row, cell = [], [], False, None
    for t in tokens:
        if t.type == "table_open":
            rows = []
        elif t.type == "tr_open":
            in_row, cell = True, None
        elif t.type == "inline" and in_row and cell is None:
            cell = t.content
        elif t.type == "tr_close":
            rows.append(cell)
            in_row = False
        elif t.type == "table_close":
            tables.append(rows)
    return tables


def test_every_cli_command_is_a_row_of_the_one_command_table():
    commands = next(t for t in _tables() if any("tierbot init" in (c or "") for c in t))
    for name in ("init", "import", "demo", "score", "export", "backtest", "console", "ask",
                 "serve", "scheduler", "digest", "deliveries", "--version"):
        assert any(f"tierbot {name}" in (c or "") for c in commands), name
    # No table row is left outside a table (a blank line inside one renders it as text).
    rendered = MarkdownIt("commonmark").enable("table").render(README)
    assert not re.search(r"<p>\|", rendered)


def test_the_postgresql_example_creates_the_role_it_connects_as():
    block = README.split("## PostgreSQL", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    role = re.search(r"postgresql://(\w+)[:@]", block)[1]
    assert re.search(rf"createuser\b[^\n]*\b{role}\b", block)
    assert re.search(rf"createdb\b[^\n]*--owner {role}\b", block)
