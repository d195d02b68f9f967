"""Helpers for writing export files the way CRMs and Excel write them."""
from __future__ import annotations

from pathlib import Path


def write_csv(path: Path, text: str, *, encoding: str = "utf-8", bom: bool = False) -> Path:
    data = text.encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(data)
    return path


def write_xlsx(path: Path, rows: list[list]) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def import_rates(engine, tmp_path: Path, *lines: str, reporting: str = "USD"):
    """Import `currency,date,rate` lines (rates into `reporting`) as an admin would."""
    from storage.importing import import_file

    path = write_csv(tmp_path / "rates.csv", "currency,date,rate\n" + "".join(
        line + "\n" for line in lines))
    return import_file(engine, "rates", path, default_currency=reporting)
