"""Importers for CRM exports (CSV/XLSX): all-or-nothing, idempotent, streaming."""
from storage.importing.errors import ImportFailed, ImportSummary, RowError
from storage.importing.run import KINDS, import_file

__all__ = ["KINDS", "ImportFailed", "ImportSummary", "RowError", "import_file"]
