"""Benchmark: a full rescore of N accounts / M orders on SQLite and PostgreSQL.

Generates a book (default 100,000 accounts, 5,000,000 orders over three years, 500,000
interactions, some feedback) with numpy, loads it into each database, then runs
`tierbot score` in a child process: wall time end to end (process start to snapshot
written), the phases inside (load / score / save) and peak memory. In the same run it
times the floor: DuckDB computing the same per-account aggregation over the same orders
as Parquet, and prints our time as a multiple of it.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/score.py [--accounts N] [--orders M] [--no-postgres] [--cny F]
Target (issue 3): at most 5 s on SQLite and on PostgreSQL for 100k/5M, peak memory < 1 GB.
Issue 12: the learned churn risk adds at most 2 s (printed as its own line, same run:
loading the histories and learning; its reasons' building and writing on the next line).
Issue 13: `--cny 0.2` puts a fifth of the orders in CNY (monthly CNY->USD rates), so the
accounts with them are scored converted; the default is a book all in USD.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
AS_OF = date(2026, 11, 22)
PG_ADMIN = os.environ.get("TIERBOT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def generate(accounts: int, orders: int, seed: int = 1,
             cny: float = 0.0) -> dict[str, np.ndarray]:
    """Accounts with heavy-tailed sizes and rates; some stopped buying at some point. A
    share `cny` of the orders is in CNY (about 7 CNY to the dollar)."""
    rng = np.random.default_rng(seed)
    start = AS_OF.toordinal() - 3 * 365
    rate = rng.pareto(1.2, accounts) + 0.05
    owner_of_order = rng.choice(accounts, size=orders, p=rate / rate.sum())
    stop = np.where(rng.random(accounts) < 0.2, rng.integers(start + 200, AS_OF.toordinal(), accounts),
                    AS_OF.toordinal())
    day = rng.integers(start, AS_OF.toordinal() + 1, orders)
    day = np.minimum(day, stop[owner_of_order])
    size = rng.lognormal(7, 1.0, accounts)
    amount = np.round(size[owner_of_order] * rng.lognormal(0, 0.5, orders), 2)
    # Its own generator: the default book (no CNY) stays the one earlier runs measured.
    in_cny = np.random.default_rng(seed + 1).random(orders) < cny
    amount = np.where(in_cny, np.round(amount * 7.1, 2), amount)
    n_inter = orders // 10
    months = np.arange(start - 31, AS_OF.toordinal() + 1, 30)
    return {
        "order_cny": in_cny,
        "rate_day": months, "rate": np.round(0.14 + 0.004 * np.sin(months / 90.0), 4),
        "order_account": owner_of_order + 1, "order_day": day, "order_amount": amount,
        "inter_account": rng.integers(1, accounts + 1, n_inter),
        "inter_day": rng.integers(AS_OF.toordinal() - 400, AS_OF.toordinal() + 1, n_inter),
        "fb_account": rng.integers(1, accounts + 1, accounts // 10),
        "fb_day": rng.integers(AS_OF.toordinal() - 120, AS_OF.toordinal() + 1, accounts // 10),
        "fb_score": rng.integers(0, 11, accounts // 10),
    }


def iso(days: np.ndarray) -> list[str]:
    lookup = {d: date.fromordinal(int(d)).isoformat() for d in np.unique(days)}
    return [lookup[d] for d in days.tolist()]


def currencies(data: dict):
    """Each order's currency, one at a time (a list of 5M strings would stay in this
    process's memory, and `fork` makes every child look that big to RUSAGE_CHILDREN)."""
    return ("CNY" if cny else "USD" for cny in data["order_cny"].tolist())


