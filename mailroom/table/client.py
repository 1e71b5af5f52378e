"""The DynamoDB adapter: the only module that talks to the table through boto3.

It speaks plain Python values (``dict[str, Any]``) to callers, converts to DynamoDB's typed format
itself, and records requests and capacity units into the current :class:`~mailroom.usage.UsageMeter`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

from mailroom.settings import Settings, get_settings
from mailroom.table import capacity, schema
from mailroom.usage import current_meter

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

Item = dict[str, Any]
Key = dict[str, Any]

# A conversation item's typical size (with its index attributes): what a counted item is assumed
# to weigh when DynamoDB Local does not report the units of a COUNT query.
_COUNTED_ITEM_BYTES = 1200


class ConditionFailedError(Exception):
    """A conditional write found the item in another state. ``item`` is that state, when known."""

    def __init__(self, message: str, item: Item | None = None) -> None:
        super().__init__(message)
        self.item = item


class TransactionCancelledError(Exception):
    """A transaction was cancelled. ``reasons`` holds one code per action (``None`` where it was fine)."""

    def __init__(self, reasons: list[str | None], items: list[Item | None]) -> None:
        super().__init__(f"transaction cancelled: {reasons}")
        self.reasons = reasons
        self.items = items

    def failed_condition_at(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index] == "ConditionalCheckFailed"

    @property
    def is_conflict(self) -> bool:
        return any(reason == "TransactionConflict" for reason in self.reasons)


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in item.items() if value is not None}


def deserialize(item: Mapping[str, Any]) -> Item:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


@dataclass
class Condition:
    """A condition/update expression with its placeholders, in plain values."""

    expression: str
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


def partition(pk: str, sk_prefix: str | None = None) -> Condition:
    """A key condition on one partition of the table, optionally on a sort-key prefix."""
    if sk_prefix is None:
        return Condition("#pk = :pk", {"#pk": schema.PK}, {":pk": pk})
    return Condition(
        "#pk = :pk AND begins_with(#sk, :prefix)",
        {"#pk": schema.PK, "#sk": schema.SK},
        {":pk": pk, ":prefix": sk_prefix},
    )


@dataclass
class Put:
    item: Item
    condition: Condition | None = None


@dataclass
class Update:
    key: Key
    update: Condition
    condition: Condition | None = None


@dataclass
class Delete:
    key: Key
    condition: Condition | None = None


@dataclass
class ConditionCheck:
    key: Key
    condition: Condition


TransactAction = Put | Update | Delete | ConditionCheck


@dataclass
class Page:
    items: list[Item]
    last_key: Key | None


def _expression_args(*conditions: Condition | None, key: str = "ConditionExpression") -> dict[str, Any]:
    args: dict[str, Any] = {}
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    for condition in conditions:
        if condition is None:
            continue
        names.update(condition.names)
        values.update(condition.values)
    if names:
        args["ExpressionAttributeNames"] = names
    if values:
        args["ExpressionAttributeValues"] = serialize(values)
    return args


def _with_update(update: Condition, condition: Condition | None) -> dict[str, Any]:
    args = _expression_args(update, condition)
    args["UpdateExpression"] = update.expression
    if condition is not None:
        args["ConditionExpression"] = condition.expression
    return args


def _with_condition(condition: Condition | None) -> dict[str, Any]:
    if condition is None:
        return {}
    args = _expression_args(condition)
    args["ConditionExpression"] = condition.expression
    return args


class Table:
    def __init__(self, name: str, client: Any, *, report_capacity: bool = True) -> None:
        self.name = name
        self.client = client
        # DynamoDB Local's consumed-capacity figures are not trustworthy: compute them from sizes.
        self.report_capacity = report_capacity

    # -- metering -------------------------------------------------------------------------------

    def _reported_units(self, response: Mapping[str, Any]) -> tuple[float, float] | None:
        if not self.report_capacity:
            return None
        consumed = response.get("ConsumedCapacity")
        if not consumed:
            return None
        entries = consumed if isinstance(consumed, list) else [consumed]
        reads = sum(float(e.get("ReadCapacityUnits", 0) or 0) for e in entries)
        writes = sum(float(e.get("WriteCapacityUnits", 0) or 0) for e in entries)
        if reads == 0 and writes == 0:
            total = sum(float(e.get("CapacityUnits", 0) or 0) for e in entries)
            return (0.0, total)
        return (reads, writes)

    def _meter(
        self, operation: str, response: Mapping[str, Any], *, reads: float = 0.0, writes: float = 0.0
    ) -> None:
        meter = current_meter()
        if meter is None:
            return
        reported = self._reported_units(response)
        if reported is not None:
            reads, writes = reported
        meter.record_dynamodb(operation, read_units=reads, write_units=writes)

    # -- single-item operations -----------------------------------------------------------------

    def get(self, key: Key, *, consistent: bool = False) -> Item | None:
        response = self.client.get_item(
            TableName=self.name,
            Key=serialize(key),
            ConsistentRead=consistent,
            ReturnConsumedCapacity="TOTAL",
        )
        raw = response.get("Item")
        size = capacity.item_size(raw) if raw else 0
        self._meter("GetItem", response, reads=capacity.read_units(size, consistent=consistent))
        return deserialize(raw) if raw else None

    def put(self, item: Item, condition: Condition | None = None) -> None:
        raw = serialize(item)
        try:
            response = self.client.put_item(
                TableName=self.name,
                Item=raw,
                ReturnConsumedCapacity="TOTAL",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **_with_condition(condition),
            )
        except ClientError as exc:
            self._meter("PutItem", {}, writes=capacity.write_units(capacity.item_size(raw)))
            raise _condition_error(exc) from exc
        self._meter("PutItem", response, writes=capacity.write_units(capacity.item_size(raw)))

    def update(self, key: Key, update: Condition, condition: Condition | None = None) -> Item:
        """Apply an update expression; returns the item as it is afterwards."""
        try:
            response = self.client.update_item(
                TableName=self.name,
                Key=serialize(key),
                ReturnValues="ALL_NEW",
                ReturnConsumedCapacity="TOTAL",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **_with_update(update, condition),
            )
        except ClientError as exc:
            self._meter("UpdateItem", {}, writes=1)
            raise _condition_error(exc) from exc
        attributes = response.get("Attributes", {})
        self._meter("UpdateItem", response, writes=capacity.write_units(capacity.item_size(attributes)))
        return deserialize(attributes)

    def delete(self, key: Key, condition: Condition | None = None) -> None:
        try:
            response = self.client.delete_item(
                TableName=self.name,
                Key=serialize(key),
                ReturnConsumedCapacity="TOTAL",
                ReturnValues="ALL_OLD",
                **_with_condition(condition),
            )
        except ClientError as exc:
            raise _condition_error(exc) from exc
        old = response.get("Attributes", {})
        self._meter("DeleteItem", response, writes=capacity.write_units(capacity.item_size(old)))

    def batch_get(self, keys_: Sequence[Key], *, consistent: bool = False) -> list[Item]:
        """Up to 100 items by key in one request (unprocessed keys are retried, bounded)."""
        if not keys_:
            return []
        found: list[Item] = []
        pending: dict[str, Any] = {
            self.name: {"Keys": [serialize(k) for k in keys_[:100]], "ConsistentRead": consistent}
        }
        for attempt in range(6):
            response = self.client.batch_get_item(RequestItems=pending, ReturnConsumedCapacity="TOTAL")
            raw_items = response.get("Responses", {}).get(self.name, [])
            size = sum(capacity.item_size(i) for i in raw_items)
            self._meter("BatchGetItem", response, reads=capacity.read_units(size, consistent=consistent))
            found += [deserialize(i) for i in raw_items]
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
            retry_on_conflict(attempt)
        return found

    def batch_delete(self, keys_: Sequence[Key]) -> int:
        """Delete items by key, 25 per ``BatchWriteItem`` (unprocessed ones retried, bounded).
        Unconditional and idempotent: deleting a missing item is not an error. Returns the number
        of keys sent."""
        unique = list({(str(k[schema.PK]), str(k[schema.SK])): k for k in keys_}.values())
        for start in range(0, len(unique), 25):
            pending: dict[str, Any] = {
                self.name: [{"DeleteRequest": {"Key": serialize(k)}} for k in unique[start : start + 25]]
            }
            for attempt in range(8):
                response = self.client.batch_write_item(RequestItems=pending, ReturnConsumedCapacity="TOTAL")
                sent = len(pending.get(self.name, []))
                self._meter("BatchWriteItem", response, writes=float(sent))
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
                retry_on_conflict(attempt)
            else:
                raise RuntimeError("batch delete: items still unprocessed after retries")
        return len(unique)

    # -- queries ----------------------------------------------------------------------------------

    def query(
        self,
        *,
        key_condition: Condition,
        index: str | None = None,
        forward: bool = True,
        limit: int | None = None,
        start_key: Key | None = None,
        filter_: Condition | None = None,
        consistent: bool = False,
    ) -> Page:
        args: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": key_condition.expression,
            "ScanIndexForward": forward,
            "ReturnConsumedCapacity": "TOTAL",
            **_expression_args(key_condition, filter_),
        }
        if filter_ is not None:
            args["FilterExpression"] = filter_.expression
        if index:
            args["IndexName"] = index
        if consistent and not index:
            args["ConsistentRead"] = True
        if limit:
            args["Limit"] = limit
        if start_key:
            args["ExclusiveStartKey"] = serialize(start_key)
        response = self.client.query(**args)
        raw_items = response.get("Items", [])
        size = sum(capacity.item_size(i) for i in raw_items)
        self._meter("Query", response, reads=capacity.read_units(size, consistent=consistent))
        last = response.get("LastEvaluatedKey")
        return Page([deserialize(i) for i in raw_items], deserialize(last) if last else None)

    def count(
        self,
        *,
        key_condition: Condition,
        index: str | None = None,
        filter_: Condition | None = None,
        max_pages: int = 20,
    ) -> int:
        """How many items a query matches (``Select=COUNT``: no items travel back, but DynamoDB
        still charges the items it reads, 1 MB per page). Bounded to ``max_pages`` pages."""
        args: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": key_condition.expression,
            "Select": "COUNT",
            "ReturnConsumedCapacity": "TOTAL",
            **_expression_args(key_condition, filter_),
        }
        if filter_ is not None:
            args["FilterExpression"] = filter_.expression
        if index:
            args["IndexName"] = index
        total = 0
        for _ in range(max_pages):
            response = self.client.query(**args)
            total += int(response.get("Count", 0))
            # The items read are not returned: estimate their units from the scanned count at the
            # typical conversation size when the engine does not report them.
            estimate = capacity.read_units(int(response.get("ScannedCount", 0)) * _COUNTED_ITEM_BYTES)
            self._meter("Query", response, reads=estimate)
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            args["ExclusiveStartKey"] = last
        return total

    def query_all(self, *, key_condition: Condition, max_items: int = 10_000, **kwargs: Any) -> list[Item]:
        """Every item of a query, following pages (bounded, for small partitions like a conversation)."""
        items: list[Item] = []
        start: Key | None = None
        while True:
            page = self.query(key_condition=key_condition, start_key=start, **kwargs)
            items += page.items
            if page.last_key is None or len(items) >= max_items:
                return items
            start = page.last_key

    def scan_all(self, *, filter_: Condition | None = None, page_size: int = 500) -> Iterator[Item]:
        """Every item of the table, a page at a time. For maintenance jobs only (migrations, a
        test's "no trace left" check): request paths use queries, never a scan."""
        start: Key | None = None
        while True:
            args: dict[str, Any] = {
                "TableName": self.name,
                "Limit": page_size,
                "ReturnConsumedCapacity": "TOTAL",
            }
            if filter_ is not None:
                args.update(_expression_args(filter_))
                args["FilterExpression"] = filter_.expression
            if start:
                args["ExclusiveStartKey"] = serialize(start)
            response = self.client.scan(**args)
            raw_items = response.get("Items", [])
            self._meter(
                "Scan", response, reads=capacity.read_units(sum(capacity.item_size(i) for i in raw_items))
            )
            yield from (deserialize(item) for item in raw_items)
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            start = deserialize(last)

    # -- transactions -----------------------------------------------------------------------------

    def transact_write(self, actions: Sequence[TransactAction], *, token: str | None = None) -> None:
        """All or nothing. ``token`` makes a retry within ten minutes a no-op (ClientRequestToken)."""
        entries: list[dict[str, Any]] = []
        units = 0
        for action in actions:
            entry, size = self._transact_entry(action)
            entries.append(entry)
            units += capacity.write_units(size, transactional=True)
        args: dict[str, Any] = {"TransactItems": entries, "ReturnConsumedCapacity": "TOTAL"}
        if token:
            args["ClientRequestToken"] = token[:36]
        try:
            response = self.client.transact_write_items(**args)
        except ClientError as exc:
            self._meter("TransactWriteItems", {}, writes=units)
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons") or []
                raise TransactionCancelledError(
                    [r.get("Code") if r.get("Code") not in {None, "None"} else None for r in reasons],
                    [deserialize(r["Item"]) if r.get("Item") else None for r in reasons],
                ) from exc
            raise
        self._meter("TransactWriteItems", response, writes=units)

    def _transact_entry(self, action: TransactAction) -> tuple[dict[str, Any], int]:
        base: dict[str, Any] = {"TableName": self.name}
        if isinstance(action, Put):
            raw = serialize(action.item)
            body = {**base, "Item": raw, **_with_condition(action.condition)}
            body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            return {"Put": body}, capacity.item_size(raw)
        if isinstance(action, Update):
            body = {**base, "Key": serialize(action.key), **_with_update(action.update, action.condition)}
            body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            size = capacity.item_size(serialize(action.key)) + capacity.item_size(
                serialize(action.update.values)
            )
            return {"Update": body}, size
        if isinstance(action, Delete):
            body = {**base, "Key": serialize(action.key), **_with_condition(action.condition)}
            return {"Delete": body}, capacity.item_size(serialize(action.key))
        body = {**base, "Key": serialize(action.key), **_with_condition(action.condition)}
        body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return {"ConditionCheck": body}, capacity.item_size(serialize(action.key))


def _condition_error(exc: ClientError) -> Exception:
    if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
        raw = exc.response.get("Item")
        return ConditionFailedError(str(exc), deserialize(raw) if raw else None)
    error: Exception = exc
    return error


def boto_config() -> Config:
    return Config(
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=3,
        read_timeout=10,
        max_pool_connections=50,
    )


@lru_cache(maxsize=4)
def _client(region: str, endpoint: str | None) -> Any:
    return boto3.client("dynamodb", region_name=region, endpoint_url=endpoint, config=boto_config())


def table_from_settings(settings: Settings | None = None) -> Table:
    settings = settings or get_settings()
    client = _client(settings.region, settings.dynamodb_endpoint)
    return Table(settings.table_name, client, report_capacity=settings.dynamodb_endpoint is None)


def retry_on_conflict(attempt: int) -> None:
    """Back off before retrying a transaction that lost a race (bounded by the caller)."""
    time.sleep(min(0.2, 0.01 * (2**attempt)))
