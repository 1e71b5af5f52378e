"""One-off data migrations: rewrite what is derived when the derivation changes.

Index attributes of conversation items are derived from the conversation
(:func:`~mailroom.table.items.conversation_index_attributes`). When an index is added, the items
written before carry none of its attributes; :func:`rederive_index_attributes` rewrites them, each
with a conditional update at the version it read (a conversation that changed meanwhile was written
with fresh attributes anyway, and is skipped). This reads the whole table once: it is a maintenance
job, run when indexes are added, never a request path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mailroom.table import schema
from mailroom.table.client import Condition, ConditionFailedError, Table
from mailroom.table.expressions import set_fields
from mailroom.table.items import conversation_index_attributes, to_conversation


def conversation_items(table: Table) -> Iterator[dict[str, Any]]:
    yield from table.scan_all(filter_=Condition("#e = :e", {"#e": "entity"}, {":e": "conversation"}))


def rederive_index_attributes(table: Table) -> int:
    """Rewrite every conversation's index attributes; returns how many items changed."""
    changed = 0
    index_attributes = {name for index in schema.INDEXES for name in (index.pk, index.sk)}
    for item in conversation_items(table):
        conversation = to_conversation(item)
        wanted = conversation_index_attributes(conversation)
        current = {name: item[name] for name in index_attributes if name in item}
        if current == wanted:
            continue
        fields = {name: wanted.get(name) for name in index_attributes}  # None: REMOVE
        unchanged = Condition(
            "#version = :version", {"#version": "version"}, {":version": conversation.version}
        )
        try:
            table.update(
                {schema.PK: item[schema.PK], schema.SK: item[schema.SK]},
                set_fields("conversation", fields),
                condition=unchanged,
            )
        except ConditionFailedError:
            continue
        changed += 1
    return changed
