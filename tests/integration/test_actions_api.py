"""Conversation actions, notes and mentions through the real reply handler, on DynamoDB Local."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mailroom.actions import merge as merge_module
from mailroom.assignment.store import AssignmentStore
from mailroom.auth.model import Access
from mailroom.auth.permissions_store import grant
from mailroom.domain.agent import Agent
from mailroom.domain.conversation import Status
from mailroom.domain.team import Team
from mailroom.inbox.directory import upsert_mailbox, upsert_user
from mailroom.routing import wiring as routing_wiring
from mailroom.routing.service import sweep_queues
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Table
from mailroom.table.items import get_conversation
from tests.integration.conftest import ADMIN, Api, Deliver
from tests.mailfactory import make_mail

SUPPORT, SALES = "support@acme.test", "sales@acme.test"
AGENT1, AGENT2, AGENT3 = "agent1@acme.test", "agent2@acme.test", "agent3@acme.test"
READER, FINANCE, OUTSIDER = "reader@acme.test", "finance@acme.test", "outsider@acme.test"
USERS: dict[str, tuple[str, dict[str, Access]]] = {
    AGENT1: ("agent", {SUPPORT: Access.FULL}),
    AGENT2: ("agent", {SUPPORT: Access.SEND_AS}),
    AGENT3: ("agent", {SUPPORT: Access.FULL}),
    READER: ("agent", {SUPPORT: Access.READ_ONLY}),
    FINANCE: ("finance", {SUPPORT: Access.READ_ONLY}),
    OUTSIDER: ("agent", {SALES: Access.FULL}),
}


@dataclass
class World:
    conversation: str  # alice's first conversation in support@
    message_id: str  # its Message-ID


@pytest.fixture
def world(deliver: Deliver, table: Table, api: Api) -> World:
    outcome = deliver(make_mail(message_id="<m1@example.com>"), [SUPPORT]).outcomes[0]
    upsert_mailbox(table, SALES, name="Sales")
    for email, (role, access) in USERS.items():
        upsert_user(table, email, name=email.split("@")[0].title(), role=role)
        for mailbox, level in access.items():
            grant(table, mailbox, email, level)
    store = AssignmentStore(table)
    for agent in (AGENT1, AGENT2, AGENT3):
        store.put_agent(Agent(id=agent, name=agent, capacity=5))
    store.put_team(Team(id="support", name="Support", members=[AGENT1, AGENT3]))
    store.put_team(Team(id="billing", name="Billing", members=[AGENT2]))
    return World(conversation=outcome["conversation_id"], message_id="m1@example.com")


def post(api: Api, path: str, body: dict[str, Any] | None = None, *, user: str = ADMIN) -> tuple[int, Any]:
    status, _, payload = api("POST", path, body=json.dumps(body) if body is not None else None, user=user)
    return status, payload


def open_count(table: Table, agent: str) -> int:
    found = AssignmentStore(table).get_agent(agent)
    assert found is not None
    return found.open_count


def indexed_load(table: Table, agent: str) -> int:
    """The agent's conversations that count as load, from the ByAssigneeStatus index."""
    total = 0
    for status in (Status.OPEN, Status.PENDING, Status.SNOOZED):
        total += len(
            table.query_all(
                key_condition=Condition(
                    "#pk = :pk",
                    {"#pk": schema.BY_ASSIGNEE_STATUS.pk},
                    {":pk": f"{keys.agent_pk(agent)}#STATUS#{status.value}"},
                ),
                index=schema.BY_ASSIGNEE_STATUS.name,
            )
        )
    return total


def assert_loads(table: Table, expected: dict[str, int]) -> None:
    for agent, count in expected.items():
        assert (agent, open_count(table, agent)) == (agent, count)
        assert (agent, indexed_load(table, agent)) == (agent, count)


def events(api: Api, conversation_id: str, kind: str) -> list[dict[str, Any]]:
    status, _, detail = api("GET", f"/api/conversations/{conversation_id}")
    assert status == 200
    return [event for event in detail["events"] if event["type"] == kind]


