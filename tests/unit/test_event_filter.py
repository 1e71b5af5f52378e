"""Lambda event filtering as the sandbox applies it (sandbox/event_filter.py)."""

from __future__ import annotations

from typing import Any

import pytest

from mailroom.table import schema
from sandbox.event_filter import InvalidPatternError, matches, matches_any, validate_pattern

EVENT: dict[str, Any] = {
    "source": "aws.ec2",
    "time": "2017-10-02T16:24:49Z",
    "resources": ["arn:aws:ec2:us-east-1:123:instance/i-1", "arn:aws:ec2:us-east-1:123:instance/i-2"],
    "detail": {
        "state": "running",
        "c-count": 5,
        "x-limit": 301.8,
        "enabled": True,
        "nothing": None,
        "empty": "",
        "tags": [{"key": "team", "value": "support"}, {"key": "tier", "value": "gold"}],
        "nested": {"deep": "value"},
    },
}


# ---------------------------------------------------------------------------------------------
# Literals, nesting, arrays
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({}, True),
        ({"source": ["aws.ec2"]}, True),
        ({"source": ["aws.s3"]}, False),
        ({"source": ["aws.s3", "aws.ec2"]}, True),  # array = OR
        ({"source": ["aws.ec2"], "detail": {"state": ["running"]}}, True),  # keys = AND
        ({"source": ["aws.ec2"], "detail": {"state": ["stopped"]}}, False),
        ({"detail": {"state": ["running"], "c-count": [5]}}, True),
        ({"detail": {"c-count": [5.0]}}, True),  # numbers compare by value
        ({"detail": {"c-count": ["5"]}}, False),  # but a string is not a number
        ({"detail": {"x-limit": [3.018e2]}}, True),
        ({"detail": {"enabled": [True]}}, True),
        ({"detail": {"enabled": [1]}}, False),  # true is not 1
        ({"detail": {"c-count": [True]}}, False),
        ({"detail": {"nothing": [None]}}, True),
        ({"detail": {"state": [None]}}, False),
        ({"detail": {"missing": [None]}}, False),  # null matches a null value, not a missing field
        ({"detail": {"empty": [""]}}, True),
        ({"detail": {"state": [""]}}, False),
        ({"missing": ["x"]}, False),
        ({"detail": {"nested": {"deep": ["value"]}}}, True),
        ({"detail": {"nested": {"deep": ["other"]}}}, False),
        ({"detail": {"state": {"deep": ["value"]}}}, False),  # object pattern, string value
        ({"detail": {"nested": ["value"]}}, False),  # literal pattern, object value
    ],
)
def test_literals_and_nesting(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, EVENT) is expected


def test_array_values_match_if_any_element_matches() -> None:
    assert matches({"resources": ["arn:aws:ec2:us-east-1:123:instance/i-2"]}, EVENT)
    assert not matches({"resources": ["arn:aws:ec2:us-east-1:123:instance/i-3"]}, EVENT)
    assert matches({"resources": [{"suffix": "/i-1"}]}, EVENT)


def test_array_of_objects_matches_within_one_element() -> None:
    assert matches({"detail": {"tags": {"key": ["team"], "value": ["support"]}}}, EVENT)
    assert matches({"detail": {"tags": {"value": ["gold"]}}}, EVENT)
    # "team" and "gold" both occur, but never in the same element.
    assert not matches({"detail": {"tags": {"key": ["team"], "value": ["gold"]}}}, EVENT)


# ---------------------------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"prefix": "run"}, True),
        ({"prefix": "Run"}, False),
        ({"prefix": ""}, True),
        ({"suffix": "ing"}, True),
        ({"suffix": "ed"}, False),
        ({"equals-ignore-case": "RUNNING"}, True),
        ({"equals-ignore-case": "runnin"}, False),
        ({"anything-but": "stopped"}, True),
        ({"anything-but": "running"}, False),
        ({"anything-but": ["stopped", "pending"]}, True),
        ({"anything-but": ["stopped", "running"]}, False),
        ({"anything-but": {"prefix": "stop"}}, True),
        ({"anything-but": {"prefix": "run"}}, False),
        ({"anything-but": {"suffix": "ing"}}, False),
        ({"anything-but": {"equals-ignore-case": "RUNNING"}}, False),
    ],
)
def test_string_operators(rule: dict[str, Any], expected: bool) -> None:
    assert matches({"detail": {"state": [rule]}}, EVENT) is expected


def test_string_operators_ignore_non_strings() -> None:
    assert not matches({"detail": {"c-count": [{"prefix": "5"}]}}, EVENT)
    assert not matches({"detail": {"enabled": [{"equals-ignore-case": "true"}]}}, EVENT)


