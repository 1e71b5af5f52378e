"""A data directory from an older version (fewer indexes) is brought up to date on start: the
missing indexes are added and the conversations written before get their index attributes."""

from __future__ import annotations

import uuid
from typing import Any

from mailroom.domain.conversation import Conversation, Status
from mailroom.table import keys, schema
from mailroom.table.admin import ensure_indexes
from mailroom.table.client import Condition, Table
from mailroom.table.items import conversation_item
from mailroom.table.migrate import rederive_index_attributes

NEW = {schema.BY_QUEUE, schema.BY_SLA_DUE}


def older_table(client: Any) -> str:
    name = f"t-older-{uuid.uuid4().hex[:8]}"
    kwargs = schema.create_table_kwargs(name)
    old_indexes = [index for index in schema.INDEXES if index not in NEW]
    kwargs["GlobalSecondaryIndexes"] = [schema.index_spec(index) for index in old_indexes]
    kwargs["AttributeDefinitions"] = [
        {"AttributeName": attribute, "AttributeType": "S"}
        for attribute in [schema.PK, schema.SK, *(a for index in old_indexes for a in (index.pk, index.sk))]
    ]
    client.create_table(**kwargs)
    return name


def conversation(n: int, **fields: Any) -> Conversation:
    stamp = f"2026-11-20T09:{n:02d}:00.000000Z"
    return Conversation.model_validate(
        {
            "id": f"cmig{n:08d}",
            "mailbox": "support@acme.test",
            "contact_email": f"c{n}@example.com",
            "created_at": stamp,
            "last_message_at": stamp,
            "last_activity_at": stamp,
            "waiting_since": stamp,
            "first_response_due": "2026-11-20T17:00:00.000000Z",
            **fields,
        }
    )


def test_missing_indexes_are_added_and_filled(ddb_client: Any) -> None:
    name = older_table(ddb_client)
    try:
        table = Table(name, ddb_client, report_capacity=False)
        queued, assigned, closed = (
            conversation(1),
            conversation(2, assignee="ann@acme.test"),
            conversation(3, status=Status.CLOSED),
        )
        new_attributes = {a for index in NEW for a in (index.pk, index.sk)}
        for conv in (queued, assigned, closed):  # as the older version wrote them
            item = {k: v for k, v in conversation_item(conv).items() if k not in new_attributes}
            table.put(item)

        assert sorted(ensure_indexes(ddb_client, name, poll_interval=0.2)) == sorted(i.name for i in NEW)
        assert ensure_indexes(ddb_client, name) == []  # idempotent

        assert rederive_index_attributes(table) == 2  # the closed one has no key in either index
        assert rederive_index_attributes(table) == 0  # nothing left to rewrite

        in_queue = table.query_all(
            key_condition=Condition(
                "#pk = :pk", {"#pk": schema.BY_QUEUE.pk}, {":pk": keys.queue_pk(queued.mailbox)}
            ),
            index=schema.BY_QUEUE.name,
        )
        assert [item["id"] for item in in_queue] == [queued.id]
        due = table.query_all(
            key_condition=Condition(
                "#pk = :pk", {"#pk": schema.BY_SLA_DUE.pk}, {":pk": keys.sla_pk(queued.mailbox)}
            ),
            index=schema.BY_SLA_DUE.name,
        )
        assert {item["id"] for item in due} == {queued.id, assigned.id}  # open and waiting, whoever holds it
    finally:
        ddb_client.delete_table(TableName=name)