def detail(api: Api, conversation_id: str, *, user: str = ADMIN) -> dict[str, Any]:
    status, _, body = api("GET", f"/api/conversations/{conversation_id}", user=user)
    assert status == 200
    found: dict[str, Any] = body
    return found


def message_text(payload: Any) -> str:
    """The refusal's words, from our {"message"} bodies and Powertools' validation {"detail"}."""
    if "message" in payload:
        return str(payload["message"])
    return " ".join(str(error.get("msg", "")) for error in payload.get("detail", []))


# -- assignment -------------------------------------------------------------------------------------


def test_claim_then_a_second_claim_names_the_holder_and_reassign_moves_the_load(
    api: Api, world: World, table: Table
) -> None:
    conv = world.conversation
    status, body = post(api, f"/api/conversations/{conv}/claim", user=AGENT1)
    assert status == 200
    assert body["assignee"] == AGENT1
    assert body["version"] == 2

    status, again = post(api, f"/api/conversations/{conv}/claim", user=AGENT1)  # idempotent for the holder
    assert (status, again["version"]) == (200, 2)

    status, refused = post(api, f"/api/conversations/{conv}/claim", user=AGENT2)
    assert status == 409
    assert refused["holder"] == AGENT1
    assert AGENT1 in refused["message"]
    assert_loads(table, {AGENT1: 1, AGENT2: 0})

    status, body = post(api, f"/api/conversations/{conv}/assign", {"agent": AGENT2.upper()}, user=AGENT1)
    assert (status, body["assignee"]) == (200, AGENT2)
    assert_loads(table, {AGENT1: 0, AGENT2: 1})

    status, body = post(api, f"/api/conversations/{conv}/unassign", user=AGENT2)
    assert (status, body["assignee"]) == (200, None)
    assert_loads(table, {AGENT1: 0, AGENT2: 0})
    assert [e["data"]["agent"] for e in events(api, conv, "assigned")] == [AGENT1, AGENT2]
    assert [e["data"]["previous"] for e in events(api, conv, "unassigned")] == [AGENT2]


def test_assignment_respects_capacity_unless_an_admin_forces_it(api: Api, world: World, table: Table) -> None:
    AssignmentStore(table).put_agent(Agent(id=AGENT2, name="full", capacity=0))
    path = f"/api/conversations/{world.conversation}/assign"

    status, refused = post(api, path, {"agent": AGENT2}, user=AGENT1)
    assert status == 409
    assert "capacity" in refused["message"]

    status, refused = post(api, path, {"agent": AGENT2, "force": True}, user=AGENT1)
    assert status == 403
    assert "admin" in refused["message"]

    status, refused = post(api, path, {"agent": AGENT2})  # an admin, without force
    assert status == 409

    status, body = post(api, path, {"agent": AGENT2, "force": True})
    assert (status, body["assignee"]) == (200, AGENT2)
    assert_loads(table, {AGENT2: 1})


def test_assign_refuses_unknown_agents_and_people_who_cannot_work_in_the_mailbox(
    api: Api, world: World, table: Table
) -> None:
    path = f"/api/conversations/{world.conversation}/assign"
    AssignmentStore(table).put_agent(Agent(id=OUTSIDER, name="outsider"))
    for agent in (OUTSIDER, READER, "ghost@acme.test"):
        status, refused = post(api, path, {"agent": agent})
        assert status == 422, agent
        assert agent in refused["message"]
    status, refused = post(api, path, {"agent": "not an address"})
    assert status == 422
    assert "email" in message_text(refused)
    status, refused = post(api, path, {"agent": AGENT1, "colour": "red"})  # unknown fields are refused
    assert status == 422
    assert get_conversation(table, world.conversation).assignee is None  # type: ignore[union-attr]


