"""The one definition of the Mailroom table: keys, indexes, stream, TTL and stream filters.

The sandbox creates DynamoDB Local's table from :func:`create_table_kwargs`; the CDK stack builds the
real table from the same constants; ``tests/infra`` checks that both agree. Change the table here only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PK = "PK"
SK = "SK"
TTL_ATTRIBUTE = "expires_at"
STREAM_VIEW_TYPE = "NEW_AND_OLD_IMAGES"


@dataclass(frozen=True)
class Index:
    """A global secondary index. Every index projects ALL: inbox rows render from the index alone."""

    name: str
    pk: str
    sk: str
    purpose: str


# Conversation META items carry the index attributes; other items do not, so the indexes are sparse.
BY_MAILBOX = Index("ByMailbox", "GSI1PK", "GSI1SK", "every conversation of a mailbox, by last activity")
BY_MAILBOX_STATUS = Index(
    "ByMailboxStatus", "GSI2PK", "GSI2SK", "a mailbox's conversations in one status, by last activity"
)
BY_ASSIGNEE_STATUS = Index(
    "ByAssigneeStatus", "GSI3PK", "GSI3SK", "an agent's conversations in one status, by last activity"
)
BY_CONTACT = Index("ByContact", "GSI4PK", "GSI4SK", "a contact's conversations, by last activity")
BY_TEAM_STATUS = Index("ByTeamStatus", "GSI5PK", "GSI5SK", "a team's conversations in one status")
# Sparse on top of sparse: only while a conversation is open and nobody holds it (the Unassigned view).
BY_QUEUE = Index("ByQueue", "GSI6PK", "GSI6SK", "a mailbox's open, unassigned conversations, by activity")
# Only while the customer waits on an open conversation with a first-response due time (sort=sla).
BY_SLA_DUE = Index(
    "BySlaDue", "GSI7PK", "GSI7SK", "a mailbox's open conversations waiting for a first response, by due time"
)

INDEXES: tuple[Index, ...] = (
    BY_MAILBOX,
    BY_MAILBOX_STATUS,
    BY_ASSIGNEE_STATUS,
    BY_CONTACT,
    BY_TEAM_STATUS,
    BY_QUEUE,
    BY_SLA_DUE,
)


def key_attributes() -> list[str]:
    """Every attribute that is a key of the table or of an index (all strings)."""
    names = [PK, SK]
    for index in INDEXES:
        names += [index.pk, index.sk]
    return names


def index_spec(index: Index) -> dict[str, Any]:
    """One GSI as ``CreateTable`` / ``UpdateTable`` describe it."""
    return {
        "IndexName": index.name,
        "KeySchema": [
            {"AttributeName": index.pk, "KeyType": "HASH"},
            {"AttributeName": index.sk, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }


def create_table_kwargs(table_name: str) -> dict[str, Any]:
    """``CreateTable`` arguments for this schema (on-demand, stream on)."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in key_attributes()],
        "KeySchema": [
            {"AttributeName": PK, "KeyType": "HASH"},
            {"AttributeName": SK, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [index_spec(index) for index in INDEXES],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": STREAM_VIEW_TYPE},
    }


# ---------------------------------------------------------------------------------------------
# Stream consumers and their Lambda event filter patterns (the same JSON that the CDK stack puts in
# the event source mappings' FilterCriteria; the sandbox poller applies them with the same rules).
# Every item carries an ``entity`` attribute naming what it is.
# ---------------------------------------------------------------------------------------------

ROUTE_FILTERS: tuple[dict[str, Any], ...] = (
    # A new inbound message that may be routed (quarantined mail is not): tags, team, assignment.
    {
        "eventName": ["INSERT"],
        "dynamodb": {
            "NewImage": {
                "entity": {"S": ["message"]},
                "direction": {"S": ["inbound"]},
                "routable": {"BOOL": [True]},
            }
        },
    },
)

METRICS_FILTERS: tuple[dict[str, Any], ...] = (
    # Every audit event: metrics are computed from the immutable event log.
    {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"entity": {"S": ["event"]}}}},
)

STREAM_CONSUMERS: dict[str, tuple[dict[str, Any], ...]] = {
    "route": ROUTE_FILTERS,
    "metrics": METRICS_FILTERS,
}


def filter_criteria(consumer: str) -> dict[str, list[dict[str, str]]]:
    """Lambda ``FilterCriteria`` for a consumer, patterns serialized as Lambda expects."""
    return {"Filters": [{"Pattern": json.dumps(p, sort_keys=True)} for p in STREAM_CONSUMERS[consumer]]}
