"""Benchmark: chat writes on SQLite while `tierbot import` loads a big orders file.

Generates an N-row orders export (default 1,500,000 rows, 50,000 accounts), creates a fresh
SQLite book, then issues the bot's own chat writes (an event claim, `claim_event`, and a
logged visit, `log_interaction`, alternately) at a steady rate from this process:
  1. floor: for a few seconds with nothing else running;
  2. during a real `tierbot import orders FILE` subprocess, from its start to its end.
It prints chat-write latency p50 / p99 / max for both, how many writes failed, and the
import's time. Issue 11 measured acks up to 9 s during a 1.5M-row import before the
import was staged and merged in short transactions.

    .venv/bin/python bench/import_contention.py [--rows N] [--rate PER_SECOND] [--keep]
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
sys.path.insert(0, str(ROOT))


def generate(path: Path, rows: int, accounts: int, seed: int = 3) -> None:
    rng = random.Random(seed)
    days = [(date(2023, 1, 1) + timedelta(days=i)).isoformat() for i in range(3 * 365)]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["account", "date", "amount", "order_id", "category"])
        for i in range(rows):
            w.writerow([f"B{rng.randrange(accounts):06d}", rng.choice(days),
                        f"{rng.lognormvariate(7, 1.1):.2f}", f"SO-{i:09d}",
                        ("parts", "services", "equipment")[i % 3]])


class ChatWriter:
    """Writes at `rate` per second from a thread; records (start, seconds, ok) per write."""

    def __init__(self, engine, account_id: int, rep_id: int, rate: float):
        self.engine, self.account_id, self.rep_id = engine, account_id, rep_id
        self.interval = 1 / rate
        self.samples: list[tuple[float, float, bool]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.errors: list[str] = []
        self._write(-1)  # warm: the first write pays for module imports
        self._write(-2)

    def _write(self, n: int) -> None:
        from storage.inbound import claim_event
        from storage.logbook import log_interaction

        if n % 2:
            claim_event(self.engine, "slack", f"Ev{time.monotonic_ns()}-{n}")
        else:
            log_interaction(self.engine, account_id=self.account_id, rep_id=self.rep_id,
                            kind="call", occurred_on=date(2026, 11, 24), summary="bench",
                            next_date=None, source="slack", idempotency_key=f"b{time.monotonic_ns()}")

    def _run(self) -> None:
        n, next_at = 0, time.monotonic()
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                self._write(n)
                ok = True
            except Exception as exc:  # noqa: BLE001 - counted and reported
                ok = False
                self.errors.append(str(exc)[:200])
            self.samples.append((started, time.monotonic() - started, ok))
            n += 1
            next_at += self.interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def summary(name: str, samples) -> str:
    times = sorted(s[1] * 1000 for s in samples)
    failed = sum(1 for s in samples if not s[2])
    if not times:
        return f"{name}: no writes"
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return (f"{name:<22} {len(times):>5} writes  p50 {statistics.median(times):7.1f} ms  "
            f"p99 {p99:7.1f} ms  max {times[-1]:7.1f} ms  failed {failed}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_500_000)
    ap.add_argument("--accounts", type=int, default=50_000)
    ap.add_argument("--rate", type=float, default=20.0, help="chat writes per second")
    ap.add_argument("--floor-seconds", type=float, default=10.0)
    ap.add_argument("--keep", action="store_true", help="keep the generated CSV")
    args = ap.parse_args()

    import sqlalchemy as sa

    from storage.engine import build_engine
    from storage.migrate import upgrade
    from storage.models import Account, Rep

    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"contention_{args.rows}.csv"
    if not path.exists():
        t = time.perf_counter()
        generate(path, args.rows, args.accounts)
        print(f"generated {path.name} ({path.stat().st_size / 1e6:,.0f} MB) in "
              f"{time.perf_counter() - t:.1f} s")
    db = DATA / "contention.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    engine = build_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(Rep).values(key="rep.bench", name="Bench"))
        conn.execute(sa.insert(Account).values(key="CHAT-1", name="Chat account"))
        rep_id = conn.execute(sa.select(Rep.id)).scalar_one()
        account_id = conn.execute(sa.select(Account.id)).scalar_one()
    try:
        with ChatWriter(engine, account_id, rep_id, args.rate) as floor:
            time.sleep(args.floor_seconds)
        env = dict(os.environ, TIERBOT_DATABASE_URL=url)
        with ChatWriter(engine, account_id, rep_id, args.rate) as during:
            t = time.monotonic()
            proc = subprocess.run([str(Path(sys.executable).parent / "tierbot"), "import",
                                   "orders", str(path)], env=env, cwd=DATA,
                                  capture_output=True, text=True)
            import_seconds = time.monotonic() - t
        mid = [s for s in during.samples if t <= s[0] <= t + import_seconds]
        print(proc.stdout.strip() or proc.stderr.strip()[-2000:])
        print(f"import: exit {proc.returncode}, {import_seconds:.1f} s "
              f"= {args.rows / import_seconds:,.0f} rows/s")
        print(f"chat writes at {args.rate:g}/s (claim_event and log_interaction, alternately):")
        print(summary("floor (no import)", floor.samples))
        print(summary("during the import", mid))
        for e in sorted(set(floor.errors + during.errors))[:5]:
            print("  error:", e)
    finally:
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        if not args.keep:
            path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