def test_transfer_keeps_a_member_and_drops_an_assignee_who_is_not_one(
    api: Api, world: World, table: Table
) -> None:
    conv = world.conversation
    assert post(api, f"/api/conversations/{conv}/claim", user=AGENT1)[0] == 200

    status, body = post(api, f"/api/conversations/{conv}/transfer", {"team": "support"}, user=AGENT1)
    assert (status, body["team"], body["assignee"]) == (200, "support", AGENT1)  # AGENT1 is a member
    assert_loads(table, {AGENT1: 1})

    status, body = post(api, f"/api/conversations/{conv}/transfer", {"team": "billing"}, user=AGENT1)
    assert (status, body["team"], body["assignee"]) == (200, "billing", None)
    assert_loads(table, {AGENT1: 0, AGENT2: 0})
    transferred = events(api, conv, "transferred")
    assert [(e["data"]["team"], e["data"].get("previous_team")) for e in transferred] == [
        ("support", None),
        ("billing", "support"),
    ]
    assert transferred[-1]["data"]["unassigned"] == AGENT1
    assert events(api, conv, "unassigned")[-1]["data"]["reason"] == "not a member of team billing"

    status, refused = post(api, f"/api/conversations/{conv}/transfer", {"team": "nope"}, user=AGENT1)
    assert status == 422
    assert "nope" in refused["message"]
    status, refused = post(api, f"/api/conversations/{conv}/transfer", {"team": "Not A Slug"}, user=AGENT1)
    assert status == 422


def test_tags_are_normalized_deduplicated_and_removable(api: Api, world: World) -> None:
    path = f"/api/conversations/{world.conversation}/tags"
    status, body = post(api, path, {"tag": "  Billing  Issue "}, user=AGENT1)
    assert (status, body["tags"]) == (200, ["billing-issue"])
    version = body["version"]

    status, body = post(api, path, {"tag": "BILLING_issue"}, user=AGENT1)
    assert (status, body["tags"], body["version"]) == (200, ["billing-issue"], version)  # no write

    for bad in ("!!!", "", "x" * 65, "café"):
        status, refused = post(api, path, {"tag": bad}, user=AGENT1)
        assert status == 422, bad
        assert message_text(refused), bad

    status, _, body = api("DELETE", f"{path}/Billing-Issue", user=AGENT1)
    assert (status, body["tags"]) == (200, [])
    status, _, body = api("DELETE", f"{path}/billing-issue", user=AGENT1)
    assert (status, body["version"]) == (200, version + 1)  # already gone: nothing written
    assert [e["data"]["tags"] for e in events(api, world.conversation, "tagged")] == [["billing-issue"]]
    assert [e["data"]["tags"] for e in events(api, world.conversation, "untagged")] == [["billing-issue"]]


def test_status_changes_keep_the_load_right_and_validate_snoozing(
    api: Api, world: World, table: Table
) -> None:
    conv = world.conversation
    path = f"/api/conversations/{conv}/status"
    assert post(api, f"/api/conversations/{conv}/claim", user=AGENT1)[0] == 200
    expected = [("closed", 0), ("open", 1), ("pending", 1), ("closed", 0), ("closed", 0)]
    for status_name, load in expected:
        status, body = post(api, path, {"status": status_name}, user=AGENT1)
        assert (status, body["status"]) == (200, status_name)
        assert_loads(table, {AGENT1: load})

    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    status, refused = post(api, path, {"status": "snoozed", "snooze_until": past}, user=AGENT1)
    assert status == 422
    assert "future" in refused["message"]
    for bad in (
        {"status": "snoozed"},
        {"status": "open", "snooze_until": (datetime.now(UTC) + timedelta(hours=1)).isoformat()},
        {"status": "spam"},
        {"status": "snoozed", "snooze_until": "2099-01-01T00:00:00"},  # no UTC offset
    ):
        status, refused = post(api, path, bad, user=AGENT1)
        assert status == 422, bad
        assert message_text(refused), bad
    assert get_conversation(table, conv).status is Status.CLOSED  # type: ignore[union-attr]

    until = datetime.now(UTC) + timedelta(days=2)
    status, body = post(api, path, {"status": "snoozed", "snooze_until": until.isoformat()}, user=AGENT1)
    assert (status, body["status"]) == (200, "snoozed")
    assert body["snoozed_until"].startswith(until.strftime("%Y-%m-%dT%H:%M"))
    assert_loads(table, {AGENT1: 1})  # snoozed counts as the owner's work
    changed = events(api, conv, "status_changed")
    assert [e["data"]["status"] for e in changed] == ["closed", "open", "pending", "closed", "snoozed"]


