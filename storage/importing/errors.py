"""What an import reports: its summary, or the rows that stopped it."""
from __future__ import annotations

from dataclasses import dataclass, field

MAX_LISTED_ERRORS = 20


@dataclass(frozen=True)
class RowError:
    line: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        if self.column:
            where += f", column '{self.column}'"
        return f"{where}: {self.reason}"


@dataclass
class ImportSummary:
    kind: str
    file: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    accounts_created: int = 0
    accounts_named: int = 0
    # Rows that are valid but doubtful (a future date, an outlier amount): warned about,
    # refused with --strict.
    doubts: list[RowError] = field(default_factory=list)
    doubts_total: int = 0
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        verb = "would be" if self.dry_run else "were"
        out = [f"{self.file}: {self.rows} {self.kind} rows read."]
        out.append(f"  {self.created} {verb} created, {self.updated} updated, "
                   f"{self.skipped} skipped (already present or unchanged).")
        unnamed = self.accounts_created - self.accounts_named
        if self.accounts_named:
            out.append(f"  {self._new_accounts(self.accounts_named)} with the name in the file.")
        if unnamed:
            out.append(f"  {self._new_accounts(unnamed)} with their key as name (import "
                       "accounts, or add an Account Name column, to name them).")
        if self.dry_run:
            out.append("  Dry run: nothing was written. Run again without --dry-run to import.")
        return out

    def _new_accounts(self, n: int) -> str:
        verb = "would be" if self.dry_run else ("was" if n == 1 else "were")
        return f"{_n(n, 'new account')} {verb} created"


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


class ImportFailed(Exception):
    """The file was rejected; nothing was written."""

    def __init__(self, file: str, errors: list[RowError], total: int | None = None):
        self.file = file
        self.errors = errors[:MAX_LISTED_ERRORS]
        self.total = total if total is not None else len(errors)
        super().__init__(self.report())

    def report(self) -> str:
        head = (f"{self.file}: {self.total} problem{'s' if self.total != 1 else ''} found; "
                "nothing was imported.")
        body = [f"  {e}" for e in self.errors]
        if self.total > len(self.errors):
            body.append(f"  ... and {self.total - len(self.errors)} more.")
        return "\n".join([head, *body, "Fix the file and run the same command again."])


class ErrorCollector:
    """Keeps the first errors in full and counts the rest (bounded memory on huge files)."""

    def __init__(self) -> None:
        self.errors: list[RowError] = []
        self.total = 0

    def add(self, line: int, column: str | None, reason: str) -> None:
        self.total += 1
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append(RowError(line, column, reason))

    def __bool__(self) -> bool:
        return self.total > 0

    def fail(self, file: str) -> ImportFailed:
        return ImportFailed(file, self.errors, self.total)