def load_sqlite(url: str, data: dict, accounts: int) -> None:
    sys.path.insert(0, str(ROOT))
    from storage.engine import build_engine
    from storage.migrate import upgrade

    engine = build_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        cur = conn.connection.driver_connection.cursor()
        cur.executemany("INSERT INTO accounts (id, key, name) VALUES (?, ?, ?)",
                        ((i, f"A{i:06d}", f"Account {i}") for i in range(1, accounts + 1)))
        cur.executemany("INSERT INTO orders (account_id, order_date, amount, currency, dedupe_key) "
                        "VALUES (?, ?, ?, ?, ?)",
                        zip(data["order_account"].tolist(), iso(data["order_day"]),
                            data["order_amount"].tolist(), currencies(data),
                            (f"b:{i}" for i in range(len(data["order_day"])))))
        if data["order_cny"].any():  # the default book, all in USD, has no rates
            cur.executemany("INSERT INTO exchange_rates (currency, reporting_currency, "
                            "rate_date, rate) VALUES ('CNY', 'USD', ?, ?)",
                            zip(iso(data["rate_day"]), data["rate"].tolist()))
        cur.executemany("INSERT INTO interactions (account_id, kind, occurred_on, source, "
                        "idempotency_key, created_at) VALUES (?, 'call', ?, 'bench', ?, ?)",
                        zip(data["inter_account"].tolist(), iso(data["inter_day"]),
                            (f"b:{i}" for i in range(len(data["inter_day"]))),
                            ("2026-11-22 00:00:00" for _ in range(len(data["inter_day"])))))
        cur.executemany("INSERT INTO feedback (account_id, kind, score, given_on, dedupe_key) "
                        "VALUES (?, 'nps', ?, ?, ?)",
                        zip(data["fb_account"].tolist(), data["fb_score"].tolist(),
                            iso(data["fb_day"]), (f"b:{i}" for i in range(len(data["fb_day"])))))
    engine.dispose()


def load_postgres(url: str, data: dict, accounts: int) -> None:
    sys.path.insert(0, str(ROOT))
    from storage.engine import build_engine
    from storage.migrate import upgrade

    engine = build_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        cur = conn.connection.driver_connection.cursor()
        _copy(cur, "accounts (id, key, name)",
              (f"{i}\tA{i:06d}\tAccount {i}" for i in range(1, accounts + 1)))
        _copy(cur, "orders (account_id, order_date, amount, currency, dedupe_key)",
              (f"{a}\t{d}\t{m}\t{c}\tb:{i}" for i, (a, d, m, c) in enumerate(zip(
                  data["order_account"].tolist(), iso(data["order_day"]),
                  data["order_amount"].tolist(), currencies(data)))))
        if data["order_cny"].any():
            _copy(cur, "exchange_rates (currency, reporting_currency, rate_date, rate)",
                  (f"CNY\tUSD\t{d}\t{r}" for d, r in zip(iso(data["rate_day"]),
                                                           data["rate"].tolist())))
        _copy(cur, "interactions (account_id, kind, occurred_on, source, idempotency_key, created_at)",
              (f"{a}\tcall\t{d}\tbench\tb:{i}\t2026-11-22 00:00:00+00" for i, (a, d) in enumerate(zip(
                  data["inter_account"].tolist(), iso(data["inter_day"])))))
        _copy(cur, "feedback (account_id, kind, score, given_on, dedupe_key)",
              (f"{a}\tnps\t{s}\t{d}\tb:{i}" for i, (a, s, d) in enumerate(zip(
                  data["fb_account"].tolist(), data["fb_score"].tolist(), iso(data["fb_day"])))))
        cur.execute("SELECT setval('accounts_id_seq', (SELECT max(id) FROM accounts))")
    engine.dispose()
    # The steady state autovacuum gives a live database: statistics, and a visibility map
    # so index-only scans don't visit the heap.
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _copy(cur, target: str, lines) -> None:
    with cur.copy(f"COPY {target} FROM STDIN") as copy:
        buf = io.StringIO()
        for n, line in enumerate(lines, 1):
            buf.write(line + "\n")
            if n % 200_000 == 0:
                copy.write(buf.getvalue())
                buf = io.StringIO()
        copy.write(buf.getvalue())


