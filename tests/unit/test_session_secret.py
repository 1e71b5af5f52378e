"""The session secret: from the environment in the sandbox, from Secrets Manager on AWS (read once
per container, with a Stubber standing in for the service)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mailroom import secrets
from mailroom.api.session import session_secret
from mailroom.settings import Settings

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mailroom-session-AbCdEf"


def test_the_environment_value_wins() -> None:
    assert session_secret(Settings(session_secret="s" * 40, session_secret_arn=ARN)) == "s" * 40


def test_on_aws_the_secret_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    client = boto3.client(
        "secretsmanager", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stubber = Stubber(client)
    stubber.add_response("get_secret_value", {"SecretString": "k" * 48}, {"SecretId": ARN})
    stubber.activate()
    made: list[Any] = []

    def fake_client(service: str, region_name: str) -> Any:
        made.append((service, region_name))
        return client

    monkeypatch.setattr(boto3, "client", fake_client)  # the adapter calls boto3.client
    secrets.secret_string.cache_clear()
    settings = Settings(session_secret=None, session_secret_arn=ARN, region="eu-west-1")
    assert session_secret(settings) == "k" * 48
    assert session_secret(settings) == "k" * 48  # cached: the stub had one answer only
    assert made == [("secretsmanager", "eu-west-1")]
    stubber.assert_no_pending_responses()
    secrets.secret_string.cache_clear()


def test_a_missing_or_short_secret_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="MAILROOM_SESSION_SECRET_ARN"):
        session_secret(Settings(session_secret=None, session_secret_arn=None))
    with pytest.raises(RuntimeError, match="at least 32"):
        session_secret(Settings(session_secret="short"))


def test_the_region_falls_back_to_the_lambda_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILROOM_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    assert Settings().region == "ap-southeast-2"
    monkeypatch.setenv("MAILROOM_REGION", "eu-west-1")
    assert Settings().region == "eu-west-1"
