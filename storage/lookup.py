"""Finding an account from what a rep types: its key, name or an alias, then fuzzily.

Matching ignores case, full/half width and punctuation, and company suffixes (Corp, Ltd,
有限公司...). Order of trust: exact key; exact name or alias; a unique substring (so 阿里
finds 阿里巴巴集团); then typo-tolerant similarity. One clear winner is `one`; close
contenders are `several`, best match first (the first `limit`, and `total` says how many
there were); nothing is `none`, with suggestions when any look remotely alike.
"""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz, process

EN_SUFFIXES = {"corp", "corporation", "inc", "incorporated", "ltd", "limited", "llc", "gmbh",
               "co", "company", "group", "plc", "sa", "ag", "bv", "holdings"}
ZH_SUFFIXES = re.compile(r"(股份有限公司|有限责任公司|有限公司|集团公司|集团|公司)$")
_SPLIT = re.compile(r"[\W_]+")
SEP = "\x00"

SHORTLIST = 300  # fuzzy scoring looks at the names sharing the most letter pairs
CLEAR = 88      # a fuzzy score this high, clear of the runner-up by GAP, is one match
SOLE = 80       # ... or this high when nothing else is even close (one typo in 5+ chars)
GAP = 8
CLOSE = 60      # contenders at or above this are listed
SUGGEST = 40    # below CLOSE, still worth suggesting
CONTAINS_CAP = 50  # a substring search stops after this many accounts ("50 or more")


def normalise(text: str) -> str:
    """NFKC (full width -> half width), case-folded, without spaces or punctuation."""
    return "".join(_SPLIT.split(unicodedata.normalize("NFKC", text).casefold()))


def core(text: str, *, loose: bool = False) -> str:
    """The normalised name without trailing company suffixes: 'ACME Corp.' -> 'acme'.

    `loose` also drops a last word within one typo of a suffix ('Acme Corpp' -> 'acme'),
    for what a rep types."""
    tokens = [t for t in _SPLIT.split(unicodedata.normalize("NFKC", text).casefold()) if t]
    while len(tokens) > 1 and (tokens[-1] in EN_SUFFIXES or (
            loose and len(tokens[-1]) >= 4 and _near_suffix(tokens[-1]))):
        tokens.pop()
    joined = "".join(tokens)
    while True:
        stripped = ZH_SUFFIXES.sub("", joined)
        if stripped == joined or not stripped:
            return joined
        joined = stripped


def _near_suffix(token: str) -> bool:
    return any(fuzz.ratio(token, s) >= 85 for s in EN_SUFFIXES if len(s) >= 3)


@dataclass(frozen=True)
class Candidate:
    account_id: int
    key: str
    name: str
    score: float
    via: str  # key, name, alias, contains, fuzzy


@dataclass
class LookupResult:
    status: str  # one, several, none
    matches: list[Candidate] = field(default_factory=list)
    total: int = 0  # how many matched (at least len(matches)); CONTAINS_CAP when capped

    def __post_init__(self) -> None:
        self.total = max(self.total, len(self.matches))

    @property
    def account(self) -> Candidate | None:
        return self.matches[0] if self.status == "one" else None


