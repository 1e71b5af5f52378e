"""schemathesis against the OpenAPI document the reply function serves: the real handler behind the
sandbox's API Gateway stand-in on 127.0.0.1, DynamoDB Local behind it, an admin's bearer token.

For every operation, requests generated from the document (valid ones, with the ids of a seeded
world or generated ones, and invalid ones) must never get a 5xx, and every answer's status code and
body must be what the document declares: the document describes what the API really returns,
refusals included.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err, Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mailroom.table.client import Table
from sandbox.http_gateway import HttpGateway
from sandbox.lambda_context import make_context
from tests.integration.conftest import ADMIN, Api, as_user
from tests.integration.test_authorization_matrix import FINANCE, SALES, world

__all__ = ["world"]  # the authorization matrix's seeded world: conversations, users, a team, a reply

# Requests per operation (valid, invalid, and with the world's ids): 6 with the default profile, so
# the ~65 operations take about 400 requests (each one a real handler run on DynamoDB Local, with its
# cost metering); HYPOTHESIS_PROFILE=thorough makes it 60 each.
EXAMPLES = max(4, settings().max_examples // 25)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def base_url(env: Path, table: Table) -> Iterator[str]:
    """The reply function behind the sandbox's HTTP stand-in, on a free port of 127.0.0.1."""
    from functions.reply.handler import handler

    gateway = HttpGateway(
        host="127.0.0.1",
        port=0,
        handler=handler,
        context_factory=lambda: make_context("mailroom-reply", 512, 29),
    )
    gateway.start()
    try:
        yield f"http://127.0.0.1:{gateway.port}"
    finally:
        gateway.stop()


def known_ids(world: dict[str, str]) -> dict[str, str]:
    """Real values for the path parameters, so generated requests also reach existing things."""
    return {
        "conversation_id": world["conversation"],
        "message_key": world["message"],
        "canned_id": "authz-canned",
        "team_id": "authz-team",
        "address": SALES,
        "email": FINANCE,
        "idempotency_key": "authz-reply-0001",
        "index": "0",
        "version": "0",
    }


def strategy(operation: Any, ids: dict[str, str]) -> st.SearchStrategy[Any]:
    names = {parameter.name for parameter in operation.path_parameters}
    real = {name: value for name, value in ids.items() if name in names}
    modes = [
        operation.as_strategy(),
        operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
    ]
    if real:
        modes.append(operation.as_strategy(path_parameters=real))
    return st.one_of(modes)


def flattened(exc: BaseException) -> str:
    """An error and, for a group (schemathesis reports each failed check), every error in it."""
    if isinstance(exc, BaseExceptionGroup):
        return f"{exc}\n" + "\n".join(flattened(inner) for inner in exc.exceptions)
    cause = exc.__cause__ or exc.__context__
    return f"{type(exc).__name__}: {exc}" + (f"\n  caused by {flattened(cause)}" if cause else "")


def test_every_operation_answers_as_documented(base_url: str, world: dict[str, str], api: Api) -> None:
    schema = schemathesis.openapi.from_url(f"{base_url}/api/openapi.json")
    headers = as_user(ADMIN)
    ids = known_ids(world)
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    results = list(schema.get_all_operations())
    assert [result.err() for result in results if isinstance(result, Err)] == []  # all of it understood
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],  # a failure is reported as found: no shrinking
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy(operation, ids))
        def check(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers)
            statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # every operation's failures, then one report
            failures.append(f"{operation.label}: {flattened(exc)}")
    print(f"schemathesis: {statuses.total()} requests, {len(operations)} operations, {dict(statuses)}")
    assert len(operations) >= 60
    assert statuses.total() >= len(operations)  # every operation was called
    assert failures == [], "\n\n".join(failures)
