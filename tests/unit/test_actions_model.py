"""The pure side of conversation actions: requests, decisions, mentions, merge planning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from mailroom.actions.merge import MERGED_EVENT, copy_item
from mailroom.actions.model import (
    MAX_TAGS,
    ConversationMergedError,
    InvalidActionError,
    Mentionable,
    MentionsReadRequest,
    MergeRefusedError,
    NoteRequest,
    StatusRequest,
    TagRequest,
    check_merge,
    normalize_tag,
    parse_mentions,
    plan_merge,
    plan_status_change,
    plan_tag,
    plan_transfer,
    plan_wake,
    resolve_mentions,
    snippet,
)
from mailroom.actions.writes import load_actions
from mailroom.assignment.load import agent_key
from mailroom.domain.conversation import Conversation, Status
from mailroom.domain.event import EventType
from mailroom.domain.team import Team
from mailroom.table.client import Update

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
STAMP = "2026-11-20T09:00:00.000000Z"


def conv(**fields: Any) -> Conversation:
    base: dict[str, Any] = {
        "id": "cabc1234567",
        "mailbox": "support@acme.test",
        "subject": "Printer on fire",
        "contact_email": "alice@example.com",
        "created_at": STAMP,
        "last_message_at": STAMP,
        "last_activity_at": STAMP,
        "message_count": 1,
        "version": 3,
    }
    return Conversation.model_validate({**base, **fields})


# -- tags -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "tag"),
    [
        ("VIP", "vip"),
        ("  Billing  Issue ", "billing-issue"),
        ("a_b--c", "a-b-c"),
        ("-x-", "x"),
        ("2fa", "2fa"),
    ],
)
def test_tags_are_normalized(raw: str, tag: str) -> None:
    assert normalize_tag(raw) == tag
    assert TagRequest(tag=raw).tag == tag


@pytest.mark.parametrize("raw", ["", "   ", "---", "no!", "café", "a/b", "x" * 65])
def test_bad_tags_are_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(ValueError, match="tag"):
        normalize_tag(raw)


def test_tagging_adds_once_removes_and_is_bounded() -> None:
    change = plan_tag(conv(tags=["a"]), "b", add=True)
    assert change is not None
    assert (change.conversation.tags, change.conversation.version) == (["a", "b"], 4)
    assert [(e.type, e.data["tags"]) for e in change.events] == [(EventType.TAGGED, ["b"])]
    assert plan_tag(conv(tags=["a"]), "a", add=True) is None
    assert plan_tag(conv(tags=["a"]), "b", add=False) is None
    removed = plan_tag(conv(tags=["a", "b"]), "a", add=False)
    assert removed is not None
    assert removed.conversation.tags == ["b"]
    assert removed.events[0].type is EventType.UNTAGGED
    with pytest.raises(InvalidActionError, match="at most"):
        plan_tag(conv(tags=[f"t{n}" for n in range(MAX_TAGS)]), "one-more", add=True)


# -- status -----------------------------------------------------------------------------------------


def test_snoozing_needs_a_future_time_within_a_year() -> None:
    with pytest.raises(ValidationError, match="snooze_until"):
        StatusRequest.model_validate({"status": "snoozed"})
    with pytest.raises(ValidationError, match="only with status snoozed"):
        StatusRequest.model_validate({"status": "open", "snooze_until": NOW.isoformat()})
    with pytest.raises(ValidationError):
        StatusRequest.model_validate({"status": "snoozed", "snooze_until": "2026-12-01T00:00:00"})  # naive
    with pytest.raises(InvalidActionError, match="future"):
        plan_status_change(conv(), StatusRequest(status="snoozed", snooze_until=NOW), NOW)
    with pytest.raises(InvalidActionError, match="year"):
        plan_status_change(
            conv(),
            StatusRequest(status="snoozed", snooze_until=NOW + timedelta(days=400)),
            NOW,
        )


def test_status_changes_and_snooze_time() -> None:
    until = NOW + timedelta(hours=2)
    snoozed = plan_status_change(conv(), StatusRequest(status="snoozed", snooze_until=until), NOW)
    assert snoozed is not None
    assert (snoozed.conversation.status, snoozed.conversation.snoozed_until) == (
        Status.SNOOZED,
        "2026-11-23T12:00:00.000000Z",
    )
    assert snoozed.events[0].data == {
        "status": "snoozed",
        "previous": "open",
        "snoozed_until": "2026-11-23T12:00:00.000000Z",
        "version": 4,
    }
    again = plan_status_change(
        snoozed.conversation,
        StatusRequest(status="snoozed", snooze_until=until),
        NOW,
    )
    assert again is None  # same time: nothing to do
    closed = plan_status_change(snoozed.conversation, StatusRequest(status="closed"), NOW)
    assert closed is not None
    assert (closed.conversation.status, closed.conversation.snoozed_until) == (Status.CLOSED, None)
    assert plan_status_change(conv(status=Status.CLOSED), StatusRequest(status="closed"), NOW) is None


def test_merged_and_quarantined_conversations_are_not_changed() -> None:
    with pytest.raises(ConversationMergedError) as merged:
        plan_tag(conv(merged_into="cprimary1234"), "x", add=True)
    assert merged.value.merged_into == "cprimary1234"
    with pytest.raises(InvalidActionError, match="quarantined"):
        plan_status_change(conv(status=Status.QUARANTINED), StatusRequest(status="open"), NOW)


def test_a_snoozed_conversation_wakes_only_when_due() -> None:
    snoozed = conv(status=Status.SNOOZED, snoozed_until="2026-11-23T10:00:00.000000Z", assignee="a@acme.test")
    assert plan_wake(snoozed, NOW - timedelta(seconds=1)) is None
    woken = plan_wake(snoozed, NOW)
    assert woken is not None
    assert (woken.conversation.status, woken.conversation.snoozed_until) == (Status.OPEN, None)
    assert woken.conversation.assignee == "a@acme.test"
    assert [(e.type, e.data["reason"]) for e in woken.events] == [(EventType.WOKE, "snooze ended")]
    assert plan_wake(conv(status=Status.OPEN), NOW) is None
    assert plan_wake(conv(status=Status.SNOOZED), NOW) is not None  # no time recorded: wake it


# -- transfer ---------------------------------------------------------------------------------------


def test_transfer_drops_an_assignee_who_is_not_a_member() -> None:
    billing = Team(id="billing", name="Billing", members=["b@acme.test"])
    moved = plan_transfer(conv(team="support", assignee="a@acme.test"), billing)
    assert moved is not None
    assert (moved.conversation.team, moved.conversation.assignee) == ("billing", None)
    assert [e.type for e in moved.events] == [EventType.TRANSFERRED, EventType.UNASSIGNED]
    assert moved.events[0].data["unassigned"] == "a@acme.test"
    kept = plan_transfer(conv(team="support", assignee="B@acme.test"), billing)
    assert kept is not None
    assert kept.conversation.assignee == "B@acme.test"
    assert [e.type for e in kept.events] == [EventType.TRANSFERRED]
    assert plan_transfer(conv(team="billing"), billing) is None


def test_load_actions_sum_per_agent() -> None:
    a, b = "a@acme.test", "b@acme.test"
    closing_a = (conv(assignee=a), conv(assignee=a, status=Status.CLOSED))
    reopening_a = (conv(assignee=a, status=Status.CLOSED), conv(assignee=a))
    assert load_actions(closing_a, reopening_a) == []  # one item may appear once in a transaction
    moves = load_actions(closing_a, (conv(assignee=b, status=Status.CLOSED), conv(assignee=b)))
    assert len(moves) == 2
    assert [(u.key, u.update.values[":delta"]) for u in moves if isinstance(u, Update)] == [
        (agent_key(a), -1),
        (agent_key(b), 1),
    ]
    assert load_actions((conv(), conv(tags=["x"]))) == []


# -- merge ------------------------------------------------------------------------------------------


def test_merge_refusals() -> None:
    primary = conv(id="cprimary1234")
    with pytest.raises(MergeRefusedError, match="itself"):
        check_merge(primary, primary)
    with pytest.raises(MergeRefusedError, match="same contact"):
        check_merge(conv(contact_email="bob@example.com"), primary)
    with pytest.raises(MergeRefusedError, match="same mailbox"):
        check_merge(conv(mailbox="sales@acme.test"), primary)
    with pytest.raises(MergeRefusedError, match="merge into that one"):
        check_merge(conv(), conv(id="cprimary1234", merged_into="cthird123456"))
    with pytest.raises(ConversationMergedError):
        check_merge(conv(merged_into="cthird123456"), primary)
    with pytest.raises(MergeRefusedError, match="quarantined"):
        check_merge(conv(status=Status.QUARANTINED), primary)
    check_merge(conv(contact_email="ALICE@example.com"), primary)  # addresses compare case-insensitively


def test_merge_plan_closes_the_secondary_and_the_primary_absorbs_it() -> None:
    secondary = conv(
        status=Status.OPEN,
        assignee="a@acme.test",
        message_count=2,
        last_message_at="2026-11-22T09:00:00.000000Z",
        last_activity_at="2026-11-22T09:00:00.000000Z",
        snippet="newer",
        tags=["b", "c"],
        flags=["spam"],
        priority="high",
        waiting_since="2026-11-22T09:00:00.000000Z",
        version=5,
    )
    primary = conv(id="cprimary1234", status=Status.CLOSED, tags=["a", "b"], snippet="older", version=7)
    plan = plan_merge(secondary, primary)
    left, kept = plan.secondary.conversation, plan.primary.conversation
    assert (left.status, left.merged_into, left.version, left.assignee) == (
        Status.CLOSED,
        "cprimary1234",
        6,
        "a@acme.test",
    )
    assert (kept.status, kept.version, kept.message_count, kept.merged_from) == (
        Status.OPEN,
        8,
        3,
        [secondary.id],
    )
    assert (kept.snippet, kept.last_message_at, kept.tags, kept.flags, kept.priority) == (
        "newer",
        "2026-11-22T09:00:00.000000Z",
        ["a", "b", "c"],
        ["spam"],
        "high",
    )
    assert kept.waiting_since == "2026-11-22T09:00:00.000000Z"
    assert plan.secondary.events[0].data == {"into": "cprimary1234", "previous_status": "open", "version": 6}
    assert plan.primary.events[0].data == {
        "from": secondary.id,
        "messages": 2,
        "reopened": True,
        "version": 8,
    }
    # The load moves with the statuses: a closed secondary leaves its owner's count.
    [update] = load_actions((secondary, left), (primary, kept))
    assert isinstance(update, Update)
    assert (update.key, update.update.values[":delta"]) == (agent_key("a@acme.test"), -1)


def test_a_closed_secondary_does_not_reopen_the_primary() -> None:
    plan = plan_merge(conv(status=Status.CLOSED), conv(id="cprimary1234", status=Status.PENDING))
    assert plan.primary.conversation.status is Status.PENDING
    assert "reopened" not in plan.primary.events[0].data


def test_copies_are_idempotent_and_never_routed_or_counted_again() -> None:
    message = {
        "PK": "CONV#cabc1234567",
        "SK": "MSG#t#m1",
        "entity": "message",
        "conversation_id": "cabc1234567",
    }
    copied = copy_item({**message, "routable": True}, "cabc1234567", "cprimary1234")
    assert copied == copy_item({**message, "routable": True}, "cabc1234567", "cprimary1234")
    assert (copied["PK"], copied["SK"], copied["routable"], copied["merged_from"]) == (
        "CONV#cprimary1234",
        "MSG#t#m1",
        False,
        "cabc1234567",
    )
    event = copy_item(
        {"PK": "CONV#cabc1234567", "SK": "EVT#t#e1", "entity": "event", "data": {"x": 1}},
        "cabc1234567",
        "cp1",
    )
    assert (event["entity"], event["data"]) == (MERGED_EVENT, {"x": 1, "merged_from": "cabc1234567"})
    twice = copy_item({**copied, "merged_from": "corigin12345"}, "cprimary1234", "cthird123456")
    assert twice["merged_from"] == "corigin12345"


# -- mentions and notes -----------------------------------------------------------------------------


def test_mentions_are_parsed_from_text() -> None:
    text = (
        "@Sam please look; cc @lee@acme.test and @sam again. Mail bob@example.com, not @bob@. "
        "(@kim) @jo.doe, @x-y."
    )
    assert parse_mentions(text) == ["sam", "lee@acme.test", "bob", "kim", "jo.doe", "x-y"]
    assert parse_mentions("no mentions here, write to help@acme.test") == []


def test_mentions_resolve_to_one_person_or_nobody() -> None:
    people = [
        Mentionable("sam@acme.test"),
        Mentionable("lee@acme.test"),
        Mentionable("kim@acme.test"),
        Mentionable("kim@other.test"),
    ]
    resolved, unresolved = resolve_mentions(
        ["sam", "lee@acme.test", "kim", "kim@other.test", "nobody", "sam@acme.test"], people
    )
    assert resolved == ["sam@acme.test", "lee@acme.test", "kim@other.test"]
    assert unresolved == ["kim", "nobody"]  # "kim" names two people


def test_note_and_read_requests() -> None:
    assert NoteRequest(text="  hello  ").text == "hello"
    with pytest.raises(ValidationError, match="some text"):
        NoteRequest(text=" \n ")
    with pytest.raises(ValidationError):
        NoteRequest(text="x" * 20_001)
    with pytest.raises(ValidationError, match="either ids"):
        MentionsReadRequest()
    with pytest.raises(ValidationError):
        MentionsReadRequest(ids=["not-an-id"])
    ok = MentionsReadRequest(ids=["2026-11-23T10:00:00.000000Z#cabc1234567#nabcdefghjkmnpqrs"])
    assert len(ok.ids) == 1
    assert snippet("a  b\n\nc") == "a b c"
    assert len(snippet("x" * 500)) == 200
