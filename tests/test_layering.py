"""The dependency rule of ARCHITECTURE.md, checked by parsing imports."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"bot", "scoring", "messages", "storage"}
ALLOWED = {"scoring": set(), "messages": set(), "storage": {"scoring"},
           "bot": {"scoring", "storage", "messages"}}


def top_level_imports(path: Path) -> set[str]:
    """Every top-level package a file imports (absolute imports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def imported_packages(path: Path) -> set[str]:
    return top_level_imports(path) & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_it_may(package):
    for path in (ROOT / package).rglob("*.py"):
        others = imported_packages(path) - {package}
        assert others <= ALLOWED[package], f"{path.relative_to(ROOT)} imports {others}"


def test_scoring_does_no_io():
    banned = {"sqlalchemy", "sqlmodel", "requests", "slack_sdk", "slack_bolt", "wechatpy", "os"}
    for path in (ROOT / "scoring").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not {m.split(".")[0] for m in mods} & banned, path


def test_importing_the_cli_builds_no_engine(tmp_path, monkeypatch):
    import subprocess
    import sys

    code = "import bot.cli, storage.models, storage.importing, storage.demo"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True,
                   env={"TIERBOT_DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "PYTHONPATH": str(ROOT)})
    assert not (tmp_path / "x.db").exists() and not (tmp_path / "tierbot.db").exists()


@pytest.mark.parametrize("sdks, home", [({"slack_bolt", "slack_sdk"}, "bot/slack"),
                                        ({"wechatpy", "xmltodict"}, "bot/wecom")])
def test_platform_sdks_stay_inside_their_adapter(sdks, home):
    for package in ("bot", "scoring", "messages", "storage"):
        for path in (ROOT / package).rglob("*.py"):
            if (ROOT / home) in path.parents:
                continue
            assert not top_level_imports(path) & sdks, f"{path.relative_to(ROOT)} imports {sdks}"


def test_commands_know_no_platform():
    for path in (ROOT / "bot" / "commands").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "bot.slack" not in text and "bot.wecom" not in text, path