class AccountIndex:
    """An in-memory index of every account's key, name and aliases (100k: ~1 s to build)."""

    def __init__(self, rows: Iterable[tuple[int, str, str, str | None]]):
        self._info: dict[int, tuple[str, str]] = {}
        self._by_key: dict[str, int] = {}
        self._exact: dict[str, set[int]] = {}
        self._via: dict[tuple[str, int], str] = {}
        choices, owners = [], []  # substring search: every form
        fuzzy, fuzzy_owners = [], []  # similarity: one core form per name or alias
        for account_id, key, name, aliases in rows:
            self._info[account_id] = (key, name)
            self._by_key.setdefault(normalise(key), account_id)
            forms = [(name, "name")] + [(a, "alias") for a in (aliases or "").split("|") if a.strip()]
            for text, via in forms:
                for form in {normalise(text), core(text)} - {""}:
                    self._exact.setdefault(form, set()).add(account_id)
                    self._via.setdefault((form, account_id), via)
                    choices.append(form)
                    owners.append(account_id)
                if short := core(text):
                    fuzzy.append(short)
                    fuzzy_owners.append(account_id)
        self._choices, self._owners = choices, owners
        self._fuzzy_choices, self._fuzzy_owners = fuzzy, fuzzy_owners
        self._bigrams = _bigram_postings(fuzzy)
        self._blob = SEP.join(choices)
        starts, pos = [], 0
        for c in choices:
            starts.append(pos)
            pos += len(c) + 1
        self._starts = starts

    def __len__(self) -> int:
        return len(self._info)

    def find(self, query: str, limit: int = 5) -> LookupResult:
        q = normalise(query)
        if not q:
            return LookupResult("none")
        if (hit := self._by_key.get(q)) is not None:
            return LookupResult("one", [self._candidate(hit, 100.0, "key")])
        exact = self._exact.get(q) or self._exact.get(core(query))
        if exact:
            form = q if q in self._exact else core(query)
            found = sorted((self._candidate(a, 100.0, self._via[(form, a)]) for a in exact),
                           key=lambda c: c.name)
            return LookupResult("one" if len(found) == 1 else "several", found[:limit],
                                len(found))
        contains = self._containing(q)
        if len(contains) == 1:
            return LookupResult("one", [self._candidate(contains[0][0], 95.0, "contains")])
        if contains:
            found = [self._candidate(a, score, "contains") for a, score in contains]
            return LookupResult("several", found[:limit], len(found))
        return self._fuzzy(core(query, loose=True) or q, limit)

    def _containing(self, q: str, cap: int = CONTAINS_CAP) -> list[tuple[int, float]]:
        """Accounts with a name or alias containing `q` (one C-level scan of a joined blob),
        best match first: (account, score).

        Match quality: a name that starts with `q` before one that has it inside, then the
        share of the name `q` covers (Northwind Energy before Northwind Energy Holdings),
        then the name. The score (60-90) says the same for the list."""
        if len(q) < 2:
            return []
        best: dict[int, tuple[bool, float]] = {}
        pos = self._blob.find(q)
        while pos != -1 and len(best) < cap:
            i = bisect_right(self._starts, pos) - 1
            account_id = self._owners[i]
            quality = (pos == self._starts[i], len(q) / len(self._choices[i]))
            best[account_id] = max(best.get(account_id, quality), quality)
            pos = self._blob.find(q, pos + 1)
        ranked = sorted(best.items(), key=lambda kv: (not kv[1][0], -kv[1][1],
                                                      self._info[kv[0]][1]))
        return [(a, round(60 + 20 * prefix + 10 * share, 1)) for a, (prefix, share) in ranked]

    def _fuzzy(self, q: str, limit: int) -> LookupResult:
        shortlist = self._shortlist(q)
        hits = process.extract(q, [self._fuzzy_choices[i] for i in shortlist], scorer=fuzz.ratio,
                               limit=limit * 4, score_cutoff=SUGGEST)
        best: dict[int, float] = {}
        for _, score, j in hits:
            account_id = self._fuzzy_owners[shortlist[j]]
            best[account_id] = max(best.get(account_id, 0.0), score)
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], self._info[kv[0]][1]))
        found = [self._candidate(a, round(s, 1), "fuzzy") for a, s in ranked[:limit]]
        if not found:
            return LookupResult("none")
        top = found[0].score
        runner_up = found[1].score if len(found) > 1 else 0.0
        sole = runner_up < CLOSE
        if top - runner_up >= GAP and (top >= CLEAR or (sole and top >= SOLE)):
            return LookupResult("one", found[:1])
        if top >= CLOSE:
            return LookupResult("several", [c for c in found if c.score >= CLOSE],
                                sum(score >= CLOSE for _, score in ranked))
        return LookupResult("none", found[:3])

    def _shortlist(self, q: str) -> list[int]:
        """The SHORTLIST choices sharing most letter pairs with `q`.

        Scoring all 100k+ names takes 30-50 ms (tens of thousands clear a loose cutoff); a
        typo leaves most letter pairs intact, so the right name is on this shortlist."""
        postings = [self._bigrams[b] for b in _bigrams(q) if b in self._bigrams]
        if not postings:
            return []
        counts = np.bincount(np.concatenate(postings), minlength=len(self._fuzzy_choices))
        if len(counts) > SHORTLIST:
            top = np.argpartition(-counts, SHORTLIST)[:SHORTLIST]
        else:
            top = np.arange(len(counts))
        return [int(i) for i in top if counts[i] > 0]

    def _candidate(self, account_id: int, score: float, via: str) -> Candidate:
        key, name = self._info[account_id]
        return Candidate(account_id, key, name, score, via)


def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)} or {text}


def _bigram_postings(choices: list[str]) -> dict[str, np.ndarray]:
    postings: dict[str, list[int]] = {}
    for i, text in enumerate(choices):
        for b in _bigrams(text):
            postings.setdefault(b, []).append(i)
    return {b: np.array(ids, dtype=np.int32) for b, ids in postings.items()}


def load_account_index(engine) -> AccountIndex:
    """Build the index from the accounts table (one query)."""
    import sqlalchemy as sa

    from storage.models import Account

    with engine.connect() as conn:
        rows = conn.execute(sa.select(Account.id, Account.key, Account.name, Account.aliases)).all()
    return AccountIndex(rows)
