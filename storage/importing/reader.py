"""Streaming readers for CSV and XLSX exports, yielding (line number, cells)."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Callable

from storage.importing.errors import ImportFailed, RowError
from storage.importing.parse import detect_encoding, normalise_header

csv.field_size_limit(10 * 1024 * 1024)
SNIFF_BYTES = 1 << 16
BIG_CSV_BYTES = 4_000_000  # ~50k rows of a typical orders export
BIG_XLSX_ROWS = 50_000


@dataclass
class Table:
    """An open export: normalised header names and a one-shot iterator of rows."""

    name: str
    header: list[str]
    rows: Iterator[tuple[int, list]]
    total: int  # bytes for CSV, rows for XLSX: the unit of `position`
    position: Callable[[], int]
    close: Callable[[], None]
    encoding: str | None = None
    path: Path | None = None  # CSV only: lets a second process read the same file

    @property
    def big(self) -> bool:
        """Over ~50k rows: worth a progress bar."""
        return self.total > (BIG_CSV_BYTES if self.encoding else BIG_XLSX_ROWS)


def open_table(path: Path, *, encoding: str | None = None) -> Table:
    """Open a .csv or .xlsx file; raises ImportFailed with a clear reason if it can't be read."""
    name = path.name
    if not path.exists():
        raise ImportFailed(name, [RowError(0, None, f"no such file: {path}")])
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return _open_csv(path, encoding)
    if suffix in (".xlsx", ".xlsm"):
        return _open_xlsx(path)
    raise ImportFailed(name, [RowError(0, None, f"unsupported file type '{path.suffix}': "
                                                "export the sheet as .csv or .xlsx")])


def _open_csv(path: Path, encoding: str | None) -> Table:
    raw = path.open("rb")
    head = raw.read(SNIFF_BYTES)
    raw.seek(0)
    enc = encoding or detect_encoding(head)
    try:
        text = io.TextIOWrapper(raw, encoding=enc, newline="")
    except LookupError:
        raw.close()
        raise ImportFailed(path.name, [RowError(0, None, f"unknown encoding '{encoding}': "
                                                         "try utf-8, gb18030 or gbk")]) from None
    first_line = head.split(b"\n", 1)[0].decode(enc, errors="ignore")
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.reader(text, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raw.close()
        raise ImportFailed(path.name, [RowError(0, None, "the file is empty: it needs a header "
                                                         "row naming the columns")]) from None
    except UnicodeDecodeError:
        raw.close()
        raise _decode_failure(path.name, 1, enc) from None

    def rows() -> Iterator[tuple[int, list]]:
        try:
            for cells in reader:
                if cells and any(cells):
                    yield reader.line_num, cells
        except UnicodeDecodeError:
            raise _decode_failure(path.name, reader.line_num + 1, enc) from None
        except csv.Error as exc:
            raise ImportFailed(path.name, [RowError(reader.line_num, None,
                                                    f"not valid CSV ({exc})")]) from None

    return Table(
        name=path.name,
        header=[normalise_header(h) for h in header],
        rows=rows(),
        total=path.stat().st_size,
        position=raw.tell,
        close=text.close,  # owning the wrapper keeps it (and so `raw`) open until closed
        encoding=enc,
        path=path,
    )


def _decode_failure(name: str, line: int, enc: str) -> ImportFailed:
    other = "utf-8" if enc.startswith("gb") else "gb18030"
    return ImportFailed(name, [RowError(line, None, f"the text is not valid {enc}; "
                                                    f"re-run with --encoding {other} (Chinese Excel "
                                                    "saves CSV as GBK/GB18030)")])


def _cell(value: object) -> object:
    """XLSX cells as the CSV path sees them: text, except dates, which stay dates."""
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _open_xlsx(path: Path) -> Table:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise ImportFailed(path.name, [RowError(0, None, f"cannot read the workbook ({exc}); "
                                                         "save it again from Excel as .xlsx")]) from None
    ws = wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    header = next(it, None)
    if header is None:
        wb.close()
        raise ImportFailed(path.name, [RowError(0, None, "the first sheet is empty: it needs a "
                                                         "header row naming the columns")])
    state = {"line": 1}

    def rows() -> Iterator[tuple[int, list]]:
        for values in it:
            state["line"] += 1
            if any(v is not None and str(v).strip() != "" for v in values):
                yield state["line"], [_cell(v) for v in values]

    return Table(
        name=path.name,
        header=[normalise_header(h) for h in header],
        rows=rows(),
        total=ws.max_row or 0,
        position=lambda: state["line"],
        close=wb.close,
    )
