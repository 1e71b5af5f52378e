"""Replying through the real reply handler (API Gateway v2 events) on DynamoDB Local: the sandbox
outbox receives exactly one .eml per reply, with threading headers, whatever the client retries."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from mailroom.assignment.store import AssignmentStore
from mailroom.auth.model import Access
from mailroom.auth.permissions_store import grant
from mailroom.canned.model import CannedResponse
from mailroom.canned.store import put_canned
from mailroom.domain.agent import Agent
from mailroom.inbox.directory import upsert_mailbox, upsert_user
from mailroom.settings import get_settings
from mailroom.table.client import Table
from sandbox.apigw_events import decode_response
from sandbox.lambda_pool import LambdaPool
from tests.integration.conftest import Api, Deliver, as_user, http_event
from tests.mailfactory import make_mail

SUPPORT = "support@acme.test"
SALES = "sales@acme.test"
SAM, PRIYA, READER, OUTSIDER = "sam@acme.test", "priya@acme.test", "reader@acme.test", "out@acme.test"


def outbox() -> list[Path]:
    directory = Path(get_settings().outbound_url.removeprefix("file://"))
    return sorted(directory.glob("*.eml")) if directory.exists() else []


@pytest.fixture
def team(table: Table, api: Api) -> None:
    upsert_mailbox(
        table, SUPPORT, name="Acme Support", team="support", signature="{{ agent.name }}\nAcme Support"
    )
    upsert_mailbox(table, SALES, name="Acme Sales", team="sales")
    store = AssignmentStore(table)
    profiles = {
        SAM: (
            "Sam Rivera",
            {"title": "Account Executive", "company": "Acme", "calendar_url": "https://cal.test/sam"},
        ),
        PRIYA: ("Priya Shah", {}),
        READER: ("Rita Reader", {}),
        OUTSIDER: ("Otto Outside", {}),
    }
    for email, (name, profile) in profiles.items():
        upsert_user(table, email, name=name, role="agent", profile=profile)
        store.put_agent(Agent(id=email, name=name, capacity=5))
    grant(table, SUPPORT, SAM, Access.FULL)
    grant(table, SUPPORT, PRIYA, Access.SEND_ON_BEHALF)
    grant(table, SUPPORT, READER, Access.READ_ONLY)
    grant(table, SALES, OUTSIDER, Access.FULL)


def conversation(deliver: Deliver, **mail: Any) -> tuple[str, str]:
    raw = make_mail(**({"subject": "Printer on fire", "sender": "Dana Scully <dana@example.com>"} | mail))
    outcome = deliver(raw, [SUPPORT]).outcomes[0]
    return outcome["conversation_id"], message_from_bytes(raw, policy=policy.default)["Message-ID"]


def reply(api: Api, conv: str, *, user: str, version: int, key: str = "key-00000001", **extra: Any) -> Any:
    body = {"idempotency_key": key, "seen_version": version, "text": "We're on it.", **extra}
    return api("POST", f"/api/conversations/{conv}/replies", body=json.dumps(body), user=user)


def version_of(api: Api, conv: str) -> int:
    status, _, detail = api("GET", f"/api/conversations/{conv}")
    assert status == 200
    return int(detail["version"])


@pytest.mark.usefixtures("team")
def test_reply_sends_one_threaded_mail_and_claims(api: Api, deliver: Deliver) -> None:
    conv, customer_message_id = conversation(deliver)
    status, _, result = reply(api, conv, user=SAM, version=version_of(api, conv))
    assert status == 201, result
    assert result["status"] == "sent"
    assert result["claimed"] is True
    assert result["in_doubt"] is False
    [eml] = outbox()
    mail = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert mail["In-Reply-To"] == customer_message_id
    assert customer_message_id in mail["References"]
    ours = f"<{result['message_id']}>"  # stored without the angle brackets
    assert mail["Message-ID"] == ours
    assert mail["From"] == "Acme Support <support@acme.test>"
    assert mail["To"] == "Dana Scully <dana@example.com>"
    assert mail["Subject"] == "Re: Printer on fire"
    assert {part.get_content_type() for part in mail.walk()} >= {"text/plain", "text/html"}
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    assert "-- \nSam Rivera\nAcme Support" in text.get_content().replace("\r\n", "\n")
    _, _, detail = api("GET", f"/api/conversations/{conv}")
    assert detail["assignee"] == SAM
    assert detail["waiting_since"] is None
    assert [m["direction"] for m in detail["messages"]] == ["inbound", "outbound"]

    # The customer's answer threads into the same conversation.
    answer = make_mail(
        subject="Re: Printer on fire",
        sender="Dana Scully <dana@example.com>",
        in_reply_to=ours,
        references=f"{customer_message_id} {ours}",
        body="Thanks, it's out now.",
        message_id="<answer@example.com>",
    )
    assert deliver(answer, [SUPPORT]).outcomes[0]["conversation_id"] == conv


@pytest.mark.usefixtures("team")
def test_resubmitting_the_same_key_sends_once(api: Api, deliver: Deliver) -> None:
    conv, _ = conversation(deliver)
    version = version_of(api, conv)
    first = reply(api, conv, user=SAM, version=version)
    again = reply(api, conv, user=SAM, version=version)
    assert first[0] == 201
    assert again[0] == 200
    assert again[2]["replayed"] is True
    assert again[2]["message_id"] == first[2]["message_id"]
    assert len(outbox()) == 1
    different = reply(api, conv, user=SAM, version=version, text="something else")
    assert different[0] == 422
    assert "different reply" in different[2]["message"]


def race(pool: LambdaPool, requests: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[int, Any]]:
    """Submit every (user, path, body) at once to separate execution environments."""
    events = [
        http_event("POST", path, body=json.dumps(body), headers=as_user(user))
        for user, path, body in requests
    ]
    with ThreadPoolExecutor(len(events)) as threads:
        responses = list(threads.map(pool.handler, events))
    return [decode_response(response)[::2] for response in responses]


@pytest.mark.usefixtures("team")
def test_double_click_in_concurrent_environments_sends_once(
    api: Api, deliver: Deliver, lambda_pool: LambdaPool
) -> None:
    conv, _ = conversation(deliver)
    body = {"idempotency_key": "double-click-1", "seen_version": version_of(api, conv), "text": "On it."}
    path = f"/api/conversations/{conv}/replies"
    results = race(lambda_pool, [(SAM, path, body)] * 3)
    assert len(outbox()) == 1
    assert len({payload["message_id"] for _, payload in results}) == 1, results
    assert all(code in {200, 201, 202} for code, _ in results), results
    assert sum(code == 201 for code, _ in results) == 1, results


@pytest.mark.usefixtures("team")
def test_two_agents_racing_to_answer_one_message_send_one_reply(
    api: Api, deliver: Deliver, lambda_pool: LambdaPool
) -> None:
    conv, _ = conversation(deliver)
    version = version_of(api, conv)
    path = f"/api/conversations/{conv}/replies"
    results = race(
        lambda_pool,
        [
            (
                agent,
                path,
                {"idempotency_key": f"race-{agent[:3]}-0001", "seen_version": version, "text": "Hi"},
            )
            for agent in (SAM, PRIYA)
        ],
    )
    assert sorted(code for code, _ in results) == [201, 409], results
    assert len(outbox()) == 1
    winner = next(payload for code, payload in results if code == 201)
    _, _, detail = api("GET", f"/api/conversations/{conv}")
    assert detail["assignee"] == (SAM if winner["idempotency_key"].startswith("race-sam") else PRIYA)


@pytest.mark.usefixtures("team")
def test_stale_reply_is_refused_with_what_changed(api: Api, deliver: Deliver) -> None:
    conv, first_id = conversation(deliver)
    seen = version_of(api, conv)
    deliver(
        make_mail(
            subject="Re: Printer on fire",
            sender="Dana Scully <dana@example.com>",
            in_reply_to=first_id,
            body="Also the fax is smoking.",
            message_id="<second@example.com>",
        ),
        [SUPPORT],
    )
    status, _, refusal = reply(api, conv, user=SAM, version=seen)
    assert status == 409
    assert refusal["current_version"] > seen
    assert any("message" in change.lower() for change in refusal["changes"]), refusal["changes"]
    assert outbox() == []
    # Sent again at the version now seen, with the same key: the refusal wrote nothing.
    status, _, result = reply(api, conv, user=SAM, version=refusal["current_version"])
    assert status == 201, result


@pytest.mark.usefixtures("team")
def test_only_the_assignee_replies(api: Api, deliver: Deliver) -> None:
    conv, _ = conversation(deliver)
    assert reply(api, conv, user=SAM, version=version_of(api, conv))[0] == 201
    status, _, refusal = reply(api, conv, user=PRIYA, version=version_of(api, conv), key="priya-key-1")
    assert status == 409
    assert refusal["holder"] == SAM
    assert len(outbox()) == 1


@pytest.mark.usefixtures("team")
@pytest.mark.parametrize(
    ("extra", "status", "words"),
    [
        ({"subject": "Hi\r\nBcc: victim@example.com"}, 400, "subject"),
        ({"cc": [{"email": "x@example.com", "name": "X\nBcc: v@example.com"}]}, 400, "recipient name"),
        ({"cc": [{"email": "not an address", "name": ""}]}, 422, "not an email address"),
        ({"text": "   "}, 422, "text"),
        ({"idempotency_key": "short"}, 422, "idempotency_key"),
    ],
    ids=["subject-crlf", "cc-name-lf", "bad-address", "blank", "bad-key"],
)
def test_bad_input_is_refused_with_a_message(
    api: Api, deliver: Deliver, extra: dict[str, Any], status: int, words: str
) -> None:
    conv, _ = conversation(deliver)
    code, _, refusal = reply(api, conv, user=SAM, version=version_of(api, conv), **extra)
    assert code == status, refusal
    assert words in json.dumps(refusal).lower()
    assert outbox() == []


@pytest.mark.usefixtures("team")
def test_send_rights(api: Api, deliver: Deliver) -> None:
    conv, _ = conversation(deliver)
    version = version_of(api, conv)
    assert reply(api, conv, user=READER, version=version)[0] == 403
    assert reply(api, conv, user=OUTSIDER, version=version)[0] == 404
    status, _, result = reply(api, conv, user=PRIYA, version=version)
    assert status == 201
    mail = message_from_bytes(outbox()[0].read_bytes(), policy=policy.default)
    assert mail["From"] == "Priya Shah via Acme Support <support@acme.test>"
    assert mail["Sender"] == "Priya Shah <priya@acme.test>"
    _, _, listed = api("GET", f"/api/conversations/{conv}/replies", user=PRIYA)
    assert [r["message_id"] for r in listed["items"]] == [result["message_id"]]
    assert api("GET", f"/api/conversations/{conv}/replies", user=OUTSIDER)[0] == 404


@pytest.mark.usefixtures("team")
def test_canned_response_renders_as_the_agent(api: Api, deliver: Deliver, table: Table) -> None:
    put_canned(
        table,
        CannedResponse(
            id="demo-follow-up",
            name="Demo follow-up",
            subject="Your demo",
            body="Hi {{ customer.first_name }}, I'm {{ agent.name }}, {{ agent.title }} at "
            "{{ agent.company }}: {{ agent.calendar_url }}",
            team="support",
        ),
    )
    put_canned(table, CannedResponse(id="sales-only", name="Sales only", body="x", mailbox=SALES))
    put_canned(table, CannedResponse(id="broken", name="Broken", body="{{ customer.nope }}"))
    conv, _ = conversation(deliver)
    _, _, listed = api("GET", f"/api/conversations/{conv}/canned", user=SAM)
    assert [c["id"] for c in listed["items"]] == ["broken", "demo-follow-up"]
    status, _, rendered = api("POST", f"/api/conversations/{conv}/canned/demo-follow-up/render", user=SAM)
    assert status == 200
    assert rendered == {
        "canned_id": "demo-follow-up",
        "subject": "Your demo",
        "body": "Hi Dana, I'm Sam Rivera, Account Executive at Acme: https://cal.test/sam",
    }
    assert api("POST", f"/api/conversations/{conv}/canned/sales-only/render", user=SAM)[0] == 404
    status, _, refusal = api("POST", f"/api/conversations/{conv}/canned/broken/render", user=SAM)
    assert status == 422
    assert refusal["line"] == 1
    assert "nope" in refusal["message"]
    assert api("GET", f"/api/conversations/{conv}/canned", user=OUTSIDER)[0] == 404


@pytest.mark.usefixtures("team")
def test_presence_shows_the_others(api: Api, deliver: Deliver) -> None:
    conv, _ = conversation(deliver)
    path = f"/api/conversations/{conv}/presence"
    status, _, seen = api("POST", path, body=json.dumps({"state": "viewing"}), user=SAM)
    assert status == 200
    assert seen["present"] == []
    _, _, seen = api("POST", path, body=json.dumps({"state": "replying"}), user=PRIYA)
    assert [(p["agent"], p["state"], p["label"]) for p in seen["present"]] == [
        (SAM, "viewing", "Sam Rivera is viewing")
    ]
    _, _, seen = api("POST", path, body=json.dumps({}), user=SAM)
    assert [p["label"] for p in seen["present"]] == ["Priya Shah is replying"]
    assert seen["conversation_version"] >= 1
    assert api("POST", path, body=json.dumps({"state": "viewing"}), user=OUTSIDER)[0] == 404
    assert api("POST", path, body=json.dumps({"state": "dancing"}), user=SAM)[0] == 422
