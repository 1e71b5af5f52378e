"""Admin: mailboxes, people and teams through the real reply handler (JSON API and pages), the
audit entries they write, and deactivation requeueing an agent's conversations."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner

from mailroom.assignment.store import AssignmentStore
from mailroom.canned.model import CannedResponse
from mailroom.canned.store import put_canned
from mailroom.cli import main
from mailroom.domain.conversation import Status
from mailroom.domain.team import Strategy
from mailroom.inbox.directory import get_mailbox, get_user, upsert_user
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Table, partition
from tests.integration.conftest import ADMIN, Api, Deliver
from tests.mailfactory import make_mail

AGENT = "sam@acme.test"
FINANCE = "fin@acme.test"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def audit_entries(table: Table) -> list[dict[str, Any]]:
    return [item for item in table.scan_all() if item.get("entity") == "audit"]


def post(api: Api, path: str, body: dict[str, Any], *, method: str = "POST", user: str = ADMIN) -> Any:
    return api(method, path, body=json.dumps(body), user=user)


def field_of(payload: dict[str, Any]) -> set[str]:
    return {str(entry["loc"][1]) for entry in payload["detail"]}


@pytest.fixture
def org(api: Api, table: Table) -> None:
    """A team with an SLA policy, an agent and a finance user, a canned response."""
    status, _, team = post(
        api,
        "/api/admin/teams",
        {
            "id": "support",
            "name": "Support",
            "strategy": "least_loaded",
            "sla_policies": [
                {"id": "std", "name": "Standard", "first_response_minutes": 60, "resolution_minutes": 1440}
            ],
            "default_sla": "std",
        },
    )
    assert status == 201, team
    status, _, user = post(
        api, "/api/admin/users", {"email": AGENT, "name": "Sam Agent", "teams": ["support"], "capacity": 5}
    )
    assert status == 201, user
    status, _, _ = post(api, "/api/admin/users", {"email": FINANCE, "name": "Fin", "role": "finance"})
    assert status == 201
    put_canned(table, CannedResponse(id="ack", name="Thanks", body="We got it, {{ customer.first_name }}."))


# -- mailboxes ---------------------------------------------------------------------------------------


def test_mailbox_create_edit_disable_with_audit(api: Api, table: Table, org: None) -> None:
    body = {
        "address": "Help@Acme.test",
        "name": "Help desk",
        "aliases": ["hilfe@acme.test", "aide@acme.test"],
        "signature": "{{ agent.name }}\n{{ mailbox.name }}",
        "team": "support",
        "sla_policy": "std",
        "auto_ack": "ack",
        "access": {AGENT: "send_on_behalf"},
    }
    status, _, created = post(api, "/api/admin/mailboxes", body)
    assert status == 201, created
    assert created["address"] == "help@acme.test"
    assert created["aliases"] == ["aide@acme.test", "hilfe@acme.test"]
    assert created["access"] == {AGENT: "send_on_behalf"}
    entry = get_mailbox(table, "help@acme.test")
    assert entry is not None
    assert entry["team"] == "support"
    assert entry["auto_ack"] == "ack"

    status, _, listed = api("GET", "/api/admin/mailboxes")
    assert status == 200
    assert [m["address"] for m in listed["mailboxes"]] == ["help@acme.test"]
    status, _, patched = post(api, "/api/admin/mailboxes/help@acme.test", {"name": "Help"}, method="PATCH")
    assert status == 200
    assert patched["name"] == "Help"
    assert patched["team"] == "support"
    status, _, put = post(api, "/api/admin/mailboxes/help@acme.test", {"name": "Only name"}, method="PUT")
    assert status == 200
    assert put["team"] is None
    assert put["aliases"] == []
    assert put["access"] == {}
    status, _, disabled = api("POST", "/api/admin/mailboxes/help@acme.test/disable")
    assert status == 200
    assert disabled["disabled"] is True

    actions = sorted((e["action"], e["target"]) for e in audit_entries(table))
    assert ("mailbox.create", "help@acme.test") in actions
    assert actions.count(("mailbox.update", "help@acme.test")) == 3
    assert all(e["actor"] == ADMIN for e in audit_entries(table) if e["action"].startswith("mailbox."))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"address": "not an address"}, "address"),
        ({"signature": "Hi\n{{ agent.nope }}"}, "signature"),
        ({"signature": "Hi\n{% if %}"}, "signature"),
        ({"team": "nobody"}, "team"),
        ({"sla_policy": "gold"}, "sla_policy"),
        ({"auto_ack": "missing"}, "auto_ack"),
        ({"access": {"ghost@acme.test": "full"}}, "access"),
        ({"access": {AGENT: "everything"}}, "access"),
        ({"aliases": ["help@acme.test"]}, "aliases"),
        ({"unknown": 1}, "unknown"),
        ({"retention_days": 0}, "retention_days"),
        ({"retention_days": 36_501}, "retention_days"),
        ({"retention_days": "a month"}, "retention_days"),
    ],
)
def test_mailbox_validation_names_the_field(
    api: Api, table: Table, org: None, change: dict[str, Any], field: str
) -> None:
    body = {"address": "help@acme.test", "team": "support", **change}
    status, _, payload = post(api, "/api/admin/mailboxes", body)
    assert status == 422, payload
    assert field in field_of(payload), payload
    assert get_mailbox(table, "help@acme.test") is None
    if field == "signature":
        assert "line 2" in payload["message"]


def test_an_alias_cannot_be_another_mailboxs_address(api: Api, org: None) -> None:
    assert post(api, "/api/admin/mailboxes", {"address": "a@acme.test", "aliases": ["x@acme.test"]})[0] == 201
    status, _, payload = post(
        api, "/api/admin/mailboxes", {"address": "b@acme.test", "aliases": ["x@acme.test"]}
    )
    assert status == 422
    assert field_of(payload) == {"aliases"}
    status, _, payload = post(api, "/api/admin/mailboxes", {"address": "x@acme.test"})
    assert status == 422
    assert field_of(payload) == {"address"}


def test_aliases_route_to_the_mailbox_and_a_disabled_mailbox_gets_no_mail(
    api: Api, deliver: Deliver, org: None
) -> None:
    post(api, "/api/admin/mailboxes", {"address": "help@acme.test", "aliases": ["hilfe@acme.test"]})
    outcomes = deliver(make_mail(to="hilfe@acme.test"), ["hilfe@acme.test"]).outcomes
    assert [o["mailbox"] for o in outcomes] == ["help@acme.test"]
    # to the address and its alias at once: one conversation
    outcomes = deliver(
        make_mail(message_id="<m2@example.com>"), ["help@acme.test", "hilfe+x@acme.test"]
    ).outcomes
    assert [o["mailbox"] for o in outcomes] == ["help@acme.test"]

    api("POST", "/api/admin/mailboxes/help@acme.test/disable")
    outcomes = deliver(
        make_mail(message_id="<m3@example.com>"), ["hilfe@acme.test", "other@acme.test"]
    ).outcomes
    assert [o["mailbox"] for o in outcomes] == ["other@acme.test"]


# -- people ------------------------------------------------------------------------------------------


def test_invite_and_edit_a_person(api: Api, table: Table, org: None) -> None:
    status, _, user = api("GET", f"/api/admin/users/{AGENT}")
    assert status == 200
    assert user["teams"] == ["support"]
    assert user["capacity"] == 5
    assert user["active"] is True
    team = AssignmentStore(table).get_team("support")
    assert team is not None
    assert team.members == [AGENT]
    schedule = {"timezone": "Europe/Berlin", "days": {"mon": [{"start": "09:00", "end": "17:00"}]}}
    absence = {"start": "2030-01-01T00:00:00+00:00", "end": "2030-01-08T00:00:00+00:00", "replacement": ADMIN}
    status, _, user = post(
        api,
        f"/api/admin/users/{AGENT}",
        {"role": "admin", "skills": ["DE", "billing"], "schedule": schedule, "out_of_office": [absence]},
        method="PATCH",
    )
    assert status == 200, user
    assert user["role"] == "admin"
    assert user["skills"] == ["billing", "de"]
    assert user["schedule"]["timezone"] == "Europe/Berlin"
    assert user["out_of_office"][0]["replacement"] == ADMIN
    stored = get_user(table, AGENT)
    assert stored is not None
    assert stored["role"] == "admin"
    agent = AssignmentStore(table).get_agent(AGENT)
    assert agent is not None
    assert agent.schedule is not None
    assert agent.capacity == 5
    status, _, user = post(api, f"/api/admin/users/{AGENT}", {"teams": []}, method="PUT")
    assert status == 200
    assert user["teams"] == []
    team = AssignmentStore(table).get_team("support")
    assert team is not None
    assert team.members == []
    actions = [e["action"] for e in audit_entries(table) if e["target"] == AGENT]
    assert sorted(actions) == ["user.invite", "user.update", "user.update"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "nope", "name": "X"}, "email"),
        ({"email": "x@acme.test", "name": ""}, "name"),
        ({"email": "x@acme.test", "name": "X", "role": "boss"}, "role"),
        ({"email": "x@acme.test", "name": "X", "capacity": -1}, "capacity"),
        ({"email": "x@acme.test", "name": "X", "teams": ["ghosts"]}, "teams"),
        ({"email": "x@acme.test", "name": "X", "schedule": {"timezone": "Mars/Base"}}, "schedule"),
        (
            {
                "email": "x@acme.test",
                "name": "X",
                "out_of_office": [{"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}],
            },
            "out_of_office",
        ),
        ({"email": AGENT, "name": "Again"}, "email"),
    ],
)
def test_invite_validation_names_the_field(api: Api, org: None, body: dict[str, Any], field: str) -> None:
    status, _, payload = post(api, "/api/admin/users", body)
    assert status == 422, payload
    assert field in field_of(payload), payload


def test_deactivating_an_agent_requeues_every_conversation(
    api: Api, table: Table, deliver: Deliver, org: None
) -> None:
    post(api, "/api/admin/mailboxes", {"address": "support@acme.test", "team": "support"})
    store = AssignmentStore(table)
    ids = [
        deliver(make_mail(message_id=f"<r{n}@example.com>", subject=f"Case {n}")).outcomes[0][
            "conversation_id"
        ]
        for n in range(4)
    ]
    for conversation_id in ids:
        store.claim(conversation_id, AGENT)
    # one pending, one snoozed, one closed (closed stays with its owner: it's history, not load)
    assert (
        api("POST", f"/api/conversations/{ids[1]}/status", body=json.dumps({"status": "pending"}))[0] == 200
    )
    snooze = {"status": "snoozed", "snooze_until": (datetime.now(UTC) + timedelta(days=7)).isoformat()}
    assert api("POST", f"/api/conversations/{ids[2]}/status", body=json.dumps(snooze))[0] == 200
    assert api("POST", f"/api/conversations/{ids[3]}/status", body=json.dumps({"status": "closed"}))[0] == 200
    agent = store.get_agent(AGENT)
    assert agent is not None
    assert agent.open_count == 3

    status, _, result = api("POST", f"/api/admin/users/{AGENT}/deactivate")
    assert status == 200, result
    assert sorted(result["requeued"]) == sorted(ids[:3])
    assert result["user"]["active"] is False
    assert result["user"]["open_count"] == 0
    for conversation_id in ids[:3]:
        conv = store.get_conversation(conversation_id)
        assert conv is not None
        assert conv.assignee is None
        assert conv.status is not Status.CLOSED
        events = [
            item
            for item in table.query_all(key_condition=partition(f"CONV#{conversation_id}", "EVT#"))
            if item.get("type") == "unassigned"
        ]
        assert len(events) == 1
        assert events[0]["data"]["reason"] == "assignee deactivated"
    # the open one is back in the queue (the ByQueue index: open and held by nobody)
    queue = table.query_all(
        key_condition=Condition(
            "#pk = :pk", {"#pk": schema.BY_QUEUE.pk}, {":pk": keys.queue_pk("support@acme.test")}
        ),
        index=schema.BY_QUEUE.name,
    )
    assert [item["id"] for item in queue] == [ids[0]]
    closed = store.get_conversation(ids[3])
    assert closed is not None
    assert closed.status is Status.CLOSED
    assert closed.assignee == AGENT
    agent = store.get_agent(AGENT)
    assert agent is not None
    assert agent.active is False
    assert agent.open_count == 0
    # none lost: every conversation still there
    assert all(store.get_conversation(i) is not None for i in ids)
    # they can't sign in any more, and can't be assigned
    assert api("GET", "/api/me", user=AGENT)[0] == 401
    status, _, _ = api("POST", f"/api/conversations/{ids[0]}/assign", body=json.dumps({"agent": AGENT}))
    assert status in {409, 422}  # refused: the agent is inactive
    entry = next(e for e in audit_entries(table) if e["action"] == "user.deactivate")
    assert sorted(entry["details"]["requeued"]) == sorted(ids[:3])
    # deactivating yourself is refused
    status, _, payload = api("POST", f"/api/admin/users/{ADMIN}/deactivate")
    assert status == 422
    assert field_of(payload) == {"email"}


# -- teams -------------------------------------------------------------------------------------------


def test_team_create_and_edit(api: Api, table: Table, org: None) -> None:
    calendar = {
        "timezone": "America/New_York",
        "days": {"mon": [{"start": "08:00", "end": "18:00"}]},
        "holidays": ["2030-12-25"],
    }
    status, _, team = post(
        api,
        "/api/admin/teams",
        {
            "id": "billing",
            "name": "Billing",
            "members": [AGENT],
            "calendar": calendar,
            "strategy": "round_robin",
        },
    )
    assert status == 201, team
    assert team["calendar"]["holidays"] == ["2030-12-25"]
    assert team["strategy"] == "round_robin"
    agent = AssignmentStore(table).get_agent(AGENT)
    assert agent is not None
    assert agent.teams == ["billing", "support"]
    status, _, team = post(
        api, "/api/admin/teams/billing", {"strategy": "skills", "members": []}, method="PATCH"
    )
    assert status == 200
    assert team["strategy"] == "skills"
    assert team["members"] == []
    agent = AssignmentStore(table).get_agent(AGENT)
    assert agent is not None
    assert agent.teams == ["support"]
    stored = AssignmentStore(table).get_team("billing")
    assert stored is not None
    assert stored.strategy is Strategy.SKILLS
    assert {e["action"] for e in audit_entries(table) if e["target"] == "billing"} == {
        "team.create",
        "team.update",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": "Bad Id", "name": "X"}, "id"),
        ({"id": "x", "name": "X", "strategy": "random"}, "strategy"),
        ({"id": "x", "name": "X", "members": ["ghost@acme.test"]}, "members"),
        ({"id": "x", "name": "X", "default_sla": "gold"}, "default_sla"),
        ({"id": "x", "name": "X", "calendar": {"days": {"funday": []}}}, "calendar"),
        ({"id": "support", "name": "Again"}, "id"),
    ],
)
def test_team_validation_names_the_field(api: Api, org: None, body: dict[str, Any], field: str) -> None:
    status, _, payload = post(api, "/api/admin/teams", body)
    assert status == 422, payload
    assert field in field_of(payload), payload


# -- permissions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/admin/mailboxes", None),
        ("POST", "/api/admin/mailboxes", {"address": "new@acme.test"}),
        ("GET", "/api/admin/users", None),
        ("POST", "/api/admin/users", {"email": "new@acme.test", "name": "New"}),
        ("POST", f"/api/admin/users/{ADMIN}/deactivate", None),
        ("PATCH", f"/api/admin/users/{ADMIN}", {"role": "agent"}),
        ("GET", "/api/admin/teams", None),
        ("POST", "/api/admin/teams", {"id": "new", "name": "New"}),
        ("PATCH", "/api/admin/teams/support", {"name": "Mine"}),
        ("POST", f"/api/admin/users/{AGENT}/activate", None),
        ("POST", "/api/admin/mailboxes/help@acme.test/enable", None),
        ("PATCH", "/api/admin/mailboxes/help@acme.test", {"retention_days": 7}),
    ],
)
@pytest.mark.parametrize("user", [AGENT, FINANCE])
def test_non_admins_are_refused(
    *, api: Api, table: Table, org: None, method: str, path: str, body: Any, user: str
) -> None:
    before = len(audit_entries(table))
    status, _, _ = api(method, path, body=json.dumps(body) if body is not None else None, user=user)
    assert status == 403
    assert len(audit_entries(table)) == before


def test_admin_pages_are_admin_only(api: Api, table: Table, org: None) -> None:
    for path in ("/admin/mailboxes", "/admin/people", "/admin/teams"):
        assert api("GET", path)[0] == 200
        assert api("GET", path, user=AGENT)[0] == 403
    post(api, "/api/admin/mailboxes", {"address": "help@acme.test", "disabled": True})
    api("POST", f"/api/admin/users/{FINANCE}/deactivate")
    before = len(audit_entries(table))
    for path in (
        "/admin/mailboxes/help@acme.test/enable",
        "/admin/mailboxes/help@acme.test/disable",
        f"/admin/people/{FINANCE}/activate",
    ):
        assert form_post(api, path, [], htmx=False, user=AGENT)[0] == 403
    assert len(audit_entries(table)) == before
    assert (get_mailbox(table, "help@acme.test") or {})["disabled"] is True
    assert (get_user(table, FINANCE) or {})["active"] is False


# -- the profile --------------------------------------------------------------------------------------


def test_agents_set_their_own_status_and_absence(api: Api, table: Table, org: None) -> None:
    status, _, me = api("GET", "/api/me", user=AGENT)
    assert status == 200
    assert me["status"] == "available"
    absence = {"start": "2030-01-01T00:00:00Z", "end": "2030-01-08T00:00:00Z", "replacement": ADMIN}
    status, _, me = post(
        api, "/api/me", {"status": "away", "out_of_office": [absence]}, method="PATCH", user=AGENT
    )
    assert status == 200
    assert me["status"] == "away"
    assert me["out_of_office"][0]["replacement"] == ADMIN
    status, _, payload = post(api, "/api/me", {"status": "offline"}, method="PATCH", user=AGENT)
    assert status == 422
    assert field_of(payload) == {"status"}
    status, _, payload = post(api, "/api/me", {"role": "admin"}, method="PATCH", user=AGENT)
    assert status == 422
    bad = {"out_of_office": [{**absence, "replacement": "ghost@acme.test"}]}
    status, _, payload = post(api, "/api/me", bad, method="PATCH", user=AGENT)
    assert status == 422
    assert field_of(payload) == {"out_of_office"}
    user = get_user(table, AGENT)
    assert user is not None
    assert user["role"] == "agent"
    status, _, page = api("GET", "/profile", user=AGENT)
    assert status == 200
    assert "Out of office" in page


# -- pages ---------------------------------------------------------------------------------------------


def form_post(
    api: Api, path: str, fields: list[tuple[str, str]], *, htmx: bool = True, user: str = ADMIN
) -> tuple[int, dict[str, str], Any]:
    headers = {**FORM, **({"hx-request": "true"} if htmx else {})}
    return api("POST", path, body=urlencode(fields), headers=headers, user=user)


def test_pages_create_and_refuse_with_field_errors(api: Api, table: Table, org: None) -> None:
    status, headers, body = form_post(
        api,
        "/admin/mailboxes",
        [("address", "desk@acme.test"), ("signature", "{{ agent.nope }}"), ("team", "support")],
    )
    assert status == 422
    assert 'id="error-signature"' in body
    assert "autofocus" in body
    assert 'aria-invalid="true"' in body
    assert get_mailbox(table, "desk@acme.test") is None
    status, headers, _ = form_post(
        api,
        "/admin/mailboxes",
        [("address", "desk@acme.test"), ("name", "Desk"), ("team", "support"), (f"access:{AGENT}", "full")],
    )
    assert status == 200
    assert headers.get("HX-Redirect") == "/admin/mailboxes/desk@acme.test"
    entry = get_mailbox(table, "desk@acme.test")
    assert entry is not None
    assert entry["access"] == {AGENT: "full"}

    status, headers, _ = form_post(
        api,
        "/admin/teams",
        [
            ("id", "vip"),
            ("name", "VIP"),
            ("strategy", "round_robin"),
            ("members", AGENT),
            ("timezone", "Europe/Berlin"),
            ("day_mon", "09:00-12:00, 13:00-17:00"),
            ("holidays", "2030-12-25"),
            ("sla_policies", "fast | Fast | 30 | 240 | business"),
            ("default_sla", "fast"),
        ],
    )
    assert status == 200, _
    team = AssignmentStore(table).get_team("vip")
    assert team is not None
    assert team.sla_policies[0].first_response_minutes == 30
    assert len(team.calendar.days["mon"]) == 2

    status, _, body = form_post(
        api, "/admin/people", [("email", "new@acme.test"), ("name", ""), ("capacity", "x")]
    )
    assert status == 422
    assert 'id="error-name"' in body
    assert 'id="error-capacity"' in body
    status, headers, _ = form_post(
        api,
        "/admin/people",
        [("email", "new@acme.test"), ("name", "New"), ("teams", "vip"), ("skills", "de, fr")],
    )
    assert status == 200
    assert headers.get("HX-Redirect", "").startswith("/admin/people")
    assert get_user(table, "new@acme.test") is not None
    status, _, page = api("GET", "/admin/people/new@acme.test")
    assert status == 200
    assert "Deactivate" in page
    status, headers, _ = form_post(api, "/admin/people/new@acme.test/deactivate", [], htmx=False)
    assert status == 303
    assert "requeued=0" in headers["Location"]


# -- the CLI ---------------------------------------------------------------------------------------------


def run(*args: str) -> str:
    """``mailroom ARGS`` that must succeed: its output."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def refused(*args: str) -> str:
    """``mailroom ARGS`` that must fail with a message: its output."""
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 1, result.output
    return result.output


