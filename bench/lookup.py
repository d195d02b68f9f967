"""Benchmark: account lookup at 100,000 accounts, in-process.

Generates N accounts with English and Chinese company names (some aliases), builds the
index, then times lookups of five kinds: by key, by exact name, by a Chinese substring,
with a typo (fuzzy), and of something absent (a full fuzzy miss). Prints p50 and p99 of
each. Baselines in the same run: a bare dict lookup (what exact matching costs at least)
and a bare rapidfuzz `extractOne` over the same choices (what any fuzzy scan costs).

    .venv/bin/python bench/lookup.py [--accounts N] [--queries Q]
Target (issue 4): p99 under 20 ms.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rapidfuzz import fuzz, process  # noqa: E402

from storage.lookup import AccountIndex, normalise  # noqa: E402

EN = ["Acme", "Northwind", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark",
      "Contoso", "Fabrikam", "Tailspin", "Litware", "Proseware", "Adatum", "Wingtip", "Summit",
      "Harbor", "Keystone", "Pinnacle", "Bluebird", "Oakridge", "Silverline", "Redwood"]
EN2 = ["Logistics", "Manufacturing", "Foods", "Medical", "Energy", "Retail", "Systems",
       "Chemicals", "Robotics", "Textiles", "Packaging", "Optics"]
ZH_CITY = ["上海", "北京", "深圳", "杭州", "苏州", "广州", "成都", "武汉", "南京", "天津"]
ZH = ["华锐", "鼎信", "恒通", "博远", "天成", "瑞丰", "中联", "宏达", "金桥", "东方", "远航",
      "星河", "新锐", "永泰", "汇川", "嘉禾", "德润", "明阳", "九州", "万通"]
ZH2 = ["精密制造", "科技", "医疗器械", "物流", "化工", "食品", "电子", "新能源", "纺织", "包装"]


def generate(n: int, seed: int = 1):
    rng = random.Random(seed)
    rows, seen = [], set()
    i = 0
    while len(rows) < n:
        i += 1
        if i % 2:
            name = f"{rng.choice(EN)} {rng.choice(EN2)} {rng.choice(['Corp', 'Inc', 'Ltd'])} {i}"
        else:
            name = f"{rng.choice(ZH_CITY)}{rng.choice(ZH)}{rng.choice(ZH2)}{i}号有限公司"
        if name in seen:
            continue
        seen.add(name)
        alias = name.split(" ")[0] + str(i) if rng.random() < 0.3 else None
        rows.append((len(rows) + 1, f"A{len(rows) + 1:06d}", name, alias))
    return rows


def typo(text: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(text) - 1)
    return text[:i] + text[i + 1:] if rng.random() < 0.5 else text[:i] + text[i] + text[i:]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(0.99 * (len(ordered) - 1))] * 1000


def timed(fn, queries) -> list[float]:
    out = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300)
    args = ap.parse_args()
    rows = generate(args.accounts)
    t = time.perf_counter()
    index = AccountIndex(rows)
    print(f"built the index of {len(index):,} accounts in {time.perf_counter() - t:.2f} s")
    rng = random.Random(2)
    sample = [rng.choice(rows) for _ in range(args.queries)]
    zh = [r for r in sample if not r[2].isascii()] or sample
    kinds = {
        "key": [r[1].lower() for r in sample],
        "exact name": [r[2].upper() for r in sample],
        "zh substring": [r[2][2:8] for r in zh],
        "typo (fuzzy)": [typo(r[2], rng) for r in sample],
        "absent": [f"Zyxw Qrst {i}" for i in range(args.queries)],
    }
    quality = sum(index.find(q).matches[:1] and index.find(q).matches[0].account_id == r[0]
                  for q, r in zip(kinds["typo (fuzzy)"], sample)) / len(sample)
    for kind, queries in kinds.items():
        p50, p99 = percentiles(timed(index.find, queries))
        print(f"{kind:<14} p50 {p50:7.3f} ms   p99 {p99:7.3f} ms")
    print(f"typo queries whose first match is the right account: {quality:.1%}")
    exact = {normalise(r[2]): r[0] for r in rows}
    p50, p99 = percentiles(timed(lambda q: exact.get(normalise(q)), kinds["exact name"]))
    print(f"baseline: dict lookup      p50 {p50:7.3f} ms   p99 {p99:7.3f} ms")
    choices = [normalise(r[2]) for r in rows]
    p50, p99 = percentiles(timed(lambda q: process.extractOne(normalise(q), choices, scorer=fuzz.ratio),
                                 kinds["typo (fuzzy)"]))
    print(f"baseline: rapidfuzz scan   p50 {p50:7.3f} ms   p99 {p99:7.3f} ms")


if __name__ == "__main__":
    main()