def test_a_stale_seen_version_is_refused_with_the_current_state(api: Api, world: World, table: Table) -> None:
    conv = world.conversation
    seen = detail(api, conv)["version"]
    assert post(api, f"/api/conversations/{conv}/tags", {"tag": "vip"}, user=AGENT2)[0] == 200

    for path, body in (
        ("status", {"status": "closed", "seen_version": seen}),
        ("claim", {"seen_version": seen}),
        ("assign", {"agent": AGENT1, "seen_version": seen}),
        ("tags", {"tag": "other", "seen_version": seen}),
        ("notes", {"text": "hello", "seen_version": seen}),
    ):
        status, refused = post(api, f"/api/conversations/{conv}/{path}", body, user=AGENT1)
        assert status == 409, path
        assert refused["conversation"]["version"] == seen + 1
        assert refused["conversation"]["tags"] == ["vip"]
        assert len(refused["changes"]) == 1
        assert "tagged" in refused["changes"][0]
        assert AGENT2 in refused["changes"][0]
    after = get_conversation(table, conv)
    assert after is not None
    assert (after.version, after.status, after.assignee, after.tags) == (seen + 1, Status.OPEN, None, ["vip"])

    status, body = post(
        api, f"/api/conversations/{conv}/status", {"status": "closed", "seen_version": seen + 1}
    )
    assert (status, body["status"], body["version"]) == (200, "closed", seen + 2)


# -- authorization ----------------------------------------------------------------------------------

WRITES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "claim", None),
    ("POST", "assign", {"agent": AGENT1}),
    ("POST", "unassign", None),
    ("POST", "transfer", {"team": "support"}),
    ("POST", "tags", {"tag": "x"}),
    ("DELETE", "tags/x", None),
    ("POST", "status", {"status": "closed"}),
    ("POST", "merge", {"into": "cdoesnotexist1"}),
    ("POST", "notes", {"text": "hi"}),
]


@pytest.mark.parametrize("write", WRITES, ids=[w[1] for w in WRITES])
def test_who_may_act(
    api: Api, world: World, table: Table, write: tuple[str, str, dict[str, Any] | None]
) -> None:
    method, suffix, body = write
    before = get_conversation(table, world.conversation)
    for user, expected in ((OUTSIDER, 404), (READER, 403), (FINANCE, 403)):
        path = f"/api/conversations/{world.conversation}/{suffix}"
        status, _, payload = api(method, path, body=json.dumps(body) if body else None, user=user)
        assert (user, status) == (user, expected)
        assert payload["message"]
        missing, _, _ = api(
            method,
            f"/api/conversations/cdoesnotexist1/{suffix}",
            body=json.dumps(body) if body else None,
            user=user,
        )
        assert missing == 404
    assert get_conversation(table, world.conversation) == before  # nothing was written


