"""The product-wide audit log: immutable entries, one day partition each.

``AUDIT#<yyyy-mm-dd>`` / ``<iso timestamp>#<entry id>`` (entity ``audit``): ``actor``, ``action``,
``target``, ``details`` (a small map), ``at``. The day of the entry's timestamp (UTC) picks its
partition, so "a period" is one query per day, newest first by a reverse query; "by user" and
"by type" are ``FilterExpression``s on those queries (no index: the table's GSIs are sparse on
conversations and the audit log is small next to them). Periods are bounded to
:data:`MAX_PERIOD_DAYS` days and read a bounded number of pages per request, with a cursor to go on.

Entries are written with ``attribute_not_exists``: a retry with the same id is a no-op, never a
second entry, and nothing in the product updates or deletes one. Entries never hold a customer's
address or message content: a contact is named by :func:`contact_ref` (a hash).

Actions (``type`` in the admin view; a filter matches by prefix, so ``permission`` finds both):
``signin``, ``permission.grant``, ``permission.revoke``, ``rules.save``, ``assignment.assigned``,
``assignment.unassigned``, ``contact.exported``, ``contact.erased``, ``retention.purged``, and the
admin changes of the mailbox, people and rules editors (``mailbox.*``, ``user.*``, ...).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from typing import Any

from mailroom import clock
from mailroom.ids import random_id
from mailroom.table import schema
from mailroom.table.client import Condition, ConditionFailedError, Put, Table

Item = dict[str, Any]

PREFIX = "AUDIT#"
ENTITY = "audit"
MAX_PERIOD_DAYS = 92
DEFAULT_PERIOD_DAYS = 7
PAGE_SIZE = 50
# DynamoDB reads per page request: a filtered page may come back short, with a cursor to go on.
MAX_QUERIES_PER_PAGE = 60
MAX_EXPORT_ROWS = 20_000

SIGNIN = "signin"
PERMISSION_GRANT = "permission.grant"
PERMISSION_REVOKE = "permission.revoke"
RULES_SAVE = "rules.save"
ASSIGNED = "assignment.assigned"
UNASSIGNED = "assignment.unassigned"
CONTACT_EXPORTED = "contact.exported"
CONTACT_ERASED = "contact.erased"
RETENTION_PURGED = "retention.purged"


class InvalidAuditQueryError(ValueError):
    """A period that is reversed or too long, or a cursor this service did not give out."""


def day_pk(day: str) -> str:
    return f"{PREFIX}{day}"


def entry_sk(at: str, entry_id: str) -> str:
    return f"{at}#{entry_id}"


def contact_ref(email: str) -> str:
    """How the audit log names a contact: the SHA-256 of the normalized address, never the address.
    Unkeyed on purpose, so "was this address erased?" can be answered by hashing it again."""
    return "sha256:" + hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def audit_item(
    *,
    actor: str,
    action: str,
    target: str,
    details: Mapping[str, Any],
    at: str | None = None,
    entry_id: str | None = None,
) -> Item:
    """The entry as an item: for callers that write it inside their own transaction (atomic with
    the change it records). ``entry_id`` should be derived from the change when it can be retried."""
    moment = at or clock.iso(clock.now())
    ident = entry_id or random_id("a")
    return {
        schema.PK: day_pk(moment[:10]),
        schema.SK: entry_sk(moment, ident),
        "entity": ENTITY,
        "id": ident,
        "at": moment,
        "actor": actor.strip().lower(),
        "action": action,
        "target": target,
        "details": {name: value for name, value in details.items() if value is not None},
    }


def audit_put(**fields: Any) -> Put:
    """The entry as a conditional transaction action (see :func:`audit_item`)."""
    return Put(audit_item(**fields), Condition("attribute_not_exists(#pk)", {"#pk": schema.PK}))


def record(table: Table, *, actor: str, action: str, target: str, details: dict[str, Any]) -> None:
    """Append one entry to the audit log."""
    item = audit_item(actor=actor, action=action, target=target, details=details)
    # Already written: ids are random, so only a retried request gets here.
    with contextlib.suppress(ConditionFailedError):
        table.put(item, Condition("attribute_not_exists(#pk)", {"#pk": schema.PK}))


@dataclass(frozen=True)
class AuditEntry:
    id: str
    at: str
    actor: str
    action: str
    target: str
    details: dict[str, Any]

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> AuditEntry:
        details = item.get("details")
        return cls(
            id=str(item.get("id", "")),
            at=str(item.get("at", "")),
            actor=str(item.get("actor", "")),
            action=str(item.get("action", "")),
            target=str(item.get("target", "")),
            details=_plain(details) if isinstance(details, Mapping) else {},
        )


@dataclass(frozen=True)
class AuditQuery:
    start: date
    end: date  # inclusive
    actor: str | None = None
    action: str | None = None

    @classmethod
    def build(
        cls,
        *,
        start: date | None,
        end: date | None,
        actor: str | None = None,
        action: str | None = None,
        today: date | None = None,
    ) -> AuditQuery:
        """Defaults: the last :data:`DEFAULT_PERIOD_DAYS` days up to today (UTC)."""
        last = end or today or clock.now().astimezone(UTC).date()
        first = start or last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
        if first > last:
            raise InvalidAuditQueryError("the period starts after it ends")
        if (last - first).days + 1 > MAX_PERIOD_DAYS:
            raise InvalidAuditQueryError(f"a period is at most {MAX_PERIOD_DAYS} days")
        return cls(
            start=first,
            end=last,
            actor=(actor or "").strip().lower() or None,
            action=(action or "").strip() or None,
        )

    def days_newest_first(self, from_day: date | None = None) -> Iterator[date]:
        day = from_day or self.end
        while day >= self.start:
            yield day
            day -= timedelta(days=1)

    def filter(self) -> Condition | None:
        parts: list[str] = []
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        if self.actor:
            parts.append("#actor = :actor")
            names["#actor"], values[":actor"] = "actor", self.actor
        if self.action:
            parts.append("begins_with(#action, :action)")
            names["#action"], values[":action"] = "action", self.action
        return Condition(" AND ".join(parts), names, values) if parts else None


@dataclass
class AuditPage:
    entries: list[AuditEntry]
    next_cursor: str | None


def encode_cursor(day: date, last_sk: str | None) -> str:
    raw = json.dumps({"d": day.isoformat(), "k": last_sk}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, query: AuditQuery) -> tuple[date, str | None]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        day = date.fromisoformat(str(data["d"]))
        last = data.get("k")
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise InvalidAuditQueryError("not a cursor of this listing") from exc
    if not query.start <= day <= query.end or (last is not None and not isinstance(last, str)):
        raise InvalidAuditQueryError("the cursor is outside the period")
    return day, last


def list_entries(
    table: Table, query: AuditQuery, *, cursor: str | None = None, limit: int = PAGE_SIZE
) -> AuditPage:
    """One page of entries, newest first. The cursor says where the next page starts (a day and
    the last sort key read in it); a filtered page may be short, and a page always ends at a
    cursor when the period has more to read."""
    limit = max(1, min(limit, 500))
    day, last_sk = decode_cursor(cursor, query) if cursor else (query.end, None)
    entries: list[AuditEntry] = []
    queries = 0
    for current in query.days_newest_first(day):
        start_key = _start_key(current, last_sk) if current == day else None
        while True:
            if queries >= MAX_QUERIES_PER_PAGE:
                return AuditPage(entries, encode_cursor(current, _sk(start_key)))
            page = table.query(
                key_condition=Condition(
                    "#pk = :pk", {"#pk": schema.PK}, {":pk": day_pk(current.isoformat())}
                ),
                forward=False,
                limit=limit - len(entries),
                start_key=start_key,
                filter_=query.filter(),
            )
            queries += 1
            entries += [AuditEntry.from_item(item) for item in page.items]
            start_key = page.last_key
            if len(entries) >= limit:
                if start_key is not None:
                    return AuditPage(entries, encode_cursor(current, _sk(start_key)))
                following = current - timedelta(days=1)
                more = following >= query.start
                return AuditPage(entries, encode_cursor(following, None) if more else None)
            if start_key is None:
                break
    return AuditPage(entries, None)


def iter_entries(table: Table, query: AuditQuery, *, max_rows: int = MAX_EXPORT_ROWS) -> Iterator[AuditEntry]:
    """Every entry of the period (newest first), for the CSV export; bounded to ``max_rows``."""
    cursor: str | None = None
    produced = 0
    while True:
        page = list_entries(table, query, cursor=cursor, limit=500)
        for entry in page.entries:
            if produced >= max_rows:
                return
            produced += 1
            yield entry
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _start_key(day: date, last_sk: str | None) -> dict[str, str] | None:
    return {schema.PK: day_pk(day.isoformat()), schema.SK: last_sk} if last_sk else None


def _sk(key: Mapping[str, Any] | None) -> str | None:
    return str(key[schema.SK]) if key else None


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal: ints and floats for JSON and CSV."""
    from decimal import Decimal

    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
