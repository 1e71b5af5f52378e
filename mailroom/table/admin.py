"""Table administration: create the Mailroom table from the schema when it is missing.

Used by the sandbox and the tests against DynamoDB Local, and by the CLI against AWS. On AWS the CDK
stack normally owns the table; this is for tables that no stack manages (development, one-off).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from botocore.exceptions import ClientError

from mailroom.table import schema

__all__ = ["ensure_indexes", "ensure_table"]

logger = logging.getLogger("mailroom.table.admin")

# Error codes that mean "this endpoint does not implement TTL" (older DynamoDB Local releases).
_TTL_UNSUPPORTED = frozenset({"UnknownOperationException", "UnrecognizedClientException", "NotImplemented"})


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def ensure_table(client: Any, table_name: str, *, timeout: float = 120.0, poll_interval: float = 1.0) -> bool:
    """Create ``table_name`` from :func:`schema.create_table_kwargs` unless it exists; wait for ACTIVE.

    Returns True if this call created the table, False if it existed (or another process created it
    concurrently). Also turns on TTL on :data:`schema.TTL_ATTRIBUTE` where the endpoint supports it.
    ``client`` is a boto3 DynamoDB client.
    """
    created = False
    try:
        client.describe_table(TableName=table_name)
    except ClientError as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            raise
        try:
            client.create_table(**schema.create_table_kwargs(table_name))
            created = True
            logger.info("created table", extra={"table_name": table_name})
        except ClientError as create_exc:
            # Someone else created it between our describe and create: that is fine.
            if _error_code(create_exc) != "ResourceInUseException":
                raise
    _wait_active(client, table_name, timeout=timeout, poll_interval=poll_interval)
    _ensure_ttl(client, table_name)
    return created


def ensure_indexes(
    client: Any, table_name: str, *, timeout: float = 300.0, poll_interval: float = 1.0
) -> list[str]:
    """Add the schema's indexes that an older table lacks (one ``UpdateTable`` each: DynamoDB
    builds one index per update), waiting for each to be ACTIVE. Returns the names added; the
    items written before need their index attributes rewritten (see ``mailroom.table.migrate``).
    Indexes the schema no longer has are left alone (dropping data is a decision, not a side effect).
    """
    table = client.describe_table(TableName=table_name)["Table"]
    present = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
    added = []
    for index in schema.INDEXES:
        if index.name in present:
            continue
        client.update_table(
            TableName=table_name,
            AttributeDefinitions=[
                {"AttributeName": index.pk, "AttributeType": "S"},
                {"AttributeName": index.sk, "AttributeType": "S"},
            ],
            GlobalSecondaryIndexUpdates=[{"Create": schema.index_spec(index)}],
        )
        logger.info("adding index", extra={"table_name": table_name, "index": index.name})
        _wait_active(client, table_name, timeout=timeout, poll_interval=poll_interval)
        added.append(index.name)
    return added


def _wait_active(client: Any, table_name: str, *, timeout: float, poll_interval: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        table = client.describe_table(TableName=table_name)["Table"]
        statuses = [table["TableStatus"]] + [
            index.get("IndexStatus", "ACTIVE") for index in table.get("GlobalSecondaryIndexes", [])
        ]
        if all(status == "ACTIVE" for status in statuses):
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"table {table_name!r} not ACTIVE after {timeout:.0f} s (statuses: {statuses})"
            )
        time.sleep(poll_interval)


def _ensure_ttl(client: Any, table_name: str) -> None:
    try:
        description = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
        status = description.get("TimeToLiveStatus")
        attribute = description.get("AttributeName")
        if status in ("ENABLED", "ENABLING"):
            if attribute != schema.TTL_ATTRIBUTE:
                logger.warning(
                    "table has TTL on another attribute; leaving it",
                    extra={"table_name": table_name, "ttl_attribute": attribute},
                )
            return
        client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": schema.TTL_ATTRIBUTE},
        )
        logger.info("enabled TTL", extra={"table_name": table_name, "ttl_attribute": schema.TTL_ATTRIBUTE})
    except ClientError as exc:
        if _error_code(exc) not in _TTL_UNSUPPORTED:
            raise
        logger.info("endpoint does not support TTL; skipped", extra={"table_name": table_name})
