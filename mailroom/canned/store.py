"""Canned responses in the table: ``CANNED#<id>``/``META``, listed through ``DIR#CANNED``."""

from __future__ import annotations

from mailroom.canned.model import CannedResponse
from mailroom.table import schema
from mailroom.table.client import Condition, ConditionFailedError, Table, Update
from mailroom.table.expressions import set_fields

DIRECTORY = "DIR#CANNED"


def _key(canned_id: str) -> dict[str, str]:
    return {schema.PK: DIRECTORY, schema.SK: canned_id}


def put_canned(table: Table, canned: CannedResponse) -> None:
    """Create or edit; the usage count is kept."""
    fields = canned.model_dump(mode="json", exclude={"usage_count"})
    table.update(_key(canned.id), set_fields("canned", fields, counter="usage_count"))


def _exists(present: bool) -> Condition:
    """The item is (or is not) a canned response. A use counted after a deletion leaves an item
    with only ``usage_count`` (no ``entity``): that one counts as absent."""
    if present:
        return Condition("#entity = :canned", {"#entity": "entity"}, {":canned": "canned"})
    return Condition("attribute_not_exists(#entity)", {"#entity": "entity"})


def create_canned(table: Table, canned: CannedResponse) -> bool:
    """Create ``canned``; False (nothing written) when its id is taken."""
    fields = canned.model_dump(mode="json", exclude={"usage_count"})
    try:
        table.update(_key(canned.id), set_fields("canned", fields, counter="usage_count"), _exists(False))
    except ConditionFailedError:
        return False
    return True


def update_canned(table: Table, canned: CannedResponse) -> bool:
    """Edit an existing canned response (its usage count is kept); False when there is none."""
    fields = canned.model_dump(mode="json", exclude={"usage_count"})
    try:
        table.update(_key(canned.id), set_fields("canned", fields, counter="usage_count"), _exists(True))
    except ConditionFailedError:
        return False
    return True


def delete_canned(table: Table, canned_id: str) -> bool:
    """Delete one; False when there was none."""
    try:
        table.delete(_key(canned_id), _exists(True))
    except ConditionFailedError:
        return False
    return True


def get_canned(table: Table, canned_id: str) -> CannedResponse | None:
    item = table.get(_key(canned_id))
    return CannedResponse.model_validate(item) if item and item.get("entity") == "canned" else None


def list_canned(table: Table) -> list[CannedResponse]:
    items = table.query_all(key_condition=Condition("#pk = :pk", {"#pk": schema.PK}, {":pk": DIRECTORY}))
    return [CannedResponse.model_validate(item) for item in items if item.get("entity") == "canned"]


def count_use(table: Table, canned_id: str) -> Update:
    """The counter update for one use (part of the transaction that records the send)."""
    return Update(_key(canned_id), Condition("ADD #uses :one", {"#uses": "usage_count"}, {":one": 1}))
