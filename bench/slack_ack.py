"""Benchmark: Slack slash commands against `tierbot serve` on a 100,000-account database.

Builds (once, cached in bench/data) a scored SQLite book of N accounts, starts the real
`tierbot serve` in a child process with a local fake Slack (tests/fakes/slack.py) as the
Web API and the response_url, then fires rounds of C concurrent signed `/tier <account>`
requests. For each request it measures:
  - ack: from sending the POST to Slack's 200 (Slack gives up after 3 s);
  - answer: from sending to the reply arriving on the request's response_url.
It does so twice: on a quiet server, and while S stalled connections (a request line and
half a header, then nothing: a slowloris) are held open against it; the server closes
those after its header timeout and the bench opens them again, so S stay open throughout.
Baselines measured in the same run:
  - the same server stack (tierbot's HttpServer: uvicorn, Starlette, the Guard) with one
    route answering 200 at once, hit the same way (what any HTTP ack costs on this
    machine at this concurrency);
  - the command itself in-process (dispatch + render of /tier), one at a time.

    .venv/bin/python bench/slack_ack.py [--accounts N] [--orders M] [--concurrency C]
                                        [--rounds R] [--stalled S]
Targets (issues 5 and 11): ack p99 under 300 ms, answer p99 under 1 s, in both runs.
"""
from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from score import AS_OF, DATA, generate, load_sqlite, run_score  # noqa: E402
from bot.server import HttpServer, raise_open_files_limit  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.slack_support import SECRET, TOKEN, slash  # noqa: E402

BENCH_USER = "U0BENCH01"