@pytest.mark.parametrize(
    ("numeric", "expected"),
    [
        ([">", 0, "<=", 5], True),
        ([">", 0, "<", 5], False),
        (["=", 5], True),
        (["=", 5.0], True),
        (["<", 10], True),
        ([">=", 5], True),
        ([">", 5], False),
        ([">=", 6, "<", 100], False),
    ],
)
def test_numeric(numeric: list[Any], expected: bool) -> None:
    assert matches({"detail": {"c-count": [{"numeric": numeric}]}}, EVENT) is expected


def test_numeric_needs_a_json_number() -> None:
    assert matches({"detail": {"x-limit": [{"numeric": [">", 300, "<", 302]}]}}, EVENT)
    # DynamoDB numbers arrive as strings ({"N": "5"}): numeric does not match them, as on AWS.
    assert not matches({"size": {"N": [{"numeric": [">", 0]}]}}, {"size": {"N": "5"}})
    assert not matches({"detail": {"enabled": [{"numeric": [">", 0]}]}}, EVENT)  # true is no number


def test_anything_but_numbers_and_missing_fields() -> None:
    assert matches({"detail": {"c-count": [{"anything-but": [1, 2, 3]}]}}, EVENT)
    assert not matches({"detail": {"c-count": [{"anything-but": [5]}]}}, EVENT)
    # anything-but needs the field to be there, like every operator except exists.
    assert not matches({"detail": {"missing": [{"anything-but": "x"}]}}, EVENT)
    # An array value matches if any element is not excluded.
    assert matches({"resources": [{"anything-but": "arn:aws:ec2:us-east-1:123:instance/i-1"}]}, EVENT)


@pytest.mark.parametrize(
    ("field", "exists", "expected"),
    [
        ("state", True, True),
        ("state", False, False),
        ("missing", True, False),
        ("missing", False, True),
        ("nothing", True, True),  # null is a value
        ("empty", True, True),
        # exists looks at leaves only (Event Ruler): an object is not a leaf ...
        ("nested", True, False),
        ("nested", False, True),
        # ... and an array of objects has no leaf of its own.
        ("tags", True, False),
    ],
)
def test_exists(field: str, exists: bool, expected: bool) -> None:
    assert matches({"detail": {field: [{"exists": exists}]}}, EVENT) is expected


def test_fields_under_a_missing_parent_or_a_leaf_do_not_exist() -> None:
    assert matches({"missing": {"child": [{"exists": False}]}}, EVENT)
    assert not matches({"missing": {"child": [{"exists": True}]}}, EVENT)
    assert matches({"detail": {"state": {"child": [{"exists": False}]}}}, EVENT)
    assert not matches({"detail": {"state": {"child": [{"anything-but": "x"}]}}}, EVENT)
    # In an array of objects, one element without the field is enough.
    assert matches({"detail": {"tags": {"missing": [{"exists": False}]}}}, EVENT)
    assert not matches({"detail": {"tags": {"key": [{"exists": False}]}}}, EVENT)


def test_a_leaf_array_mixes_literals_and_operators() -> None:
    pattern = {"detail": {"state": ["stopped", {"prefix": "run"}]}}
    assert matches(pattern, EVENT)
    assert not matches({"detail": {"state": ["stopped", {"prefix": "pend"}]}}, EVENT)


def test_matches_any_is_an_or_of_patterns() -> None:
    assert matches_any([{"source": ["aws.s3"]}, {"source": ["aws.ec2"]}], EVENT)
    assert not matches_any([{"source": ["aws.s3"]}, {"source": ["aws.sqs"]}], EVENT)
    assert not matches_any([], EVENT)


# ---------------------------------------------------------------------------------------------
# Invalid patterns fail as Lambda would reject them
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": "aws.ec2"},  # leaf values are always arrays
        {"source": []},
        {"source": [["nested"]]},
        {"source": [{"wildcard": "aws.*"}]},  # not supported by Lambda filtering
        {"source": [{"prefix": "a", "suffix": "b"}]},  # one operator per object
        {"source": [{"prefix": 1}]},
        {"source": [{"exists": "yes"}]},
        {"n": [{"numeric": [">"]}]},
        {"n": [{"numeric": ["~", 1]}]},
        {"n": [{"numeric": [">", "1"]}]},
        {"n": [{"numeric": ["=", 1, "<", 2]}]},
        {"n": [{"numeric": [">", 1, ">", 2]}]},
        {"n": [{"anything-but": []}]},
        {"n": [{"anything-but": {"numeric": [">", 1]}}]},
        {"n": [{"anything-but": [{"prefix": "a"}]}]},
    ],
)
def test_invalid_patterns_are_rejected(pattern: dict[str, Any]) -> None:
    with pytest.raises(InvalidPatternError):
        validate_pattern(pattern)
    with pytest.raises(InvalidPatternError):
        matches(pattern, EVENT)