def test_cli_manages_mailboxes_users_and_teams(env: Any, table: Table) -> None:
    upsert_user(table, ADMIN, name="Ada", role="admin")

    run("teams", "add", "ops", "--name", "Ops", "--strategy", "least_loaded")
    run("users", "invite", AGENT, "--name", "Sam", "--team", "ops", "--capacity", "3")
    run(
        "mailboxes",
        "add",
        "ops@acme.test",
        "--name",
        "Ops",
        "--team",
        "ops",
        "--alias",
        "it@acme.test",
        "--access",
        f"{AGENT}=full",
    )
    run("mailboxes", "edit", "ops@acme.test", "--name", "Operations")
    assert "ops@acme.test\tOperations\tteam=ops\treceiving (aliases: it@acme.test)" in run(
        "mailboxes", "list"
    )
    run("users", "set-role", AGENT, "finance")
    assert f"{AGENT}\tSam\tfinance\tteams=ops\tavailable" in run("users", "list")
    run("teams", "edit", "ops", "--strategy", "round_robin")
    assert "ops\tOps\tround_robin" in run("teams", "list")
    assert "disabled ops@acme.test" in run("mailboxes", "disable", "ops@acme.test")
    assert "0 conversation(s)" in run("users", "deactivate", AGENT)
    assert "team: no team 'nope'" in refused("mailboxes", "edit", "ops@acme.test", "--team", "nope")
    assert {e["actor"] for e in audit_entries(table)} == {"cli"}
    assert table.get({schema.PK: "DIR#MAILBOX", schema.SK: "ops@acme.test"})["disabled"] is True  # type: ignore[index]


