"""Admin (7a) without a table: the sandbox SMTP refusing a disabled mailbox, aliases and disabled
mailboxes in ingest's recipient routing, the Cognito invitation adapter (botocore Stubber) and the
admin forms' text formats."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mailroom.ingest.recipients import Recipient, mailbox_routes, refusal_reason, route_recipients
from mailroom.org import forms
from mailroom.org.models import MailboxCreate, check_signature
from mailroom.org.provisioning import (
    AlreadyInvitedError,
    CognitoProvisioner,
    LocalProvisioner,
    provisioner_from_settings,
)
from mailroom.settings import Settings
from mailroom.storage.local import LocalStore
from sandbox.smtp import SmtpReceiver

DIRECTORY: list[dict[str, Any]] = [
    {"address": "support@acme.test", "aliases": ["help@acme.test", "hilfe@acme.test"]},
    {"address": "old@acme.test", "aliases": ["legacy@acme.test"], "disabled": True},
]
ROUTES = mailbox_routes(DIRECTORY)


# -- SMTP -------------------------------------------------------------------------------------------


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[SmtpReceiver, list[dict[str, Any]]]]:
    delivered: list[dict[str, Any]] = []
    receiver = SmtpReceiver(
        host="127.0.0.1",
        port=0,
        accept_domains=lambda: {"acme.test"},
        store=LocalStore(tmp_path / "store"),
        raw_prefix="raw/inbound/",
        deliver=delivered.append,
        max_message_bytes=20_000,
        refuse_recipient=lambda address: refusal_reason(address, ROUTES),
    )
    receiver.start()
    yield receiver, delivered
    receiver.stop()


def test_a_disabled_mailbox_and_its_aliases_are_refused_at_rcpt(
    receiver: tuple[SmtpReceiver, list[dict[str, Any]]],
) -> None:
    smtp, delivered = receiver
    with smtplib.SMTP("127.0.0.1", smtp.port, timeout=30) as client:
        client.ehlo("client.example.com")
        assert client.mail("maria@example.com")[0] == 250
        for address in ("old@acme.test", "legacy@acme.test", "Old+c123@Acme.test"):
            code, reply = client.rcpt(address)
            assert code == 550
            assert b"5.2.1" in reply
            assert b"old@acme.test is disabled" in reply
        assert client.rcpt("support@acme.test")[0] == 250
        assert client.rcpt("help@acme.test")[0] == 250
        assert client.data(b"Subject: hi\r\n\r\nhello\r\n")[0] == 250
    [event] = delivered
    assert event["Records"][0]["ses"]["receipt"]["recipients"] == ["support@acme.test", "help@acme.test"]


def test_a_directory_failure_is_a_temporary_refusal(tmp_path: Path) -> None:
    def broken(address: str) -> str | None:
        raise RuntimeError("table down")

    smtp = SmtpReceiver(
        host="127.0.0.1",
        port=0,
        accept_domains=lambda: {"acme.test"},
        store=LocalStore(tmp_path),
        raw_prefix="raw/inbound/",
        deliver=lambda event: None,
        max_message_bytes=20_000,
        refuse_recipient=broken,
    )
    smtp.start()
    try:
        with smtplib.SMTP("127.0.0.1", smtp.port, timeout=30) as client:
            client.ehlo("client.example.com")
            client.mail("maria@example.com")
            assert client.rcpt("support@acme.test")[0] == 451
    finally:
        smtp.stop()


# -- recipient routing -------------------------------------------------------------------------------


def test_aliases_resolve_to_their_mailbox_once_keeping_the_token() -> None:
    recipients, refused = route_recipients(
        ["hilfe+c1abc@acme.test", "support@acme.test", "new@acme.test", "legacy@acme.test"], ROUTES
    )
    assert recipients == [
        Recipient(mailbox="support@acme.test", token="c1abc"),
        Recipient(mailbox="new@acme.test", token=None),
    ]
    assert refused == ["old@acme.test"]
    assert refusal_reason("support@acme.test", ROUTES) is None
    assert refusal_reason("nobody@acme.test", ROUTES) is None


def test_a_mailbox_address_wins_over_another_mailboxs_alias() -> None:
    routes = mailbox_routes(
        [{"address": "a@acme.test", "aliases": ["b@acme.test"]}, {"address": "b@acme.test"}]
    )
    assert routes["b@acme.test"].mailbox == "b@acme.test"


# -- Cognito ----------------------------------------------------------------------------------------


def cognito() -> Any:
    return boto3.client(
        "cognito-idp", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_inviting_on_aws_creates_a_cognito_user_emailed_a_temporary_password() -> None:
    client = cognito()
    with Stubber(client) as stub:
        stub.add_response(
            "admin_create_user",
            {"User": {"Username": "sam@acme.test"}},
            {
                "UserPoolId": "eu-west-1_pool",
                "Username": "sam@acme.test",
                "UserAttributes": [
                    {"Name": "email", "Value": "sam@acme.test"},
                    {"Name": "email_verified", "Value": "true"},
                    {"Name": "name", "Value": "Sam"},
                ],
                "DesiredDeliveryMediums": ["EMAIL"],
            },
        )
        stub.add_response(
            "admin_add_user_to_group",
            {},
            {"UserPoolId": "eu-west-1_pool", "Username": "sam@acme.test", "GroupName": "agent"},
        )
        CognitoProvisioner(client, "eu-west-1_pool").invite("sam@acme.test", name="Sam", role="agent")
        stub.assert_no_pending_responses()


def test_cognito_role_change_deactivation_and_an_existing_user() -> None:
    client = cognito()
    provisioner = CognitoProvisioner(client, "pool")
    with Stubber(client) as stub:
        stub.add_response(
            "admin_remove_user_from_group",
            {},
            {"UserPoolId": "pool", "Username": "s@a.test", "GroupName": "agent"},
        )
        stub.add_response(
            "admin_add_user_to_group",
            {},
            {"UserPoolId": "pool", "Username": "s@a.test", "GroupName": "admin"},
        )
        stub.add_response("admin_disable_user", {}, {"UserPoolId": "pool", "Username": "s@a.test"})
        stub.add_client_error("admin_create_user", "UsernameExistsException", "exists")
        provisioner.change_role("s@a.test", old_role="agent", role="admin")
        provisioner.set_enabled("s@a.test", False)
        with pytest.raises(AlreadyInvitedError):
            provisioner.invite("s@a.test", name="S", role="agent")
        stub.assert_no_pending_responses()


def test_the_adapter_follows_auth_mode() -> None:
    assert isinstance(provisioner_from_settings(Settings(auth_mode="local")), LocalProvisioner)
    cognito_mode = Settings(auth_mode="cognito", cognito_user_pool_id="eu-west-1_pool", region="eu-west-1")
    assert isinstance(provisioner_from_settings(cognito_mode), CognitoProvisioner)


# -- models and forms --------------------------------------------------------------------------------


def test_a_signature_must_render_and_errors_name_the_line() -> None:
    assert check_signature("{{ agent.name }}\n{{ mailbox.name }}") is not None
    with pytest.raises(ValueError, match="line 3"):
        check_signature("Thanks,\n{{ agent.name }}\n{{ agent.phone }}")
    with pytest.raises(ValueError, match="line 2"):
        MailboxCreate(address="a@acme.test", signature="ok\n{% for %}")


def test_form_text_formats_round_trip() -> None:
    values = {
        "timezone": "Europe/Berlin",
        **{f"day_{d}": "" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        "day_mon": "09:00-12:00, 13:00-24:00",
        "holidays": "2030-12-25, 2030-12-26",
    }
    schedule = forms.schedule_payload(values)
    assert schedule is not None
    assert schedule["days"]["mon"] == [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "00:00"}]
    from mailroom.schedule.model import WeeklySchedule

    parsed = WeeklySchedule.model_validate(schedule)
    assert forms.schedule_values(parsed)["day_mon"] == "09:00-12:00, 13:00-24:00"
    [period] = forms.parse_absences("2030-12-24 09:00 / 2031-01-02 / sam@acme.test", "Europe/Berlin")
    assert period == {
        "start": "2030-12-24T09:00:00+01:00",
        "end": "2031-01-02T00:00:00+01:00",
        "replacement": "sam@acme.test",
    }
    [policy] = forms.parse_policies("std | Standard | 60 | 1440 | wall")
    assert policy["business_hours"] is False
    assert policy["first_response_minutes"] == "60"
