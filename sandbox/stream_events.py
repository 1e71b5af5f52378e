"""Lambda DynamoDB-stream records built from plain items: for tests, benchmarks and replays."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeSerializer

from mailroom.table import schema

_serializer = TypeSerializer()
STREAM_ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/mailroom/stream/local"


def insert_record(item: dict[str, Any], sequence: int = 1) -> dict[str, Any]:
    """The stream record of an INSERT of ``item``, as Lambda's event source mapping delivers it."""
    image = {name: _serializer.serialize(value) for name, value in item.items()}
    return {
        "eventID": str(sequence),
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": STREAM_ARN,
        "dynamodb": {
            "Keys": {schema.PK: image[schema.PK], schema.SK: image[schema.SK]},
            "NewImage": image,
            "SequenceNumber": f"{sequence:021d}",
            "SizeBytes": len(str(image)),
            "StreamViewType": schema.STREAM_VIEW_TYPE,
        },
    }