def test_notes_are_hidden_from_outsiders_and_finance(api: Api, world: World) -> None:
    conv = world.conversation
    status, _ = post(
        api, f"/api/conversations/{conv}/notes", {"text": "internal: refund approved"}, user=AGENT1
    )
    assert status == 201
    assert api("GET", f"/api/conversations/{conv}/notes", user=OUTSIDER)[0] == 404
    assert api("GET", f"/api/conversations/{conv}/notes", user=FINANCE)[0] == 403
    status, _, listing = api("GET", f"/api/conversations/{conv}/notes", user=READER)
    assert (status, [n["text"] for n in listing["items"]]) == (200, ["internal: refund approved"])
    assert [n["text"] for n in detail(api, conv, user=FINANCE)["notes"]] == [""]
    assert [n["text"] for n in detail(api, conv, user=READER)["notes"]] == ["internal: refund approved"]
    assert [n["author"] for n in detail(api, conv, user=FINANCE)["notes"]] == [AGENT1]


# -- snooze -----------------------------------------------------------------------------------------


def test_the_sweep_wakes_a_snoozed_conversation_when_its_time_comes(
    api: Api, world: World, table: Table
) -> None:
    conv = world.conversation
    assert post(api, f"/api/conversations/{conv}/claim", user=AGENT1)[0] == 200
    until = datetime.now(UTC) + timedelta(hours=1)
    status, body = post(
        api, f"/api/conversations/{conv}/status", {"status": "snoozed", "snooze_until": until.isoformat()}
    )
    assert (status, body["status"]) == (200, "snoozed")
    router = routing_wiring.router()

    sweep_queues(router, at=until - timedelta(minutes=1))
    still = get_conversation(table, conv)
    assert still is not None
    assert (still.status, still.snoozed_until is not None) == (Status.SNOOZED, True)

    sweep_queues(router, at=until + timedelta(minutes=1))
    woken = get_conversation(table, conv)
    assert woken is not None
    assert (woken.status, woken.snoozed_until, woken.assignee) == (Status.OPEN, None, AGENT1)
    assert woken.version == still.version + 1
    woke = events(api, conv, "woke")
    assert len(woke) == 1
    assert (woke[0]["actor"], woke[0]["data"]["reason"]) == ("system", "snooze ended")
    assert_loads(table, {AGENT1: 1})

    sweep_queues(router, at=until + timedelta(minutes=2))  # nothing left to wake
    assert get_conversation(table, conv) == woken
    status, _, listed = api("GET", "/api/conversations", "status=snoozed")
    assert listed["items"] == []


def test_a_customer_reply_reopens_a_snoozed_conversation_and_clears_its_time(
    api: Api, world: World, deliver: Deliver, table: Table
) -> None:
    conv = world.conversation
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert (
        post(api, f"/api/conversations/{conv}/status", {"status": "snoozed", "snooze_until": until})[0] == 200
    )
    reply = make_mail(
        subject="Re: Printer on fire", message_id="<m2@example.com>", in_reply_to="<m1@example.com>"
    )
    assert deliver(reply, [SUPPORT]).outcomes[0]["conversation_id"] == conv
    reopened = get_conversation(table, conv)
    assert reopened is not None
    assert (reopened.status, reopened.snoozed_until) == (Status.OPEN, None)


# -- merge ------------------------------------------------------------------------------------------


def second_conversation(deliver: Deliver, *, sender: str = "Alice Customer <alice@example.com>") -> str:
    mail = make_mail(
        subject="Another question", message_id="<n1@example.com>", sender=sender, body="Also this."
    )
    outcome = deliver(mail, [SUPPORT], received_at=datetime.now(UTC) + timedelta(seconds=1)).outcomes[0]
    assert outcome["new_conversation"]
    conversation_id: str = outcome["conversation_id"]
    return conversation_id