def duckdb_floor(data: dict) -> float:
    """The same per-account aggregation, by DuckDB over Parquet (written first, not timed)."""
    import duckdb
    import pandas as pd

    path = DATA / "orders.parquet"
    epoch = date(1970, 1, 1).toordinal()
    df = pd.DataFrame({"account_id": data["order_account"],
                       "order_date": pd.to_datetime(data["order_day"] - epoch, unit="D").date,
                       "amount": data["order_amount"]})
    con = duckdb.connect()
    con.register("df", df)
    con.execute(f"COPY df TO '{path}' (FORMAT parquet)")
    window, prev = AS_OF - timedelta(days=365), AS_OF - timedelta(days=730)
    q = [AS_OF - timedelta(days=91 * k) for k in range(4)]
    sql = f"""
      SELECT account_id, count(*), min(order_date), max(order_date), sum(amount),
        sum(CASE WHEN order_date > DATE '{window}' THEN 1 ELSE 0 END),
        sum(CASE WHEN order_date > DATE '{window}' THEN amount ELSE 0 END),
        sum(CASE WHEN order_date > DATE '{prev}' AND order_date <= DATE '{window}' THEN amount ELSE 0 END),
        sum(CASE WHEN order_date > DATE '{q[1]}' THEN amount ELSE 0 END),
        sum(CASE WHEN order_date > DATE '{q[2]}' AND order_date <= DATE '{q[1]}' THEN amount ELSE 0 END),
        sum(CASE WHEN order_date > DATE '{q[3]}' AND order_date <= DATE '{q[2]}' THEN amount ELSE 0 END),
        sum(CASE WHEN amount > 0 THEN amount ELSE 0 END), sum(CASE WHEN amount > 0 THEN 1 ELSE 0 END)
      FROM read_parquet('{path}') WHERE order_date <= DATE '{AS_OF}' GROUP BY account_id"""
    t = time.perf_counter()
    rows = con.execute(sql).fetchall()
    elapsed = time.perf_counter() - t
    assert len(rows) > 0
    path.unlink()
    return elapsed


def run_score(url: str) -> dict:
    """`tierbot score` in a child process: wall time and peak RSS of that child."""
    env = os.environ | {"TIERBOT_DATABASE_URL": url}
    tierbot = Path(sys.executable).parent / "tierbot"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    out = subprocess.run([str(tierbot), "score", "--as-of", AS_OF.isoformat()], env=env,
                         check=True, capture_output=True, text=True, cwd=DATA)
    wall = time.perf_counter() - t
    phases = subprocess.run([sys.executable, __file__, "--phases", url], env=env, check=True,
                            capture_output=True, text=True).stdout
    return {"wall": wall, "maxrss_mb": max(before, resource.getrusage(
        resource.RUSAGE_CHILDREN).ru_maxrss) / 1024, "summary": out.stdout.splitlines()[0],
            "phases": json.loads(phases.strip().splitlines()[-1])}