# -- undoing a deactivation or a disable; retention ------------------------------------------------------


def test_a_deactivated_person_is_reactivated_from_their_page(api: Api, table: Table, org: None) -> None:
    assert api("POST", f"/api/admin/users/{AGENT}/deactivate")[0] == 200
    assert api("GET", "/api/me", user=AGENT)[0] == 401
    status, _, page = api("GET", f"/admin/people/{AGENT}")
    assert status == 200
    assert f'action="/admin/people/{AGENT}/activate"' in page
    assert "Reactivate Sam Agent" in page

    status, headers, _ = form_post(api, f"/admin/people/{AGENT}/activate", [], htmx=False)
    assert status == 303
    assert headers["Location"] == f"/admin/people/{AGENT}?done=activated"
    status, _, page = api("GET", f"/admin/people/{AGENT}", "done=activated")
    assert "Reactivated: they can sign in again" in page
    assert f'action="/admin/people/{AGENT}/deactivate"' in page
    user = get_user(table, AGENT)
    assert user is not None
    assert user["active"] is True
    agent = AssignmentStore(table).get_agent(AGENT)
    assert agent is not None
    assert agent.active is True  # routing may give them work again
    assert api("GET", "/api/me", user=AGENT)[0] == 200
    [entry] = [e for e in audit_entries(table) if e["action"] == "user.activate"]
    assert entry["actor"] == ADMIN
    assert entry["target"] == AGENT

    assert form_post(api, "/admin/people/ghost@acme.test/activate", [], htmx=False)[0] == 404
    status, _, payload = api("POST", "/api/admin/users/ghost@acme.test/activate")
    assert status == 404, payload


