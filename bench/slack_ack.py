"""Benchmark: Slack slash commands against `tierbot serve` on a 100,000-account database.

Builds (once, cached in bench/data) a scored SQLite book of N accounts, starts the real
`tierbot serve` in a child process with a local fake Slack (tests/fakes/slack.py) as the
Web API and the response_url, then fires rounds of C concurrent signed `/tier <account>`
requests. For each request it measures:
  - ack: from sending the POST to Slack's 200 (Slack gives up after 3 s);
  - answer: from sending to the reply arriving on the request's response_url.
Baselines measured in the same run:
  - a bare stdlib ThreadingHTTPServer answering 200 at once, hit the same way (what any
    HTTP ack costs on this machine at this concurrency);
  - the command itself in-process (dispatch + render of /tier), one at a time.

    .venv/bin/python bench/slack_ack.py [--accounts N] [--orders M] [--concurrency C] [--rounds R]
Targets (issue 5): ack p99 under 300 ms, answer p99 under 1 s.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from score import AS_OF, DATA, generate, load_sqlite, run_score  # noqa: E402
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


class _Bare(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def bare_baseline(accounts, concurrency, rounds, rng) -> list[float]:
    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256  # as tierbot's server

    server = Server(("127.0.0.1", 0), _Bare)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        acks, _ = fire(f"http://127.0.0.1:{server.server_address[1]}/", None, accounts,
                       concurrency, rounds, rng)
    finally:
        server.shutdown()
    return acks


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    rng = random.Random(7)
    url = build_db(args.accounts, args.orders)

    fake = FakeSlack(TOKEN)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TIERBOT_"))}
    env.update(TIERBOT_DATABASE_URL=url, SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET,
               SLACK_API_URL=fake.api_url, PYTHONPATH=str(ROOT))
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
    try:
        # Warm up: the first /tier builds the 100k-account lookup index.
        t = time.monotonic()
        fire(events, fake, args.accounts, 1, 1, rng)
        warm = time.monotonic() - t
        fake.calls.clear()
        acks, answers = fire(events, fake, args.accounts, args.concurrency, args.rounds, rng)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        fake.close()
    bare = bare_baseline(args.accounts, args.concurrency, args.rounds, rng)
    work = in_process(url, args.accounts, 200, rng)

    print(f"\n/tier against tierbot serve, {args.accounts:,} accounts, {args.concurrency} "
          f"concurrent x {args.rounds} rounds ({len(acks)} requests); first request "
          f"(index build) {warm * 1000:.0f} ms")
    print(f"  ack:    p50 {pct(acks, 50) * 1000:7.1f} ms   p99 {pct(acks, 99) * 1000:7.1f} ms"
          f"   max {max(acks) * 1000:7.1f} ms   (target p99 < 300 ms)")
    print(f"  answer: p50 {pct(answers, 50) * 1000:7.1f} ms   p99 {pct(answers, 99) * 1000:7.1f} ms"
          f"   max {max(answers) * 1000:7.1f} ms   (target p99 < 1000 ms)")
    print("baselines, same run:")
    print(f"  bare HTTP 200, same concurrency: p50 {pct(bare, 50) * 1000:6.1f} ms   "
          f"p99 {pct(bare, 99) * 1000:6.1f} ms")
    print(f"  /tier in-process, one at a time: p50 {statistics.median(work) * 1000:6.1f} ms   "
          f"p99 {pct(work, 99) * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
