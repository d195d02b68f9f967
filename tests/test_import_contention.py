"""An import beside a chatting bot: chat writes never queue behind it, it never dies of
them, a crash halfway through a merge shows nothing, and `kill -9` leaves no processes."""
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage.engine import build_engine
from storage.importing import import_file
from storage.inbound import claim_event
from storage.logbook import log_interaction
from storage.migrate import upgrade
from storage.models import Account, ImportMerge, Rep
from tests.conftest import count

ROOT = Path(__file__).resolve().parent.parent


def orders_csv(path: Path, rows: int, accounts: int = 2000) -> Path:
    """`rows` orders over `accounts` accounts; over 4 MB from ~140k rows (a 'big' file)."""
    with path.open("w", encoding="utf-8") as f:
        f.write("account,date,amount,order_id,category\n")
        f.writelines(f"K{i % accounts:05d},2026-{i % 12 + 1:02d}-{i % 28 + 1:02d},{i % 997}.25,"
                     f"SO-{i:08d},consumables\n" for i in range(rows))
    return path


def merging(engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(ImportMerge)).scalar_one() > 0


@dataclass
class ChatWrite:
    start: float
    end: float
    merging_before: bool
    merging_after: bool
    error: str | None


class ChattingBot:
    """A thread writing what the bot writes (event claims, logged visits) ~20 times a second."""

    def __init__(self, engine):
        self.engine = engine
        with engine.begin() as conn:
            conn.execute(sa.insert(Rep).values(key="rep.chat", name="Chat"))
            conn.execute(sa.insert(Account).values(key="CHAT-1", name="Chat account"))
            self.rep_id = conn.execute(sa.select(Rep.id)).scalar_one()
            self.account_id = conn.execute(sa.select(Account.id)).scalar_one()
        self.write(-1)  # warm: the first write ever pays for module imports and statement caches
        self.write(-2)
        self.writes: list[ChatWrite] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def write(self, n: int) -> None:
        if n % 2:
            assert claim_event(self.engine, "slack", f"Ev{n}")
        else:
            log_interaction(self.engine, account_id=self.account_id, rep_id=self.rep_id,
                            kind="call", occurred_on=date(2026, 11, 24), summary=f"call {n}",
                            next_date=None, source="slack", idempotency_key=f"chat:{n}")

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            before = merging(self.engine)
            start, error = time.monotonic(), None
            try:
                self.write(n)
            except Exception as exc:  # noqa: BLE001 - every failure is asserted on
                error = repr(exc)
            end = time.monotonic()
            self.writes.append(ChatWrite(start, end, before, merging(self.engine), error))
            n += 1
            time.sleep(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


ROWS = 200_000


def test_chat_writes_go_on_while_a_big_import_runs(engine, tmp_path):
    path = orders_csv(tmp_path / "big.csv", ROWS)
    with ChattingBot(engine) as bot:
        time.sleep(0.3)  # the bot is chatting before the import starts
        began = time.monotonic()
        summary = import_file(engine, "orders", path)
        ended = time.monotonic()
        time.sleep(0.2)
    # The import succeeded despite the writes, all of it.
    assert (summary.rows, summary.created, summary.accounts_created) == (ROWS, ROWS, 2000)
    assert count(engine, "orders") == ROWS and count(engine, "import_merges") == 0
    # Every chat write succeeded, and none waited for the import's end.
    assert [w.error for w in bot.writes if w.error] == []
    assert count(engine, "inbound_events") + count(engine, "interactions") == len(bot.writes) + 2
    first_half = [w for w in bot.writes if began <= w.start <= (began + ended) / 2]
    assert len(first_half) >= 5
    assert [w for w in first_half if w.end >= ended] == []
    if engine.dialect.name == "sqlite":
        # Writes that started and ended while the merge was under way: between its
        # transactions, not after all of them.
        between = [w for w in bot.writes if w.merging_before and w.merging_after]
        assert len(between) >= 3, f"{len(between)} of {len(bot.writes)} writes during the merge"


def test_a_records_import_does_not_fail_when_chat_writes_land_meanwhile(engine, tmp_path):
    lines = "".join(f"ACC{i},Account {i}\n" for i in range(20_000))
    path = tmp_path / "accounts.csv"
    path.write_text("account,name\n" + lines, encoding="utf-8")
    with ChattingBot(engine) as bot:
        time.sleep(0.2)
        summary = import_file(engine, "accounts", path)
        time.sleep(0.2)
    assert summary.created == 20_000 and count(engine, "accounts") == 20_001
    assert [w.error for w in bot.writes if w.error] == [] and len(bot.writes) >= 4


SLOW_MERGE = """
import sys
from pathlib import Path
from storage.engine import build_engine
from storage.importing import import_file, merge
# Many small merge transactions: the test acts halfway through the merge.
merge.FIRST_CHUNK, merge.TARGET_SECONDS = 500, 0.0001
import_file(build_engine(sys.argv[1]), "orders", Path(sys.argv[2]))
"""


def test_a_crash_halfway_through_a_merge_shows_nothing_and_the_next_import_undoes_it(tmp_path):
    from storage.scores import accounts_with_orders, load_book

    url = f"sqlite:///{tmp_path / 'book.db'}"
    engine = build_engine(url)
    upgrade(engine)
    path = orders_csv(tmp_path / "o.csv", 20_000, accounts=300)
    proc = subprocess.Popen([sys.executable, "-c", SLOW_MERGE, url, str(path)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not (merging(engine) and count(engine, "orders") > 0):
            assert proc.poll() is None, "the import ended before it could be killed mid-merge"
            assert time.monotonic() < deadline, "the merge never started"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    left = count(engine, "orders")
    assert 0 < left < 20_000 and merging(engine)  # half merged, lease left behind...
    # ...and none of it is part of the book for the readers.
    assert accounts_with_orders(engine, date(2000, 1, 1), date(2100, 1, 1)) == set()
    assert load_book(engine, date(2027, 1, 1)).orders_all.sum() == 0
    again = import_file(engine, "orders", path)  # finds the dead holder, undoes, imports
    assert (again.created, again.accounts_created) == (20_000, 300)
    assert count(engine, "orders") == 20_000 and count(engine, "accounts") == 300
    assert not merging(engine)
    assert load_book(engine, date(2027, 1, 1)).orders_all.sum() == 20_000
    engine.dispose()


def test_a_second_import_waits_for_a_merge_under_way_and_readers_see_none_of_it(tmp_path):
    from storage.scores import accounts_with_orders

    url = f"sqlite:///{tmp_path / 'book.db'}"
    engine = build_engine(url)
    upgrade(engine)
    first = orders_csv(tmp_path / "first.csv", 10_000, accounts=100)
    second = tmp_path / "second.csv"
    second.write_text("account,date,amount,order_id\nLATE,2026-05-01,9.5,LATE-1\n", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-c", SLOW_MERGE, url, str(first)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not (merging(engine) and count(engine, "orders") > 0):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        assert accounts_with_orders(engine, date(2000, 1, 1), date(2100, 1, 1)) == set()
        told = []
        summary = import_file(engine, "orders", second, waiting=told.append)
        assert proc.wait(timeout=120) == 0
    finally:
        proc.kill()
        proc.wait()
    assert len(told) == 1 and "waiting for another import" in told[0]
    assert summary.created == 1 and count(engine, "orders") == 10_001
    assert len(accounts_with_orders(engine, date(2000, 1, 1), date(2100, 1, 1))) == 101
    engine.dispose()


def _children(pid: int) -> dict[int, str]:
    """pid -> command line of the live (not zombie) children of `pid`, from /proc."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            if int(ppid) == pid and state != "Z":
                out[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
    return out


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_of_tierbot_import_leaves_no_process_behind(tmp_path):
    url = f"sqlite:///{tmp_path / 'book.db'}"
    engine = build_engine(url)
    upgrade(engine)
    engine.dispose()
    path = orders_csv(tmp_path / "big.csv", 600_000)
    tierbot = Path(sys.executable).parent / "tierbot"
    env = dict(os.environ, TIERBOT_DATABASE_URL=url)
    proc = subprocess.Popen([str(tierbot), "import", "orders", str(path)], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            children = _children(proc.pid)
            if any("spawn_main" in cmd for cmd in children.values()):
                break
            assert proc.poll() is None, "the import ended before its converter was seen"
            assert time.monotonic() < deadline, "no converting child process appeared"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10  # bounded wait for the kernel and EOFs, not a speed test
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert {pid: cmd for pid, cmd in children.items() if _alive(pid)} == {}
    finally:
        proc.kill()
        proc.wait()


def test_a_lease_is_abandoned_when_its_holder_died_or_stopped_renewing():
    import socket
    from datetime import datetime, timedelta, timezone

    from storage.importing.merge import abandoned

    here, later = socket.gethostname()[:60], datetime.now(timezone.utc) + timedelta(seconds=60)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert not abandoned(f"{here}:{os.getpid()}:a1", later)  # alive, renewing
    assert abandoned(f"{here}:{gone.pid}:a1", later)  # its process is gone
    assert not abandoned("another-host:1:a1", later)  # can't see it: trust the lease
    assert abandoned("another-host:1:a1", datetime.now(timezone.utc) - timedelta(seconds=1))