def test_a_disabled_mailbox_is_enabled_again_from_its_page(
    api: Api, table: Table, deliver: Deliver, org: None
) -> None:
    post(api, "/api/admin/mailboxes", {"address": "help@acme.test", "aliases": ["hilfe@acme.test"]})
    status, _, page = api("GET", "/admin/mailboxes/help@acme.test")
    assert 'action="/admin/mailboxes/help@acme.test/disable"' in page
    status, headers, _ = form_post(api, "/admin/mailboxes/help@acme.test/disable", [], htmx=False)
    assert status == 303
    assert headers["Location"] == "/admin/mailboxes/help@acme.test?done=disabled"
    assert deliver(make_mail(to="hilfe@acme.test"), ["hilfe@acme.test"]).outcomes == []  # refused

    status, _, page = api("GET", "/admin/mailboxes/help@acme.test", "done=disabled")
    assert "Disabled: new mail to the mailbox and its aliases is refused." in page
    assert 'action="/admin/mailboxes/help@acme.test/enable"' in page
    status, headers, _ = form_post(api, "/admin/mailboxes/help@acme.test/enable", [])  # with htmx
    assert status == 200
    assert headers["HX-Redirect"] == "/admin/mailboxes/help@acme.test?done=enabled"
    assert (get_mailbox(table, "help@acme.test") or {})["disabled"] is False
    outcomes = deliver(make_mail(message_id="<again@example.com>"), ["hilfe@acme.test"]).outcomes
    assert [o["mailbox"] for o in outcomes] == ["help@acme.test"]
    changes = [
        e["details"]["disabled"]
        for e in sorted(audit_entries(table), key=lambda e: e["at"])
        if e["action"] == "mailbox.update"
    ]
    assert changes == [{"from": False, "to": True}, {"from": True, "to": False}]
    assert form_post(api, "/admin/mailboxes/nobody@acme.test/enable", [], htmx=False)[0] == 404


