"""The audit log as CSV: RFC 4180 (CRLF, quoted as needed), UTF-8 with a BOM (spreadsheets then
read it as UTF-8), and no formula injection: a cell starting with ``= + - @`` (or a tab or carriage
return, which some spreadsheets strip first) gets a leading ``'`` so it is shown as text."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable

from mailroom.audit.log import AuditEntry

BOM = "\ufeff"
HEADER = ("at", "actor", "action", "target", "details", "id")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(cell: str) -> str:
    return f"'{cell}" if cell.startswith(_FORMULA_STARTS) else cell


def audit_csv(entries: Iterable[AuditEntry]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(HEADER)
    for entry in entries:
        details = json.dumps(entry.details, ensure_ascii=False, sort_keys=True, default=str)
        row = (entry.at, entry.actor, entry.action, entry.target, details, entry.id)
        writer.writerow([neutralize(cell) for cell in row])
    return BOM + buffer.getvalue()