# ---------------------------------------------------------------------------------------------
# The patterns the stack deploys, against stream records as Lambda delivers them
# ---------------------------------------------------------------------------------------------


STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/mailroom/stream/2026-11-23T02:42:12.661"


def stream_record(
    event_name: str,
    *,
    new: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
) -> dict[str, Any]:
    image = new or old or {}
    record: dict[str, Any] = {
        "eventID": "c4ca4238a0b923820dcc509a6f75849b",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1795401720,
            "Keys": {"PK": image["PK"], "SK": image["SK"]},
            "SequenceNumber": "4421584500000000017450439091",
            "SizeBytes": 312,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": STREAM_ARN,
    }
    if new is not None:
        record["dynamodb"]["NewImage"] = new
    if old is not None:
        record["dynamodb"]["OldImage"] = old
    return record


def message_item(direction: str, *, routable: bool = True) -> dict[str, Any]:
    return {
        "PK": {"S": "CONV#01JC9Z"},
        "SK": {"S": "MSG#2026-11-23T02:42:12Z#abc"},
        "entity": {"S": "message"},
        "direction": {"S": direction},
        "routable": {"BOOL": routable},
        "subject": {"S": "Where is my order?"},
        "size": {"N": "2048"},
        "to": {"L": [{"S": "support@example.com"}]},
    }


def event_item() -> dict[str, Any]:
    return {
        "PK": {"S": "CONV#01JC9Z"},
        "SK": {"S": "EVT#2026-11-23T02:42:12Z#e1"},
        "entity": {"S": "event"},
        "type": {"S": "conversation.assigned"},
    }


def conversation_item() -> dict[str, Any]:
    return {
        "PK": {"S": "CONV#01JC9Z"},
        "SK": {"S": "META"},
        "entity": {"S": "conversation"},
        "status": {"S": "open"},
        "GSI1PK": {"S": "MAILBOX#support@example.com"},
    }


ROUTE = schema.STREAM_CONSUMERS["route"]
METRICS = schema.STREAM_CONSUMERS["metrics"]


def test_every_deployed_pattern_is_valid() -> None:
    for patterns in schema.STREAM_CONSUMERS.values():
        assert patterns
        for pattern in patterns:
            validate_pattern(pattern)


@pytest.mark.parametrize(
    ("record", "route", "metrics"),
    [
        (stream_record("INSERT", new=message_item("inbound")), True, False),
        (stream_record("INSERT", new=message_item("outbound")), False, False),
        (stream_record("INSERT", new=message_item("inbound", routable=False)), False, False),
        (stream_record("MODIFY", new=message_item("inbound"), old=message_item("inbound")), False, False),
        (stream_record("REMOVE", old=message_item("inbound")), False, False),
        (stream_record("INSERT", new=event_item()), False, True),
        (stream_record("MODIFY", new=event_item(), old=event_item()), False, False),
        (stream_record("REMOVE", old=event_item()), False, False),
        (stream_record("INSERT", new=conversation_item()), False, False),
        (stream_record("MODIFY", new=conversation_item(), old=conversation_item()), False, False),
    ],
    ids=[
        "inbound-message-insert",
        "outbound-message-insert",
        "quarantined-message-insert",
        "message-modify",
        "message-remove",
        "event-insert",
        "event-modify",
        "event-remove",
        "conversation-insert",
        "conversation-modify",
    ],
)
def test_stream_consumer_filters(record: dict[str, Any], route: bool, metrics: bool) -> None:
    assert matches_any(ROUTE, record) is route
    assert matches_any(METRICS, record) is metrics


def test_route_filter_needs_entity_direction_and_routable() -> None:
    assert matches_any(ROUTE, stream_record("INSERT", new=message_item("inbound")))
    for attribute in ("entity", "direction", "routable"):
        item = message_item("inbound")
        del item[attribute]
        assert not matches_any(ROUTE, stream_record("INSERT", new=item)), attribute
    item = message_item("inbound")
    item["entity"] = {"S": "note"}
    assert not matches_any(ROUTE, stream_record("INSERT", new=item))
    # An attribute of another DynamoDB type does not match the {"S": [...]} or {"BOOL": [...]} pattern.
    item = message_item("inbound")
    item["direction"] = {"L": [{"S": "inbound"}]}
    assert not matches_any(ROUTE, stream_record("INSERT", new=item))
    item = message_item("inbound")
    item["routable"] = {"S": "true"}
    assert not matches_any(ROUTE, stream_record("INSERT", new=item))