def test_retention_is_set_in_the_form_and_the_api(api: Api, table: Table, org: None) -> None:
    from mailroom.privacy.retention import retention_days

    status, _, created = post(
        api, "/api/admin/mailboxes", {"address": "help@acme.test", "retention_days": 90}
    )
    assert status == 201, created
    assert created["retention_days"] == 90
    assert retention_days(get_mailbox(table, "help@acme.test") or {}) == 90  # what the purge reads
    status, _, page = api("GET", "/admin/mailboxes/help@acme.test")
    assert 'name="retention_days" type="number" value="90"' in page

    status, _, body = form_post(api, "/admin/mailboxes/help@acme.test", [("retention_days", "soon")])
    assert status == 422
    assert 'id="error-retention_days"' in body
    assert retention_days(get_mailbox(table, "help@acme.test") or {}) == 90
    status, _, _ = form_post(
        api, "/admin/mailboxes/help@acme.test", [("name", "Help"), ("retention_days", "30")]
    )
    assert status == 200
    assert retention_days(get_mailbox(table, "help@acme.test") or {}) == 30
    status, _, _ = form_post(
        api, "/admin/mailboxes/help@acme.test", [("name", "Help"), ("retention_days", "")]
    )
    assert status == 200
    assert "retention_days" not in (get_mailbox(table, "help@acme.test") or {})  # kept forever

    status, _, patched = post(
        api, "/api/admin/mailboxes/help@acme.test", {"retention_days": 7}, method="PATCH"
    )
    assert status == 200
    assert patched["retention_days"] == 7
    status, _, patched = post(api, "/api/admin/mailboxes/help@acme.test", {"name": "Desk"}, method="PATCH")
    assert patched["retention_days"] == 7  # a patch keeps what it does not name
    status, _, refused = post(
        api, "/api/admin/mailboxes/help@acme.test", {"retention_days": -1}, method="PATCH"
    )
    assert status == 422
    assert field_of(refused) == {"retention_days"}
    status, _, patched = post(
        api, "/api/admin/mailboxes/help@acme.test", {"retention_days": None}, method="PATCH"
    )
    assert patched["retention_days"] is None
    updates = [
        e["details"].get("retention_days") for e in audit_entries(table) if e["action"] == "mailbox.update"
    ]
    assert {"from": 7, "to": None} in updates


