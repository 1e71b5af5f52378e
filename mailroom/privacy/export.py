"""Export everything about a contact: a zip with ``contact.json`` and their raw mail.

``contact.json``: ``{"format": "mailroom.contact-export/1", "exported_at", "email", "contact",
"conversations": [{"conversation", "messages", "notes", "events", "replies"}], "files": [...]}``,
every item as stored (index attributes left out). A message stored with its body in the raw store
carries it as ``full_body`` (``{"text", "html"}``). Files: ``raw/<ses id>.eml`` (each message's
raw MIME as received) and ``attachments/<message key>/<n>`` (the extracted attachments, named in
the message's ``attachments``). Anything missing from the raw store (purged by retention) is listed
under ``missing`` instead.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from mailroom import clock
from mailroom.privacy.erase import contact_conversation_ids
from mailroom.storage.base import BlobNotFoundError, BlobStore
from mailroom.table import keys, schema
from mailroom.table.client import Table, partition

Item = dict[str, Any]

FORMAT = "mailroom.contact-export/1"
_INDEX_ATTRIBUTES = frozenset(name for name in schema.key_attributes() if name not in {schema.PK, schema.SK})
_GROUPS = {"message": "messages", "note": "notes", "event": "events", "reply": "replies"}


class ExportTooLargeError(Exception):
    """The export exceeds what one HTTP answer can carry: use ``mailroom contacts export``."""


@dataclass
class ContactExport:
    document: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)

    def to_zip(self) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("contact.json", json.dumps(self.document, indent=2, default=_json_default))
            for name, data in sorted(self.files.items()):
                archive.writestr(name, data)
        return buffer.getvalue()


def collect_contact(
    table: Table, store: BlobStore, email: str, *, max_bytes: int | None = None, now: datetime | None = None
) -> ContactExport | None:
    """Everything about ``email``, or None when the table knows nothing about them. Raises
    :class:`ExportTooLargeError` when the files exceed ``max_bytes``."""
    address = email.strip().lower()
    contact = table.get({schema.PK: keys.contact_pk(address), schema.SK: keys.META}, consistent=True)
    conversation_ids = contact_conversation_ids(table, address)
    if contact is None and not conversation_ids:
        return None
    export = ContactExport(
        document={
            "format": FORMAT,
            "exported_at": clock.iso((now or clock.now()).astimezone(UTC)),
            "email": address,
            "contact": _clean(contact) if contact else None,
            "conversations": [],
            "files": [],
            "missing": [],
        }
    )
    size = 0
    for conversation_id in conversation_ids:
        items = table.query_all(
            key_condition=partition(keys.conversation_pk(conversation_id)), consistent=True
        )
        entry: dict[str, Any] = {"conversation": None, **{group: [] for group in _GROUPS.values()}}
        for item in items:
            entity = str(item.get("entity", ""))
            if entity == "conversation":
                entry["conversation"] = _clean(item)
            elif entity in _GROUPS:
                entry[_GROUPS[entity]].append(_clean(item))
        for message in entry["messages"]:
            size += _attach_files(store, message, export)
            if max_bytes is not None and size > max_bytes:
                raise ExportTooLargeError(f"the export exceeds {max_bytes} bytes")
        if entry["conversation"] is not None:
            export.document["conversations"].append(entry)
    export.document["files"] = sorted(export.files)
    return export


def export_contact_zip(
    table: Table, store: BlobStore, email: str, *, max_bytes: int | None = None
) -> bytes | None:
    export = collect_contact(table, store, email, max_bytes=max_bytes)
    return export.to_zip() if export is not None else None


def _attach_files(store: BlobStore, message: Item, export: ContactExport) -> int:
    """Add a message's raw mail, large body and attachments; returns the bytes added."""
    added = 0
    wanted: list[tuple[str, str]] = []
    raw_key = message.get("raw_key")
    if raw_key:
        wanted.append((str(raw_key), f"raw/{str(raw_key).rsplit('/', 1)[-1]}.eml"))
    for attachment in message.get("attachments") or []:
        if attachment.get("key"):
            wanted.append((str(attachment["key"]), str(attachment["key"])))
    body_ref = message.get("body_ref")
    if body_ref:
        try:
            message["full_body"] = json.loads(store.get(str(body_ref)))
        except BlobNotFoundError:
            export.document["missing"].append(str(body_ref))
    for key, name in wanted:
        if name in export.files:
            continue
        try:
            data = store.get(key)
        except BlobNotFoundError:
            export.document["missing"].append(key)
            continue
        export.files[name] = data
        added += len(data)
    return added


def _clean(item: Item) -> Item:
    return {name: value for name, value in item.items() if name not in _INDEX_ATTRIBUTES}


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"not serializable: {type(value).__name__}")