def test_merge_moves_the_thread_and_future_replies_into_the_primary(
    api: Api, world: World, deliver: Deliver, table: Table
) -> None:
    primary = world.conversation
    secondary = second_conversation(deliver)
    assert post(api, f"/api/conversations/{secondary}/claim", user=AGENT1)[0] == 200
    assert post(api, f"/api/conversations/{secondary}/notes", {"text": "asked twice"}, user=AGENT1)[0] == 201
    assert post(api, f"/api/conversations/{secondary}/tags", {"tag": "dup"}, user=AGENT1)[0] == 200
    assert post(api, f"/api/conversations/{primary}/status", {"status": "closed"}, user=AGENT1)[0] == 200
    assert_loads(table, {AGENT1: 1})

    status, body = post(api, f"/api/conversations/{secondary}/merge", {"into": primary}, user=AGENT1)
    assert status == 200
    assert body["merged"]["merged_into"] == primary
    assert body["merged"]["status"] == "closed"
    assert body["conversation"]["merged_from"] == [secondary]
    assert body["conversation"]["status"] == "open"  # the open request reopened the closed primary
    assert body["conversation"]["message_count"] == 2
    assert "dup" in body["conversation"]["tags"]
    assert_loads(table, {AGENT1: 0})  # the secondary (held by AGENT1) is closed; the primary is unassigned

    thread = detail(api, primary)
    assert sorted(m["message_id"] for m in thread["messages"]) == ["m1@example.com", "n1@example.com"]
    assert [n["text"] for n in thread["notes"]] == ["asked twice"]
    assert {e["type"] for e in thread["events"]} >= {"created", "assigned", "tagged", "note_added", "merged"}
    assert [e["data"]["from"] for e in thread["events"] if e["type"] == "merged" and "from" in e["data"]] == [
        secondary
    ]
    merged_events = [e for e in detail(api, secondary)["events"] if e["type"] == "merged"]
    assert [e["data"]["into"] for e in merged_events] == [primary]

    # The customer answers the secondary's message, then writes to its reply token: both land in the primary.
    reply = make_mail(
        subject="Re: Another question", message_id="<n2@example.com>", in_reply_to="<n1@example.com>"
    )
    assert deliver(reply, [SUPPORT]).outcomes[0]["conversation_id"] == primary
    token = make_mail(
        subject="Something else", message_id="<n3@example.com>", to=f"support+{secondary}@acme.test"
    )
    assert deliver(token, [f"support+{secondary}@acme.test"]).outcomes[0]["conversation_id"] == primary
    after = get_conversation(table, primary)
    assert after is not None
    assert after.message_count == 4 == len(detail(api, primary)["messages"])
    left = get_conversation(table, secondary)
    assert left is not None
    assert (left.status, left.message_count, left.merged_into) == (Status.CLOSED, 1, primary)
    index = table.get(
        {schema.PK: keys.message_id_pk("n1@example.com"), schema.SK: keys.message_id_sk(SUPPORT)}
    )
    assert index is not None
    assert index["conversation_id"] == primary

    # The merged conversation takes no more actions; merging it again is a no-op that answers the same.
    status, refused = post(api, f"/api/conversations/{secondary}/claim", user=AGENT2)
    assert (status, refused["merged_into"]) == (409, primary)
    status, again = post(api, f"/api/conversations/{secondary}/merge", {"into": primary}, user=AGENT1)
    assert (status, again["conversation"]["message_count"]) == (200, 4)
    assert len(detail(api, primary)["messages"]) == 4


def test_merge_refuses_other_contacts_itself_and_hidden_conversations(
    api: Api, world: World, deliver: Deliver
) -> None:
    primary = world.conversation
    other = second_conversation(deliver, sender="Bob <bob@example.com>")
    status, refused = post(api, f"/api/conversations/{other}/merge", {"into": primary}, user=AGENT1)
    assert status == 422
    assert "same contact" in refused["message"]
    status, refused = post(api, f"/api/conversations/{primary}/merge", {"into": primary}, user=AGENT1)
    assert (status, "itself" in refused["message"]) == (422, True)
    hidden = deliver(make_mail(message_id="<s1@example.com>", to=SALES), [SALES]).outcomes[0][
        "conversation_id"
    ]
    status, hidden_refusal = post(api, f"/api/conversations/{primary}/merge", {"into": hidden}, user=AGENT1)
    status_missing, missing = post(
        api, f"/api/conversations/{primary}/merge", {"into": "cdoesnotexist1"}, user=AGENT1
    )
    assert status == status_missing == 422
    assert hidden_refusal["message"].replace(hidden, "X") == missing["message"].replace("cdoesnotexist1", "X")
    status, refused = post(api, f"/api/conversations/{primary}/merge", {"into": hidden})  # an admin sees both
    assert (status, "same mailbox" in refused["message"]) == (422, True)
    status, refused = post(api, f"/api/conversations/{primary}/merge", {"other": other}, user=AGENT1)
    assert status == 422