def test_cli_enables_reactivates_and_sets_retention(env: Any, table: Table) -> None:
    upsert_user(table, ADMIN, name="Ada", role="admin")

    run("users", "invite", AGENT, "--name", "Sam")
    run("mailboxes", "add", "ops@acme.test", "--retention-days", "60")
    assert (get_mailbox(table, "ops@acme.test") or {})["retention_days"] == 60
    run("mailboxes", "disable", "ops@acme.test")
    assert "enabled ops@acme.test" in run("mailboxes", "enable", "ops@acme.test")
    assert (get_mailbox(table, "ops@acme.test") or {})["disabled"] is False
    run("mailboxes", "edit", "ops@acme.test", "--retention-days", "0")
    assert "retention_days" not in (get_mailbox(table, "ops@acme.test") or {})
    assert "purged after 14 days" in run("retention", "set", "ops@acme.test", "14")
    assert (get_mailbox(table, "ops@acme.test") or {})["retention_days"] == 14
    assert "no mailbox nobody@acme.test" in refused("retention", "set", "nobody@acme.test", "3")

    run("users", "deactivate", AGENT)
    assert f"reactivated {AGENT}" in run("users", "activate", AGENT)
    assert (get_user(table, AGENT) or {})["active"] is True
    assert "no user ghost@acme.test" in refused("users", "activate", "ghost@acme.test")
    actions = [e["action"] for e in audit_entries(table)]
    assert actions.count("mailbox.update") == 4  # disable, enable, and the two retention changes
    assert "user.activate" in actions
    assert {e["actor"] for e in audit_entries(table)} == {"cli"}