def phases(url: str) -> None:
    """In-process timing of each phase of a rescore (a second run: movements included)."""
    sys.path.insert(0, str(ROOT))
    from bot.scoring_config import load_scoring_config
    from scoring.engine import score_book
    from storage.engine import build_engine
    from storage.scores import load_book, load_overrides, load_previous_tiers, save_snapshot

    engine = build_engine(url)
    cfg = load_scoring_config("")
    t0 = time.perf_counter()
    previous = load_previous_tiers(engine)
    book = load_book(engine, AS_OF)
    t1 = time.perf_counter()
    scores = score_book(book, cfg, previous={a: p.tier for a, p in previous.items()},
                        overrides=load_overrides(engine, AS_OF))
    t2 = time.perf_counter()
    save_snapshot(engine, scores, previous)
    t3 = time.perf_counter()
    # The learned churn risk's own cost, measured in the same process: the same load
    # without the histories it learns from, the same scoring without learning (fallback).
    from dataclasses import replace
    t4 = time.perf_counter()
    plain = load_book(engine, AS_OF, history=False)
    t5 = time.perf_counter()
    score_book(replace(plain, history=None), cfg,
               previous={a: p.tier for a, p in previous.items()})
    t6 = time.perf_counter()
    # The reasons' own cost inside those phases: building them (score) and writing them as
    # the snapshots' text (save; the database then stores those bytes too).
    from scoring import risk
    from scoring.book import NO_DATE
    from scoring.engine import _usual_gap
    from scoring.reasons import build_reasons
    from storage.scores import _reason_texts
    X = risk.features(book, scores.models.bg, int(cfg.risk["horizon_days"]),
                      int(cfg.warnings["detractor_nps"]))
    gap = _usual_gap(book, int(cfg.warnings["min_orders_for_gap"]))
    t7 = time.perf_counter()
    reasons = build_reasons(book, scores.models.risk, X, book.last_order != NO_DATE, gap,
                            scores.models.risk.horizon_days, int(cfg.risk["reasons"]))
    t8 = time.perf_counter()
    _reason_texts(reasons)
    t9 = time.perf_counter()
    print(json.dumps({"load": t1 - t0, "score": t2 - t1, "save": t3 - t2,
                      "load_no_history": t5 - t4, "score_no_learning": t6 - t5,
                      "reasons_build": t8 - t7, "reasons_text": t9 - t8,
                      "risk_model": scores.models.risk.kind}))


def report(name: str, r: dict, floor: float) -> None:
    p = r["phases"]
    print(f"{name:<11} tierbot score: {r['wall']:6.2f} s end to end (x{r['wall'] / floor:5.1f} the "
          f"DuckDB floor), peak RSS {r['maxrss_mb']:,.0f} MB; in-process: load {p['load']:.2f} s, "
          f"score {p['score']:.2f} s, save {p['save']:.2f} s")
    if "load_no_history" in p:
        extra = p["load"] - p["load_no_history"] + p["score"] - p["score_no_learning"]
        print(f"            learned churn risk ({p['risk_model']}): +{extra:.2f} s (loading the "
              f"histories +{p['load'] - p['load_no_history']:.2f} s, learning "
              f"+{p['score'] - p['score_no_learning']:.2f} s; without them: load "
              f"{p['load_no_history']:.2f} s, score {p['score_no_learning']:.2f} s)")
    if "reasons_build" in p:
        print(f"            its reasons: built in {p['reasons_build']:.2f} s (in score), written as "
              f"text in {p['reasons_text']:.2f} s (in save, before the database stores them)")
    print(f"            {r['summary']}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--orders", type=int, default=5_000_000)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--cny", type=float, default=0.0, help="share of the orders in CNY")
    args = ap.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    data = generate(args.accounts, args.orders, cny=args.cny)
    print(f"generated {args.accounts:,} accounts, {args.orders:,} orders "
          f"({args.cny:.0%} in CNY) in {time.perf_counter() - t:.1f} s")
    floor = duckdb_floor(data)
    print(f"floor: DuckDB per-account aggregation over Parquet: {floor:.2f} s")
    db = DATA / "bench_score.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    try:
        t = time.perf_counter()
        load_sqlite(f"sqlite:///{db}", data, args.accounts)
        print(f"loaded SQLite in {time.perf_counter() - t:.1f} s")
        report("SQLite", run_score(f"sqlite:///{db}"), floor)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    if args.no_postgres:
        return
    import psycopg

    name = "tierbot_bench_" + uuid.uuid4().hex[:8]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        t = time.perf_counter()
        load_postgres(url, data, args.accounts)
        print(f"loaded PostgreSQL in {time.perf_counter() - t:.1f} s")
        report("PostgreSQL", run_score(url), floor)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--phases":
        phases(sys.argv[2])
    else:
        main()
