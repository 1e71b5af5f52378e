"""Canned responses for admins: CRUD through the JSON API and the page, templates checked at the
line, live previews against a conversation, usage counts, refusals for non-admins, the audit."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from mailroom.canned.store import count_use, get_canned, list_canned
from mailroom.inbox.directory import upsert_mailbox, upsert_user
from mailroom.routing.rules_store import save_rules
from mailroom.rules.validation import validate_ruleset
from mailroom.table import schema
from mailroom.table.client import Table
from tests.integration.conftest import Api, Deliver
from tests.mailfactory import make_mail

FORM = {"content-type": "application/x-www-form-urlencoded"}
THANKS = {
    "id": "thanks",
    "name": "Thanks",
    "subject": "Re: {{ conversation.subject }}",
    "body": "Hi {{ customer.first_name }},\n\nThanks! {{ agent.name }}\n",
}


def _create(api: Api, **fields: Any) -> tuple[int, Any]:
    status, _, body = api("POST", "/api/admin/canned", body=json.dumps({**THANKS, **fields}))
    return status, body


def _audit(table: Table) -> list[str]:
    items = [i for i in table.scan_all() if str(i[schema.PK]).startswith("AUDIT#")]
    return [
        str(i["action"])
        for i in sorted(items, key=lambda i: str(i[schema.SK]))
        if "canned" in str(i["action"])
    ]


def test_crud_through_the_api(api: Api, table: Table) -> None:
    status, created = _create(api)
    assert status == 201
    assert created["usage_count"] == 0
    assert created["mailbox"] is None
    assert _create(api)[0] == 409  # the id is taken

    status, _, one = api("GET", "/api/admin/canned/thanks")
    assert status == 200
    assert one["body"].startswith("Hi {{ customer.first_name }}")
    assert api("GET", "/api/admin/canned/nope")[0] == 404

    upsert_mailbox(table, "support@acme.test", name="Support")
    edit = {"name": "Thank you", "body": "Thanks {{ customer.name }}", "mailbox": "support@acme.test"}
    status, _, edited = api("PUT", "/api/admin/canned/thanks", body=json.dumps(edit))
    assert status == 200
    assert edited["name"] == "Thank you"
    assert edited["mailbox"] == "support@acme.test"
    assert edited["subject"] is None
    assert api("PUT", "/api/admin/canned/nope", body=json.dumps(edit))[0] == 404

    status, _, _ = api("DELETE", "/api/admin/canned/thanks")
    assert status == 204
    assert get_canned(table, "thanks") is None
    assert api("DELETE", "/api/admin/canned/thanks")[0] == 404
    assert _audit(table) == ["canned.create", "canned.update", "canned.delete"]


def test_validation_errors_name_the_field_and_the_line(api: Api, table: Table) -> None:
    status, body = _create(api, body="Hello\n{{ customer.first_name }\nbye")
    assert status == 422
    assert body["field"] == "body"
    assert body["line"] == 2
    status, body = _create(api, subject="{{ customr.name }}")
    assert status == 422
    assert body["field"] == "subject"
    assert "customr" in body["reason"]
    status, body = _create(api, body="{{ ''.__class__ }}")
    assert status == 422
    assert body["field"] == "body"
    status, body = _create(api, id="Not A Slug")
    assert status == 422
    assert body["detail"][0]["loc"][-1] == "id"
    status, body = _create(api, mailbox="nobody@acme.test")
    assert status == 422
    assert body["field"] == "mailbox"
    status, body = _create(api, team="ghosts")
    assert status == 422
    assert body["field"] == "team"
    assert list_canned(table) == []


def test_preview_renders_for_a_conversation_or_says_where_it_breaks(api: Api, deliver: Deliver) -> None:
    conversation = deliver(make_mail(subject="Order 7", sender="Dana Scully <dana@example.com>")).outcomes[0][
        "conversation_id"
    ]
    request = {
        "body": "Hi {{ customer.first_name }}, about {{ conversation.subject }}",
        "conversation_id": conversation,
    }
    status, _, preview = api("POST", "/api/admin/canned/preview", body=json.dumps(request))
    assert status == 200, preview
    assert preview == {"subject": "Re: Order 7", "body": "Hi Dana, about Order 7"}
    status, _, sample = api(
        "POST", "/api/admin/canned/preview", body=json.dumps({"body": "{{ agent.name }}"})
    )
    assert status == 200
    assert sample["body"] == "Fox Mulder"
    broken = {"body": "line one\nline two\n{% if %}\n", "conversation_id": conversation}
    status, _, error = api("POST", "/api/admin/canned/preview", body=json.dumps(broken))
    assert status == 422
    assert error["line"] == 3
    assert error["field"] == "body"
    missing = {"body": "x", "conversation_id": "cnothere1"}
    assert api("POST", "/api/admin/canned/preview", body=json.dumps(missing))[0] == 404


def test_usage_counts_sort_the_list(api: Api, table: Table) -> None:
    _create(api)
    _create(api, id="apology", name="Apology", subject=None, body="Sorry")
    table.transact_write([count_use(table, "thanks")])  # as a reply or an auto-reply counts a use
    _, _, listed = api("GET", "/api/admin/canned")
    assert [(c["id"], c["usage_count"]) for c in listed["canned"]] == [("thanks", 1), ("apology", 0)]
    _, _, by_name = api("GET", "/api/admin/canned", "sort=name")
    assert [c["id"] for c in by_name["canned"]] == ["apology", "thanks"]
    # An edit keeps the count.
    api("PUT", "/api/admin/canned/thanks", body=json.dumps({"name": "Thanks", "body": "Thanks!"}))
    assert get_canned(table, "thanks").usage_count == 1  # type: ignore[union-attr]
    _, _, page = api("GET", "/admin/canned")
    assert page.index("<code>thanks</code>") < page.index("<code>apology</code>")
    assert "unused" in page


def test_a_canned_response_a_rule_auto_replies_with_cannot_be_deleted(api: Api, table: Table) -> None:
    _create(api)
    rules = validate_ruleset({"rules": [{"id": "ack", "name": "Ack", "then": [{"auto_reply": "thanks"}]}]})
    save_rules(table, rules, expected_version=0, actor="test")
    status, _, refused = api("DELETE", "/api/admin/canned/thanks")
    assert status == 409
    assert refused["rules"] == ["ack"]
    assert get_canned(table, "thanks") is not None


def test_the_page_creates_edits_previews_and_deletes(api: Api, table: Table) -> None:
    status, _, page = api("GET", "/admin/canned", "new=1")
    assert status == 200
    assert 'hx-trigger="keyup changed delay:500ms"' in page
    fields = {
        "mode": "create",
        "id": "thanks",
        "name": "Thanks",
        "subject": "",
        "body": "Hi {{ customer.first_name",
    }
    status, _, page = api("POST", "/admin/canned", body=urlencode(fields), headers=FORM)
    assert status == 422
    assert 'id="error-body"' in page
    assert "line 1" in page
    fields["body"] = "Hi {{ customer.first_name }}"
    status, _, _ = api("POST", "/admin/canned", body=urlencode(fields), headers=FORM)
    assert status == 303
    assert get_canned(table, "thanks") is not None
    status, _, page = api("POST", "/admin/canned", body=urlencode(fields), headers=FORM)
    assert status == 422
    assert "already a canned response" in page

    status, _, page = api("GET", "/admin/canned", "edit=thanks")
    assert 'value="thanks" readonly' in page
    edit = {**fields, "mode": "edit", "name": "Thanks a lot"}
    assert api("POST", "/admin/canned", body=urlencode(edit), headers=FORM)[0] == 303
    assert get_canned(table, "thanks").name == "Thanks a lot"  # type: ignore[union-attr]

    preview = {"body": "one\n{{ nope.x }}", "subject": ""}
    status, _, fragment = api("POST", "/admin/canned/preview", body=urlencode(preview), headers=FORM)
    assert status == 422
    assert "line 2" in fragment
    assert 'class="bad-line"' in fragment
    preview = {"body": "Hi {{ customer.first_name }} <b>", "subject": ""}
    status, _, fragment = api("POST", "/admin/canned/preview", body=urlencode(preview), headers=FORM)
    assert status == 200
    assert "Hi Dana &lt;b&gt;" in fragment

    status, _, _ = api("POST", "/admin/canned/thanks/delete", body="", headers=FORM)
    assert status == 303
    assert get_canned(table, "thanks") is None


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/admin/canned", None),
        ("POST", "/api/admin/canned", THANKS),
        ("GET", "/api/admin/canned/thanks", None),
        ("PUT", "/api/admin/canned/thanks", {"name": "x", "body": "y"}),
        ("DELETE", "/api/admin/canned/thanks", None),
        ("POST", "/api/admin/canned/preview", {"body": "x"}),
        ("GET", "/admin/canned", None),
    ],
)
def test_non_admins_are_refused(api: Api, table: Table, method: str, path: str, body: Any) -> None:
    upsert_user(table, "agent@acme.test", name="Agent", role="agent")
    _create(api)
    status, _, _ = api(method, path, body=json.dumps(body) if body else None, user="agent@acme.test")
    assert status == 403
    assert get_canned(table, "thanks") is not None


def test_cli_list_export_and_import(api: Api, table: Table, tmp_path: Any) -> None:
    from click.testing import CliRunner

    from mailroom.cli import main

    _create(api)
    runner = CliRunner()
    listed = runner.invoke(main, ["canned", "list"])
    assert listed.exit_code == 0
    assert listed.output.startswith("thanks\t0\teveryone\tThanks")
    exported = runner.invoke(main, ["canned", "export"])
    assert exported.exit_code == 0
    assert "id: thanks" in exported.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("canned:\n  - id: sorry\n    name: Sorry\n    body: 'Hi {{ customer.first_name'\n")
    refused = runner.invoke(main, ["canned", "import", str(bad)])
    assert refused.exit_code == 1
    assert "nothing was imported" in refused.output
    assert "body" in refused.output
    good = tmp_path / "good.yaml"
    good.write_text(
        exported.output.replace("name: Thanks", "name: Thanks again")
        + "- id: sorry\n  name: Sorry\n  body: Sorry\n"
    )
    imported = runner.invoke(main, ["canned", "import", str(good)])
    assert imported.exit_code == 0, imported.output
    assert get_canned(table, "thanks").name == "Thanks again"  # type: ignore[union-attr]
    assert get_canned(table, "sorry") is not None