def build_db(accounts: int, orders: int) -> str:
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"slack_ack_{accounts}_{orders}.db"
    url = f"sqlite:///{path}"
    if path.exists():
        from storage.engine import build_engine
        from storage.migrate import upgrade
        engine = build_engine(f"sqlite:///{path}")
        upgrade(engine)  # a book cached by an older version gets the current schema
        engine.dispose()
        return url
    print(f"building {path.name}: {accounts:,} accounts, {orders:,} orders ...", flush=True)
    tmp = path.with_suffix(".tmp")
    for p in (tmp, Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm")):
        p.unlink(missing_ok=True)
    tmp_url = f"sqlite:///{tmp}"
    load_sqlite(tmp_url, generate(accounts, orders), accounts)
    import sqlalchemy as sa

    from storage.engine import build_engine
    engine = build_engine(tmp_url)
    with engine.begin() as conn:  # an admin (sees every account) with a Slack id
        conn.execute(sa.text("INSERT INTO reps (key, name, role, slack_user_id) "
                             "VALUES ('bench.admin', 'Bench Admin', 'admin', :u)"), {"u": BENCH_USER})
    engine.dispose()
    run_score(tmp_url)
    tmp.rename(path)
    return url


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def fire(url: str, fake: FakeSlack | None, accounts: int, concurrency: int, rounds: int,
         rng: random.Random) -> tuple[list[float], list[float]]:
    acks, answers = [], []
    lock = threading.Lock()
    for r in range(rounds):
        barrier = threading.Barrier(concurrency)
        names = [f"r{r}-{i}-{rng.random():.6f}" for i in range(concurrency)]
        starts: dict[str, float] = {}

        def one(name: str) -> None:
            key = f"A{rng.randint(1, accounts):06d}"
            barrier.wait()
            t = time.monotonic()
            if fake is None:
                status, _ = slash(url, "/tier", key, user=BENCH_USER, response_url="http://x/")
            else:
                status, _ = slash(url, "/tier", key, user=BENCH_USER,
                                  response_url=fake.response_url(name))
            ack = time.monotonic() - t
            assert status == 200, status
            with lock:
                acks.append(ack)
                starts[name] = t

        threads = [threading.Thread(target=one, args=(n,)) for n in names]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        if fake is not None:
            done = fake.wait_for("response", (r + 1) * concurrency, timeout=60)
            for call in done:
                name = call.path.rsplit("/", 1)[1]
                if name in starts:
                    answers.append(call.at - starts[name])
                    assert "went wrong" not in call.args["text"], call.args["text"]
    return acks, answers


async def _bare(request):
    from starlette.responses import Response

    await request.body()
    return Response(status_code=200)


def bare_baseline(accounts, concurrency, rounds, rng) -> list[float]:
    server = HttpServer("127.0.0.1", 0, {"/": _bare}).start()
    try:
        acks, _ = fire(server.url + "/", None, accounts, concurrency, rounds, rng)
    finally:
        server.stop()
    return acks


class Stalled:
    """`count` connections that send half a request's headers and then nothing, kept at
    `count`: one the server closes (its header timeout) is opened again."""

    HALF = b"POST /slack/events HTTP/1.1\r\nHost: tierbot\r\nContent-Type: appl"

    def __init__(self, host: str, port: int, count: int):
        self.address, self.count = (host, port), count
        self.reopened = 0
        self._socks: list[socket.socket] = []
        self._stop = threading.Event()
        for _ in range(count):
            self._socks.append(self._open())
        self._thread = threading.Thread(target=self._keep, daemon=True)
        self._thread.start()

    def _open(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=10)
        sock.sendall(self.HALF)
        sock.setblocking(False)
        return sock

    def _keep(self) -> None:
        import selectors

        while not self._stop.is_set():
            with selectors.DefaultSelector() as sel:
                for sock in self._socks:
                    sel.register(sock, selectors.EVENT_READ)
                ready = sel.select(timeout=0.2)
            for key, _ in ready:  # readable = closed by the server (it never answers these)
                sock = key.fileobj
                self._socks.remove(sock)
                sock.close()
                if not self._stop.is_set():
                    self._socks.append(self._open())
                    self.reopened += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self._socks:
            sock.close()


def in_process(url: str, accounts: int, n: int, rng) -> list[float]:
    from bot.cli import _scoring_config
    from bot.commands import Request, Services, dispatch
    from bot.settings import Settings
    from messages.render import render_for
    from storage.engine import build_engine

    settings = Settings(database_url=url)
    engine = build_engine(url)
    services = Services(engine=engine, settings=settings, scoring=_scoring_config(settings),
                        today=lambda: AS_OF)
    services.accounts()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        reply = dispatch(Request("slack", BENCH_USER, f"/tier A{rng.randint(1, accounts):06d}",
                                 channel="slack"), services)
        render_for(reply.template, reply.context, channel="slack", locale=reply.locale)
        times.append(time.perf_counter() - t)
    engine.dispose()
    return times


def proc_status(pid: int) -> str:
    """Threads and resident memory of a process (Linux /proc), for the report."""
    try:
        fields = dict(line.split(":", 1) for line in
                      Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    except OSError:
        return "n/a"
    rss = int(fields["VmRSS"].split()[0]) / 1024
    return f"{fields['Threads'].strip()} threads, RSS {rss:.0f} MB"


def report(title: str, acks: list[float], answers: list[float]) -> None:
    print(title)
    print(f"  ack:    p50 {pct(acks, 50) * 1000:7.1f} ms   p99 {pct(acks, 99) * 1000:7.1f} ms"
          f"   max {max(acks) * 1000:7.1f} ms   (target p99 < 300 ms)")
    print(f"  answer: p50 {pct(answers, 50) * 1000:7.1f} ms   p99 {pct(answers, 99) * 1000:7.1f} ms"
          f"   max {max(answers) * 1000:7.1f} ms   (target p99 < 1000 ms)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--stalled", type=int, default=2000)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the server, e.g. TIERBOT_HTTP_WORKERS=8")
    args = parser.parse_args()
    raise_open_files_limit()  # this process holds the stalled connections' sockets
    rng = random.Random(7)
    url = build_db(args.accounts, args.orders)

    fake = FakeSlack(TOKEN)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TIERBOT_"))}
    env.update(TIERBOT_DATABASE_URL=url, SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET,
               SLACK_API_URL=fake.api_url, PYTHONPATH=str(ROOT))
    env.update(item.split("=", 1) for item in args.set)
    # The scheduler off: this measures answering commands, not a digest run.
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", "0",
                             "--no-scheduler"], env=env,
                            cwd=DATA, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"tierbot serve did not start: {line}{proc.stderr.read()}")
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep its log flowing
    base = line.split("listening on ", 1)[1].split()[0]
    events = base + "/slack/events"
    stalled = None
    try:
        # Warm up: the first /tier builds the 100k-account lookup index.
        t = time.monotonic()
        fire(events, fake, args.accounts, 1, 1, rng)
        warm = time.monotonic() - t
        fake.calls.clear()
        acks, answers = fire(events, fake, args.accounts, args.concurrency, args.rounds, rng)
        quiet_status = proc_status(proc.pid)

        host, port = base.removeprefix("http://").rsplit(":", 1)
        stalled = Stalled(host, int(port), args.stalled)
        t = time.monotonic()
        with urllib.request.urlopen(base + "/healthz", timeout=30) as response:
            assert response.status == 200
        health = time.monotonic() - t
        stalled_status = proc_status(proc.pid)
        fake.calls.clear()
        s_acks, s_answers = fire(events, fake, args.accounts, args.concurrency, args.rounds, rng)
        reopened = stalled.reopened
    finally:
        if stalled is not None:
            stalled.close()
        proc.terminate()
        proc.wait(timeout=30)
        fake.close()
    bare = bare_baseline(args.accounts, args.concurrency, args.rounds, rng)
    work = in_process(url, args.accounts, 200, rng)

    print(f"\n/tier against tierbot serve, {args.accounts:,} accounts, {args.concurrency} "
          f"concurrent x {args.rounds} rounds ({len(acks)} requests a run); first request "
          f"(index build) {warm * 1000:.0f} ms")
    report(f"run 1, quiet server ({quiet_status}):", acks, answers)
    report(f"run 2, with {args.stalled:,} stalled connections held open ({stalled_status}; "
           f"/healthz answered in {health * 1000:.0f} ms; {reopened} closed by the header "
           "timeout and reopened during the run):", s_acks, s_answers)
    print("baselines, same run:")
    print(f"  bare HTTP 200 on the same server stack, same concurrency: "
          f"p50 {pct(bare, 50) * 1000:6.1f} ms   p99 {pct(bare, 99) * 1000:6.1f} ms")
    print(f"  /tier in-process, one at a time: p50 {statistics.median(work) * 1000:6.1f} ms   "
          f"p99 {pct(work, 99) * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
