"""Benchmark: import a big orders CSV into SQLite and PostgreSQL.

Generates an N-row orders export (default 5,000,000; 100,000 accounts; messy-ish values:
thousands separators, currency signs, mixed date formats), then imports it with
`tierbot import`'s code path in a child process per database, reporting rows/s and peak
memory (max RSS of that child). In the same run it times two floors: a bare `csv.reader`
pass over the same file (reading alone), and sqlite3's `executemany` of the already
converted rows into the same schema (writing alone, what any Python importer pays).

    .venv/bin/python bench/import_orders.py [--rows N] [--no-postgres] [--keep]
Target (issue 2): >= 150,000 rows/s on SQLite on a 2-core machine, peak memory < 1 GB.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
PG_ADMIN = os.environ.get("TIERBOT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def generate(path: Path, rows: int, accounts: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    start = date(2023, 11, 1)
    days = [start + timedelta(days=i) for i in range(3 * 365)]
    formats = [lambda d: d.isoformat(), lambda d: f"{d.year}/{d.month}/{d.day}",
               lambda d: d.strftime("%Y%m%d")]
    date_text = [[f(d) for f in formats] for d in days]
    categories = ["components", "consumables", "equipment", "services", "spare parts"]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["account", "date", "amount", "order_id", "margin", "category", "currency"])
        for i in range(rows):
            amount = rng.lognormvariate(7, 1.2)
            style = i % 10
            if style < 6:
                text = f"{amount:.2f}"
            elif style < 9:
                text = f"¥{amount:,.2f}"
            else:
                text = f"-{amount / 10:.2f}"  # a return
            w.writerow([f"A{rng.randrange(accounts):06d}", date_text[rng.randrange(len(days))][i % 3],
                        text, f"SO-{i:08d}", f"{amount * 0.2:.2f}" if i % 2 else "",
                        categories[i % 5], "CNY" if style in (6, 7, 8) else ""])


def baseline(path: Path) -> float:
    t = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as f:
        n = sum(1 for _ in csv.reader(f))
    assert n > 1
    return time.perf_counter() - t


def write_floor(path: Path) -> float:
    """Seconds for sqlite3's executemany of the already-converted rows into the same schema:
    what any importer written on Python's sqlite3 pays at least, measured in a child."""
    out = subprocess.run([sys.executable, __file__, "--write-floor", str(path)], check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def write_floor_child(path: str) -> None:
    sys.path.insert(0, str(ROOT))
    from storage.engine import build_engine
    from storage.importing.orders import COLUMNS, Converted, Currencies, convert_rows
    from storage.importing.reader import open_table
    from storage.migrate import upgrade

    index = {"account": 0, "date": 1, "amount": 2, "order_id": 3, "margin": 4, "category": 5,
             "currency": 6}
    table = open_table(Path(path))
    currencies = Currencies("USD", frozenset({"USD", "CNY"}))
    batches = [b.rows for b in convert_rows(table, index, currencies, False, Converted())]
    keys = sorted({r[0] for rows in batches for r in rows})
    ids = {k: i for i, k in enumerate(keys, 1)}
    db = DATA / "bench_floor.db"
    engine = build_engine(f"sqlite:///{db}")
    upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_orders_account_date_amount")  # the cheapest write
        cur = conn.connection.driver_connection.cursor()
        cur.executemany("INSERT INTO accounts (id, key, name) VALUES (?, ?, ?)",
                        [(i, k, k) for k, i in ids.items()])
        tuples = [[(ids[r[0]], *r[1:]) for r in rows] for rows in batches]
        sql = (f"INSERT INTO orders ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
               "ON CONFLICT (dedupe_key) DO NOTHING")
        t = time.perf_counter()
        for rows in tuples:
            cur.executemany(sql, rows)
        elapsed = time.perf_counter() - t
    engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    print(elapsed)


def worker(url: str, path: str) -> None:
    """Runs in a child: init the schema, import, print timings as JSON."""
    sys.path.insert(0, str(ROOT))
    from storage.engine import build_engine
    from storage.importing import import_file
    from storage.migrate import upgrade

    engine = build_engine(url)
    upgrade(engine)
    # The file's CNY orders need a rate into the reporting currency (USD) to be imported.
    rates = Path(path).with_name("bench_rates.csv")
    rates.write_text("currency,date,rate\nCNY,2023-01-01,0.14\n", encoding="utf-8")
    import_file(engine, "rates", rates, default_currency="USD")
    rates.unlink()
    t = time.perf_counter()
    summary = import_file(engine, "orders", Path(path), default_currency="USD")
    elapsed = time.perf_counter() - t
    t = time.perf_counter()
    again = import_file(engine, "orders", Path(path), default_currency="USD")
    reimport = time.perf_counter() - t
    engine.dispose()
    print(json.dumps({"rows": summary.rows, "created": summary.created, "seconds": elapsed,
                      "reimport_created": again.created, "reimport_seconds": reimport,
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_child(url: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", url, str(path)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def fresh_postgres() -> tuple[str, callable]:
    import psycopg

    name = "tierbot_bench_" + uuid.uuid4().hex[:8]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    base = PG_ADMIN.rsplit("/", 1)[0]
    return f"{base}/{name}", drop


def report(name: str, r: dict, floor: float, write: float | None = None) -> None:
    rate = r["rows"] / r["seconds"]
    vs_write = f", x{r['seconds'] / write:3.1f} the sqlite3 write floor" if write else ""
    print(f"{name:<11} {r['rows']:>10,} rows in {r['seconds']:7.1f} s = {rate:>9,.0f} rows/s "
          f"(x{r['seconds'] / floor:4.1f} the csv.reader floor{vs_write}); "
          f"peak RSS {r['maxrss_mb']:,.0f} MB; "
          f"re-import {r['reimport_seconds']:.1f} s, {r['reimport_created']} created")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the generated CSV")
    args = ap.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"orders_{args.rows}.csv"
    if not path.exists():
        t = time.perf_counter()
        generate(path, args.rows, args.accounts)
        print(f"generated {path.name} ({path.stat().st_size / 1e6:,.0f} MB) in "
              f"{time.perf_counter() - t:.1f} s")
    floor = baseline(path)
    print(f"floor: csv.reader pass over {args.rows:,} rows in {floor:.1f} s "
          f"= {args.rows / floor:,.0f} rows/s")
    write = write_floor(path)
    print(f"floor: sqlite3 executemany of the converted rows, same schema: {write:.1f} s "
          f"= {args.rows / write:,.0f} rows/s")
    db = DATA / "bench_import.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    try:
        report("SQLite", run_child(f"sqlite:///{db}", path), floor, write)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    if not args.no_postgres:
        url, drop = fresh_postgres()
        try:
            report("PostgreSQL", run_child(url, path), floor)
        finally:
            drop()
    if not args.keep:
        path.unlink()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "--write-floor":
        write_floor_child(sys.argv[2])
    else:
        main()
