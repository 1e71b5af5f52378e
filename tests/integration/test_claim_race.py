"""Racing claims through the reply handler against DynamoDB Local.

Each contender is its own process running the real handler, as concurrent Lambda invocations run
in separate execution environments. (Threads would not do: a Powertools resolver keeps the
current request on the app object, which one process's concurrent requests would share.) All
contenders wait at a barrier, then send their request at once; several rounds each.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mailroom.assignment.store import AssignmentStore
from mailroom.auth.model import Access
from mailroom.auth.permissions_store import grant
from mailroom.domain.agent import Agent
from mailroom.domain.conversation import Status
from mailroom.inbox.directory import upsert_user
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Table
from mailroom.table.items import get_conversation
from tests.integration.conftest import ADMIN, Api, Deliver, bearer, http_event
from tests.mailfactory import make_mail

SUPPORT = "support@acme.test"
ROUNDS = 3
CLAIMANTS = [f"agent{n}@acme.test" for n in range(6)]
TARGET = "target@acme.test"  # whom the admin assigns to while agents race to claim

# (method, path, body, bearer token) for one request
Call = tuple[str, str, str | None, str]


def contender(index: int, env: dict[str, str], calls: list[Call], barrier: Any, results: Any) -> None:
    """One process: the reply handler, one request per round, each released by the barrier."""
    os.environ.update(env)
    from functions.reply.handler import handler
    from sandbox.lambda_context import make_context

    for round_, (method, path, body, token) in enumerate(calls):
        barrier.wait(timeout=120)
        try:
            event = http_event(method, path, body=body, headers={"authorization": f"Bearer {token}"})
            response = handler(event, make_context("mailroom-reply", 512, 29))
            results.put((index, round_, response["statusCode"], json.loads(response.get("body") or "null")))
        except Exception as exc:  # reported to the test, which fails on it
            results.put((index, round_, 0, {"message": repr(exc)}))


def race(per_contender: list[list[Call]]) -> dict[tuple[int, int], tuple[int, Any]]:
    """Run one process per contender, every round released at once; (contender, round) → answer."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(per_contender))
    results = context.Queue()
    env = {k: v for k, v in os.environ.items() if k.startswith(("MAILROOM_", "AWS_", "POWERTOOLS_"))}
    processes = [
        context.Process(target=contender, args=(index, env, calls, barrier, results))
        for index, calls in enumerate(per_contender)
    ]
    for process in processes:
        process.start()
    answers: dict[tuple[int, int], tuple[int, Any]] = {}
    try:
        for _ in range(sum(len(calls) for calls in per_contender)):
            index, round_, status, body = results.get(timeout=300)
            answers[(index, round_)] = (status, body)
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
    return answers


@pytest.fixture
def conversations(deliver: Deliver, table: Table, api: Api) -> list[str]:
    start = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    ids = [
        deliver(
            make_mail(subject=f"Race {n}", message_id=f"<race{n}@example.com>", sender=f"c{n}@example.com"),
            [SUPPORT],
            received_at=start + timedelta(minutes=n),
        ).outcomes[0]["conversation_id"]
        for n in range(ROUNDS)
    ]
    store = AssignmentStore(table)
    for agent in [*CLAIMANTS, TARGET]:
        upsert_user(table, agent, name=agent, role="agent")
        grant(table, SUPPORT, agent, Access.FULL)
        store.put_agent(Agent(id=agent, name=agent, capacity=ROUNDS))
    return ids


def indexed_load(table: Table, agent: str) -> int:
    """The agent's conversations that count as load, from the ByAssigneeStatus index."""
    return sum(
        len(
            table.query_all(
                key_condition=Condition(
                    "#pk = :pk",
                    {"#pk": schema.BY_ASSIGNEE_STATUS.pk},
                    {":pk": f"{keys.agent_pk(agent)}#STATUS#{status.value}"},
                ),
                index=schema.BY_ASSIGNEE_STATUS.name,
            )
        )
        for status in (Status.OPEN, Status.PENDING, Status.SNOOZED)
    )


def claim_calls(agent: str, conversation_ids: list[str]) -> list[Call]:
    return [("POST", f"/api/conversations/{c}/claim", None, bearer(agent)) for c in conversation_ids]


def test_racing_claims_exactly_one_wins_and_the_others_are_told_who(
    table: Table, conversations: list[str]
) -> None:
    answers = race([claim_calls(agent, conversations) for agent in CLAIMANTS])
    store = AssignmentStore(table)
    wins: Counter[str] = Counter()
    for round_, conversation_id in enumerate(conversations):
        round_answers = {CLAIMANTS[i]: answers[(i, round_)] for i in range(len(CLAIMANTS))}
        winners = [agent for agent, (status, _) in round_answers.items() if status == 200]
        assert len(winners) == 1, round_answers
        [winner] = winners
        wins[winner] += 1
        conv = get_conversation(table, conversation_id)
        assert conv is not None
        assert conv.assignee == winner
        assert conv.version == 2  # one write: the winning claim
        assert round_answers[winner][1]["assignee"] == winner
        for agent, (status, body) in round_answers.items():
            if agent != winner:
                assert status == 409, (agent, body)
                assert body["holder"] == winner
                assert winner in body["message"]
    for agent in CLAIMANTS:
        profile = store.get_agent(agent)
        assert profile is not None
        assert profile.open_count == wins[agent] == indexed_load(table, agent)


def test_an_admin_assigning_while_agents_claim_leaves_one_holder_and_exact_loads(
    table: Table, conversations: list[str]
) -> None:
    admin_calls: list[Call] = [
        ("POST", f"/api/conversations/{c}/assign", json.dumps({"agent": TARGET}), bearer(ADMIN))
        for c in conversations
    ]
    claimants = CLAIMANTS[:4]
    answers = race([admin_calls, *[claim_calls(agent, conversations) for agent in claimants]])
    store = AssignmentStore(table)
    for round_, conversation_id in enumerate(conversations):
        status, body = answers[(0, round_)]
        assert status == 200, body
        assert body["assignee"] == TARGET  # an explicit assignment takes it from a claimant, if one won
        claim_answers = [answers[(i + 1, round_)] for i in range(len(claimants))]
        claim_winners = [claimants[i] for i, (status, _) in enumerate(claim_answers) if status == 200]
        assert len(claim_winners) <= 1, claim_answers
        for status, refused in claim_answers:
            if status != 200:
                assert status == 409, refused
                assert refused["holder"] in {TARGET, *claim_winners}
        conv = get_conversation(table, conversation_id)
        assert conv is not None
        assert conv.assignee == TARGET
        assert conv.version == 2 + len(claim_winners)
    target = store.get_agent(TARGET)
    assert target is not None
    assert target.open_count == ROUNDS == indexed_load(table, TARGET)
    for agent in claimants:
        profile = store.get_agent(agent)
        assert profile is not None
        assert profile.open_count == 0 == indexed_load(table, agent)
