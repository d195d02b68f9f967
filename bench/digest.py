"""Benchmark: weekly digests for 1,000 reps with 100 accounts each, delivered to a fake Slack.

Builds (once, cached in bench/data) a scored SQLite book: N reps, each owning A accounts,
orders over three years. Then sends every rep's digest through the real Deliverer (ledger
claim, the /digest reply from the command layer, the chart, Slack DM and PNG upload through
slack-sdk) to tests/fakes/slack.py on localhost, one after another as the scheduler does.
Reports the total, per-digest p50/p99, and the parts alone on a sample of reps: building
the digest (queries + text render), drawing the chart, and the Slack calls. Baseline in
the same run: the same DM and upload with a fixed payload (what the platform calls cost
without any of our work).

    .venv/bin/python bench/digest.py [--reps N] [--accounts-per-rep A] [--orders M]
Target (issue 7): all in under 60 s, dominated by the sending, not by our code.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from score import AS_OF, DATA, generate, load_sqlite, run_score  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.slack_support import TOKEN  # noqa: E402


def build_db(reps: int, per_rep: int, orders: int) -> str:
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"digest_{reps}x{per_rep}_{orders}.db"
    if path.exists():
        from storage.engine import build_engine
        from storage.migrate import upgrade
        engine = build_engine(f"sqlite:///{path}")
        upgrade(engine)  # a book cached by an older version gets the current schema
        engine.dispose()
        return f"sqlite:///{path}"
    accounts = reps * per_rep
    print(f"building {path.name}: {reps:,} reps x {per_rep} accounts, {orders:,} orders ...",
          flush=True)
    tmp = path.with_suffix(".tmp")
    for p in (tmp, Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm")):
        p.unlink(missing_ok=True)
    url = f"sqlite:///{tmp}"
    load_sqlite(url, generate(accounts, orders), accounts)
    import sqlalchemy as sa

    from storage.engine import build_engine
    engine = build_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO reps (id, key, name, role, slack_user_id, timezone) "
                             "VALUES (:i, :k, :n, 'rep', :s, 'America/New_York')"),
                     [{"i": i, "k": f"rep{i:04d}", "n": f"Rep {i}", "s": f"U{i:08d}"}
                      for i in range(1, reps + 1)])
        conn.execute(sa.text(f"UPDATE accounts SET owner_id = ((id - 1) / {per_rep}) + 1"))
    engine.dispose()
    run_score(url)
    tmp.rename(path)
    return f"sqlite:///{path}"


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--accounts-per-rep", type=int, default=100)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=100)
    args = parser.parse_args()
    url = build_db(args.reps, args.accounts_per_rep, args.orders)

    from bot.cli import _scoring_config
    from bot.commands import Services
    from bot.scheduler.chart import tier_chart
    from bot.scheduler.outbox import Outbox
    from bot.scheduler.runner import Deliverer
    from bot.settings import Settings
    from bot.slack.app import web_client
    from bot.slack.sender import SlackSender
    from messages.render import render_for
    from storage.engine import build_engine

    fake = FakeSlack(TOKEN)
    settings = Settings(database_url=url, slack_bot_token=TOKEN, slack_signing_secret="x",
                        slack_api_url=fake.api_url)
    engine = build_engine(url)
    with engine.begin() as conn:  # a fresh ledger each run
        conn.exec_driver_sql("DELETE FROM deliveries")
    services = Services(engine=engine, settings=settings, scoring=_scoring_config(settings),
                        today=lambda: AS_OF)
    sender = SlackSender(web_client(settings))
    from bot.scheduler.wiring import chart_processes

    class Timed(Deliverer):  # per-digest wall time, as the scheduler's workers see it
        def deliver(self, *args):
            t = time.perf_counter()
            try:
                return super().deliver(*args)
            finally:
                per.append(time.perf_counter() - t)

    per: list[float] = []
    deliverer = Timed(services, Outbox(sender), settings, chart_processes=chart_processes())
    reps = deliverer.recipients()
    now = datetime(2026, 11, 23, 14, 5, tzinfo=timezone.utc)

    # The parts alone, on a sample.
    sample = reps[:: max(1, len(reps) // args.sample)][: args.sample]
    build, chart, contexts = [], [], []
    for rep in sample:
        t = time.perf_counter()
        template, context, locale = deliverer.digest_content(rep, "en")
        render_for(template, context, channel="slack", locale=locale)
        build.append(time.perf_counter() - t)
        t = time.perf_counter()
        png = tier_chart(context["book"], "en")
        chart.append(time.perf_counter() - t)
        contexts.append((template, context, png))
    template, context, png = contexts[0]
    message = render_for(template, context, channel="slack", locale="en")
    calls = []
    for rep in sample:
        t = time.perf_counter()
        sender.dm(rep.slack_user_id, message)
        sender.upload_png(rep.slack_user_id, png, filename="tiers.png", title="Tiers")
        calls.append(time.perf_counter() - t)

    # The whole run, as the scheduler does it (its worker threads, the chart processes, the
    # ledger, retries).
    fake.calls.clear()
    per.clear()
    start = time.perf_counter()
    counts = deliverer.send_now("digest", now=now)
    total = time.perf_counter() - start
    assert counts == {"sent": len(reps)}, counts
    deliverer.close()
    posts = len(fake.of("chat.postMessage"))
    uploads = len(fake.of("files.completeUploadExternal"))
    fake.close()
    engine.dispose()

    print(f"\n{len(reps):,} digests ({args.accounts_per_rep} accounts each) to a local fake Slack: "
          f"{total:.1f} s total (target < 60 s); {posts} DMs and {uploads} charts received")
    print(f"  per digest:         p50 {statistics.median(per) * 1000:6.1f} ms   "
          f"p99 {pct(per, 99) * 1000:6.1f} ms")
    print(f"parts alone, {len(sample)} reps:")
    print(f"  build + render:     p50 {statistics.median(build) * 1000:6.1f} ms   "
          f"p99 {pct(build, 99) * 1000:6.1f} ms")
    print(f"  chart (PNG):        p50 {statistics.median(chart) * 1000:6.1f} ms   "
          f"p99 {pct(chart, 99) * 1000:6.1f} ms")
    print(f"  baseline, Slack calls alone (DM + upload, fixed payload): "
          f"p50 {statistics.median(calls) * 1000:6.1f} ms   p99 {pct(calls, 99) * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
