"""Regression tests for what schemathesis found against the served OpenAPI document
(``test_openapi_schemathesis.py``): each was a 500, or an answer the document did not describe."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.conftest import Api
from tests.integration.test_authorization_matrix import world

__all__ = ["world"]

NOT_UTF8 = b'{"amount": "\xff\xfe"}'


def refused_as_invalid(status: int, payload: Any, *, at: list[str]) -> None:
    assert status == 422, payload
    assert payload["message"].startswith("Invalid request")
    assert [problem["loc"] for problem in payload["detail"]] == [at]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/costs/budget"),
        ("PUT", "/api/prices"),
        ("POST", "/api/notifications/read"),
        ("POST", "/api/admin/teams"),
        ("PATCH", "/api/me"),
    ],
)
def test_a_body_that_is_not_utf8_is_an_invalid_request_not_a_500(api: Api, method: str, path: str) -> None:
    status, _, payload = api(method, path, body=NOT_UTF8)

    refused_as_invalid(status, payload, at=["body"])


def test_a_budget_below_a_cent_is_refused_not_a_500(api: Api) -> None:
    # 1e-200 was a 500: DynamoDB numbers underflow below 1e-130.
    status, _, payload = api("PUT", "/api/costs/budget", body='{"amount": "1e-200"}')
    refused_as_invalid(status, payload, at=["body", "amount"])

    status, _, payload = api("PUT", "/api/costs/budget", body='{"amount": "1234.56"}')
    assert status == 200, payload
    assert payload["amount"] == "1234.56"


VERSION_CASES = {
    "save": (
        "PUT",
        "/api/admin/rules",
        "",
        {"expected_version": 10**40, "rules": []},
        ["body", "expected_version"],
    ),
    "restore": ("POST", "/api/admin/rules/restore", "", {"version": 0, "expected_version": 10**40}, None),
    "version": ("GET", f"/api/admin/rules/versions/{10**40}", "", None, ["path", "version"]),
    "diff": ("GET", "/api/admin/rules/diff", f"from={10**40}", None, ["query", "from"]),
}


@pytest.mark.parametrize("case", VERSION_CASES.values(), ids=VERSION_CASES.keys())
def test_a_version_beyond_any_real_one_is_refused_not_a_500(api: Api, case: tuple[Any, ...]) -> None:
    # An expected version is a condition value: 10**40 does not fit a DynamoDB number (a 500).
    method, path, query, body, at = case

    status, _, payload = api(method, path, query, json.dumps(body) if body is not None else None)

    refused_as_invalid(status, payload, at=at or ["body", "expected_version"])


def test_an_sla_longer_than_a_year_is_refused(api: Api) -> None:
    policy = {"id": "slow", "name": "Slow", "first_response_minutes": 10**15, "resolution_minutes": 60}
    status, _, payload = api(
        "POST", "/api/admin/teams", body=json.dumps({"id": "slow", "name": "Slow", "sla_policies": [policy]})
    )

    assert status == 422, payload
    assert "first_response_minutes" in payload["message"]


def test_a_team_report_for_an_unknown_mailbox_is_a_documented_404(api: Api, world: dict[str, str]) -> None:
    status, _, payload = api("GET", "/api/reports/team", "mailbox=nobody%40acme.test")
    assert status == 404, payload
    _, _, document = api("GET", "/api/openapi.json", user=None)
    assert "404" in document["paths"]["/api/reports/team"]["get"]["responses"]


def test_the_document_describes_every_answer(api: Api) -> None:
    status, _, document = api("GET", "/api/openapi.json", user=None)

    assert status == 200
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearer"]["description"],
    }
    assert schemes["session"]["in"] == "cookie"
    refusal = {"$ref": "#/components/schemas/RefusalBody"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            where = f"{method.upper()} {path}"
            assert any(code.startswith("2") for code in responses), f"{where}: no success documented"
            for code in ("401", "422"):
                assert responses[code]["content"]["application/json"]["schema"] == refusal, where
            for code, response in responses.items():
                if code.startswith("4"):
                    assert response["content"]["application/json"]["schema"] == refusal, f"{where} {code}"
    interval = document["components"]["schemas"]["Interval"]["properties"]["start"]
    assert "format" not in interval  # "time" means RFC 3339 full-time, with an offset: not what is sent
    assert interval["pattern"]