def test_a_merge_that_failed_midway_is_finished_by_a_retry_without_duplicates(
    api: Api, world: World, deliver: Deliver, table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    primary = world.conversation
    secondary = second_conversation(deliver)
    for n in range(3):
        assert (
            post(api, f"/api/conversations/{secondary}/notes", {"text": f"note {n}"}, user=AGENT1)[0] == 201
        )
    assert post(api, f"/api/conversations/{secondary}/claim", user=AGENT1)[0] == 200
    assert post(api, f"/api/conversations/{primary}/claim", user=AGENT3)[0] == 200
    assert_loads(table, {AGENT1: 1, AGENT3: 1})

    # Copy one item per transaction and fail the third transaction of the merge: after the commit
    # and one copied item, before the Message-ID index is repointed.
    monkeypatch.setattr(merge_module, "COPY_BATCH", 1)
    original = Table.transact_write
    calls: list[int] = []

    def flaky(self: Table, actions: Sequence[Any], *, token: str | None = None) -> None:
        calls.append(len(actions))
        if len(calls) == 3:
            raise RuntimeError("simulated crash in the middle of a merge")
        original(self, actions, token=token)

    monkeypatch.setattr(Table, "transact_write", flaky)
    with pytest.raises(RuntimeError, match="simulated crash"):
        post(api, f"/api/conversations/{secondary}/merge", {"into": primary}, user=AGENT1)
    monkeypatch.setattr(Table, "transact_write", original)

    half = get_conversation(table, secondary)
    assert half is not None
    assert half.merged_into == primary  # committed; the copy is incomplete
    assert len(detail(api, primary)["messages"]) < 2
    index = table.get(
        {schema.PK: keys.message_id_pk("n1@example.com"), schema.SK: keys.message_id_sk(SUPPORT)}
    )
    assert index is not None
    assert index["conversation_id"] == secondary

    # A reply arriving now already goes to the primary (ingest follows merged_into).
    reply = make_mail(
        subject="Re: Another question", message_id="<n2@example.com>", in_reply_to="<n1@example.com>"
    )
    assert deliver(reply, [SUPPORT]).outcomes[0]["conversation_id"] == primary

    for _ in range(2):  # the retry finishes it; one more changes nothing
        status, body = post(api, f"/api/conversations/{secondary}/merge", {"into": primary}, user=AGENT1)
        assert status == 200
        thread = detail(api, primary)
        keys_seen = [m["id"] for m in thread["messages"]]
        assert len(keys_seen) == len(set(keys_seen)) == 3 == body["conversation"]["message_count"]
        assert sorted(n["text"] for n in thread["notes"]) == ["note 0", "note 1", "note 2"]
        event_ids = [e["id"] for e in thread["events"]]
        assert len(event_ids) == len(set(event_ids))
        assert len([e for e in thread["events"] if e["type"] == "merged" and "from" in e["data"]]) == 1
    index = table.get(
        {schema.PK: keys.message_id_pk("n1@example.com"), schema.SK: keys.message_id_sk(SUPPORT)}
    )
    assert index is not None
    assert index["conversation_id"] == primary
    assert_loads(table, {AGENT1: 0, AGENT3: 1})


# -- notes and mentions -----------------------------------------------------------------------------


def test_a_note_mentions_colleagues_who_see_it_in_their_mentions(
    api: Api, world: World, table: Table
) -> None:
    conv = world.conversation
    text = "@agent2 can you check the invoice? cc @agent3@acme.test @finance @nobody, thanks @agent1."
    status, body = post(api, f"/api/conversations/{conv}/notes", {"text": text}, user=AGENT1)
    assert status == 201
    assert body["note"]["text"] == text
    assert body["note"]["mentions"] == [AGENT2, AGENT3, AGENT1]
    assert body["unresolved_mentions"] == ["finance", "nobody"]  # finance never reads notes
    assert body["conversation"]["version"] == 2
    assert [e["data"]["mentions"] for e in events(api, conv, "note_added")] == [[AGENT2, AGENT3, AGENT1]]

    status, _, mine = api("GET", "/api/mentions", user=AGENT2)
    assert status == 200
    [mention] = mine["items"]
    assert (mention["conversation_id"], mention["subject"], mention["author"]) == (
        conv,
        "Printer on fire",
        AGENT1,
    )
    assert mention["snippet"].startswith("@agent2 can you check")
    assert mention["read"] is False
    assert api("GET", "/api/mentions", user=AGENT1)[2]["items"] == []  # writing @me notifies nobody
    assert api("GET", "/api/mentions", user=FINANCE)[2]["items"] == []
    assert len(api("GET", "/api/mentions", user=AGENT3)[2]["items"]) == 1

    status, read = post(api, "/api/mentions/read", {"ids": [mention["id"]]}, user=AGENT2)
    assert (status, read["updated"]) == (200, 1)
    assert api("GET", "/api/mentions", user=AGENT2)[2]["items"][0]["read"] is True
    assert api("GET", "/api/mentions", "unread=true", user=AGENT2)[2]["items"] == []
    status, read = post(api, "/api/mentions/read", {"all": True}, user=AGENT3)
    assert (status, read["updated"]) == (200, 1)
    assert api("GET", "/api/mentions", "unread=true", user=AGENT3)[2]["items"] == []
    status, refused = post(api, "/api/mentions/read", {}, user=AGENT3)
    assert status == 422
    assert "either ids" in refused["message"]

    # Losing access to the mailbox hides the mention.
    grant(table, SUPPORT, AGENT2, None)
    assert api("GET", "/api/mentions", user=AGENT2)[2]["items"] == []


def test_mentions_page_newest_first_with_a_cursor(api: Api, world: World) -> None:
    conv = world.conversation
    for n in range(5):
        assert (
            post(api, f"/api/conversations/{conv}/notes", {"text": f"@agent2 number {n}"}, user=AGENT1)[0]
            == 201
        )
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, _, page = api("GET", "/api/mentions", query, user=AGENT2)
        assert status == 200
        seen += [item["snippet"] for item in page["items"]]
        cursor = page["next_cursor"]
        pages += 1
        if cursor is None:
            break
    assert seen == [f"@agent2 number {n}" for n in (4, 3, 2, 1, 0)]
    assert pages == 3
    assert api("GET", "/api/mentions", "cursor=garbage", user=AGENT2)[0] in {400, 422}


def test_note_validation(api: Api, world: World) -> None:
    path = f"/api/conversations/{world.conversation}/notes"
    for body in ({"text": "   "}, {"text": "x" * 20_001}, {}, {"text": "ok", "to": "customer"}):
        status, refused = post(api, path, body, user=AGENT1)
        assert status == 422, body
        assert message_text(refused), body
    assert post(api, path, {"text": "x" * 20_000}, user=AGENT1)[0] == 201


def test_the_openapi_document_describes_the_action_routes(api: Api) -> None:
    status, _, document = api("GET", "/api/openapi.json", user=None)
    assert status == 200
    paths = document["paths"]
    for path in (
        "/api/conversations/{conversation_id}/claim",
        "/api/conversations/{conversation_id}/merge",
        "/api/conversations/{conversation_id}/tags/{tag}",
        "/api/mentions",
        "/api/mentions/read",
    ):
        assert path in paths, path
    assert "AssignRequest" in json.dumps(document["components"])
