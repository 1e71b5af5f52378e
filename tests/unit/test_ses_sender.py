"""The SES adapter against botocore's Stubber: what it sends, and how it reports failures."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from mailroom.outbound.sender import SendInDoubtError, SendRefusedError, SesSender


@pytest.fixture
def client() -> object:
    return boto3.client("sesv2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_sends_raw_mime_with_the_configuration_set(client: object) -> None:
    with Stubber(client) as stub:
        stub.add_response(
            "send_email",
            {"MessageId": "0100-ses-id"},
            {"Content": {"Raw": {"Data": b"raw mime"}}, "ConfigurationSetName": "mailroom"},
        )
        assert SesSender(client, "mailroom").send(b"raw mime", message_id="m@x") == "0100-ses-id"
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("MessageRejected", 400, SendRefusedError),
        ("TooManyRequestsException", 429, SendRefusedError),
        ("InternalFailure", 500, SendInDoubtError),
    ],
)
def test_failures_are_refused_or_in_doubt(client: object, code: str, status: int, expected: type) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("send_email", service_error_code=code, http_status_code=status)
        with pytest.raises(expected):
            SesSender(client).send(b"raw mime", message_id="m@x")
