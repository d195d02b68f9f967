"""`tierbot console` as a person uses it: type commands, read replies, leave."""
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from bot.scoring_config import load_scoring_config
from bot.scoring_jobs import rescore
from storage.demo import generate_demo, load_demo

TIERBOT = Path(sys.executable).parent / "tierbot"


def test_console_session(engine, db_url, tmp_path):
    load_demo(engine, generate_demo(accounts=40, seed=5, today=date(2026, 11, 22)))
    rescore(engine, load_scoring_config(""), date(2026, 11, 22))
    env = os.environ | {"TIERBOT_DATABASE_URL": db_url, "HOME": str(tmp_path)}
    session = "/tier ACME\n/分层 华锐\n/frobnicate\n/quit\n/tier ACME\n"
    out = subprocess.run([str(TIERBOT), "console"], input=session, capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "tierbot console as mgr.sarah" in text
    assert "ACME Corp (ACME) · owner Tom Baker" in text
    assert "上海华锐精密制造有限公司 (CN-0001)" in text or "not your account" in text
    assert 'I don\'t know the command "/frobnicate"' in text
    assert text.count("ACME Corp (ACME) · owner") == 1  # nothing runs after /quit
    assert (tmp_path / ".tierbot_history").exists()


def _run(args, env, tmp_path, session=""):
    return subprocess.run([str(TIERBOT), *args], input=session, capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)


def _demo_env(engine, db_url, tmp_path):
    load_demo(engine, generate_demo(accounts=40, seed=5, today=date(2026, 11, 22)))
    return os.environ | {"TIERBOT_DATABASE_URL": db_url, "HOME": str(tmp_path)}


def test_chinese_console_greets_in_chinese_and_leaves_on_tuichu(engine, db_url, tmp_path):
    env = _demo_env(engine, db_url, tmp_path)
    out = _run(["console", "--as", "mgr.li"], env, tmp_path, "/退出\n/帮助\n")  # his own: zh
    assert out.returncode == 0, out.stderr
    banner = out.stdout.splitlines()[0]
    assert banner == ("tierbot 控制台，当前身份：mgr.li。输入 /帮助 查看命令，输入 /退出 或按 "
                      "Ctrl-D 离开。")
    assert "/分层" not in out.stdout  # /帮助 came after /退出: never ran
    out = _run(["console", "--locale", "zh"], env, tmp_path, "/quit\n")
    assert out.stdout.startswith("tierbot 控制台，当前身份：mgr.sarah。")
    out = _run(["console"], env, tmp_path, "/quit\n")
    assert out.stdout.startswith("tierbot console as mgr.sarah. Type /help for commands")


def test_an_unknown_rep_is_told_so_and_the_command_fails(engine, db_url, tmp_path):
    env = _demo_env(engine, db_url, tmp_path)
    said = "Hi! I don't know you yet (console user nobody). Ask your tierbot admin"
    for args in (["ask", "/tier ACME", "--as", "nobody"], ["console", "--as", "nobody"],
                 ["digest", "--preview", "--rep", "nobody"]):
        out = _run(args, env, tmp_path, "/tier ACME\n")
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        assert said in out.stderr and "ACME Corp" not in out.stdout, args
        assert "Traceback" not in out.stderr
    out = _run(["ask", "/分层 华锐", "--as", "nobody", "--locale", "zh"], env, tmp_path)
    assert out.returncode == 1 and "您好！我还不认识您（控制台用户 nobody）" in out.stderr
    assert _run(["ask", "/tier ACME", "--as", "rep.tom"], env, tmp_path).returncode == 0
