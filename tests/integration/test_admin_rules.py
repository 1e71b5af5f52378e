"""The rules editor for admins: the JSON API (save, versions, diff, restore, draft dry runs), the
editor page's form (problems at their fields, reordering, htmx rows), the YAML tab and the audit."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from mailroom.auth.model import Access
from mailroom.auth.permissions_store import grant
from mailroom.inbox.directory import upsert_mailbox, upsert_user
from mailroom.routing.rules_store import load_rules, rule_history
from mailroom.table import schema
from mailroom.table.client import Condition, Table
from tests.integration.conftest import Api, Deliver
from tests.mailfactory import make_mail

FORM = {"content-type": "application/x-www-form-urlencoded"}
AGENT = "agent@acme.test"
BILLING = {
    "id": "billing",
    "name": "Invoices go to Billing",
    "when": {"subject": {"contains": "invoice"}},
    "then": [{"add_tags": ["billing"]}, {"set_team": "billing"}],
}
REFUND = {
    "id": "refund",
    "name": "Refunds",
    "when": {"any": [{"subject": {"contains": "refund"}}, {"body": {"matches": "money back"}}]},
    "then": [{"add_tags": ["refund"]}, {"set_priority": "high"}],
}


def _put(api: Api, rules: list[dict[str, Any]], expected: int, **extra: Any) -> tuple[int, Any]:
    body = {"expected_version": expected, "rules": rules, **extra}
    status, _, payload = api("PUT", "/api/admin/rules", body=json.dumps(body))
    return status, payload


def _audit(table: Table) -> list[dict[str, Any]]:
    """The audit entries about rules (other parts of the product audit too)."""
    items = [
        item
        for item in table.scan_all()
        if str(item[schema.PK]).startswith("AUDIT#") and str(item.get("action", "")).startswith("rules.")
    ]
    return sorted(items, key=lambda item: str(item[schema.SK]))


def test_save_read_versions_diff_and_restore(api: Api, table: Table) -> None:
    status, saved = _put(api, [BILLING], 0, note="first")
    assert (status, saved) == (200, {"version": 1})
    status, saved = _put(api, [BILLING, REFUND], 1)
    assert saved == {"version": 2}

    status, _, active = api("GET", "/api/admin/rules")
    assert status == 200
    assert active["version"] == 2
    assert active["updated_by"] == "admin@acme.test"
    assert [rule["id"] for rule in active["rules"]] == ["billing", "refund"]
    assert "id: refund" in active["yaml"]
    assert [(v["version"], v["note"], v["rule_count"]) for v in active["versions"]] == [
        (2, "", 2),
        (1, "first", 1),
    ]

    status, _, first = api("GET", "/api/admin/rules/versions/1")
    assert status == 200
    assert [rule["id"] for rule in first["rules"]] == ["billing"]
    assert api("GET", "/api/admin/rules/versions/9")[0] == 404

    status, _, diff = api("GET", "/api/admin/rules/diff", "from=1&to=2")
    assert status == 200
    assert diff["diff"].startswith("--- v1\n+++ v2\n")
    assert "+  - id: refund\n" in diff["diff"]
    assert not any(line.startswith("-") and not line.startswith("---") for line in diff["diff"].splitlines())
    _, _, same = api("GET", "/api/admin/rules/diff", "from=2")  # to: the active version
    assert same["to_version"] == 2
    assert same["diff"] == ""

    # A stale expected_version is refused and nothing is written.
    status, conflict = _put(api, [REFUND], 1)
    assert status == 409
    assert conflict["current_version"] == 2
    assert load_rules(table).version == 2

    # Restore: version 1's rules saved as version 3; history only grows.
    status, _, restored = api(
        "POST", "/api/admin/rules/restore", body=json.dumps({"version": 1, "expected_version": 2})
    )
    assert (status, restored) == (201, {"version": 3})
    now = load_rules(table)
    assert now.version == 3
    assert now.ruleset.rules == load_rules_version(api, 1)
    assert [v.version for v in rule_history(table)] == [3, 2, 1]
    assert rule_history(table)[0].note == "restored version 1"
    _, _, diff = api("GET", "/api/admin/rules/diff", "from=1&to=3")
    assert diff["diff"] == ""
    status, _, _ = api(
        "POST", "/api/admin/rules/restore", body=json.dumps({"version": 1, "expected_version": 2})
    )
    assert status == 409
    assert api("POST", "/api/admin/rules/restore", body=json.dumps({"version": 7}))[0] == 404

    # Every change is audited: who, which version, what changed.
    entries = [(e["action"], e["actor"], e["details"]["version"]) for e in _audit(table)]
    assert entries == [("rules.save", "admin@acme.test", v) for v in (1, 2, 3)]
    second = _audit(table)[1]["details"]
    assert second["added"] == ["refund"]
    assert second["removed"] == []
    assert second["previous_version"] == 1
    third = _audit(table)[2]["details"]
    assert third["removed"] == ["refund"]
    assert third["restored_from"] == 1
    assert third["note"] == "restored version 1"


def load_rules_version(api: Api, version: int) -> Any:
    from mailroom.rules.validation import validate_ruleset

    _, _, detail = api("GET", f"/api/admin/rules/versions/{version}")
    return validate_ruleset({"rules": detail["rules"]}).rules


def test_invalid_rules_are_refused_with_each_problem_at_its_field(api: Api, table: Table) -> None:
    bad = [
        {**BILLING, "when": {"subjekt": {"contains": "x"}}},
        {**REFUND, "id": "Refund!", "then": [{"add_tags": ["ok"]}, {"set_priority": "soon"}]},
        {**REFUND, "id": "billing"},
    ]
    status, body = _put(api, bad, 0)
    assert status == 422
    by_path = {problem["path"]: problem["message"] for problem in body["problems"]}
    assert "did you mean 'subject'" in by_path["rules[0].when.subjekt"]
    assert "slug" in by_path["rules[1].id"]
    assert "rules[1].then[1].set_priority" in by_path
    assert load_rules(table).version == 0

    status, body = _put(api, [BILLING, {**REFUND, "id": "billing"}], 0)
    assert status == 422
    assert body["problems"][0]["path"] == "rules[1].id"
    assert "used twice" in body["problems"][0]["message"]

    status, _, yaml_refused = api(
        "PUT",
        "/api/admin/rules",
        body=json.dumps({"expected_version": 0, "yaml": "rules:\n  - id: x\n    nam: y\n"}),
    )
    assert status == 422
    assert {p["line"] for p in yaml_refused["problems"]} >= {3}

    status, _, _ = api("PUT", "/api/admin/rules", body=json.dumps({"expected_version": 0}))
    assert status == 422  # neither rules nor yaml


def test_yaml_through_the_api_and_draft_dry_run(api: Api, table: Table, deliver: Deliver) -> None:
    text = (
        "rules:\n  - id: billing\n    name: Billing\n    when: {subject: {contains: invoice}}\n"
        "    then:\n      - add_tags: [billing]\n"
    )
    status, _, saved = api("PUT", "/api/admin/rules", body=json.dumps({"expected_version": 0, "yaml": text}))
    assert (status, saved) == (200, {"version": 1})
    conversation = deliver(make_mail(subject="A refund please")).outcomes[0]["conversation_id"]
    # The active rules don't match; the unsaved draft does.
    _, _, active = api("POST", "/api/admin/rules/dry-run", body=json.dumps({"conversation_id": conversation}))
    assert active["matched"] == []
    status, _, draft = api(
        "POST",
        "/api/admin/rules/dry-run",
        body=json.dumps({"conversation_id": conversation, "rules": [REFUND]}),
    )
    assert status == 200, draft
    assert [m["rule_id"] for m in draft["matched"]] == ["refund"]
    assert draft["priority"] == "high"
    raw = make_mail(subject="invoice 7", to="sales@acme.test").decode()
    _, _, pasted = api("POST", "/api/admin/rules/dry-run", body=json.dumps({"eml": raw, "yaml": text}))
    assert pasted["tags"] == ["billing"]
    assert load_rules(table).version == 1  # nothing saved by testing


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/admin/rules", None),
        ("PUT", "/api/admin/rules", {"expected_version": 0, "rules": []}),
        ("GET", "/api/admin/rules/versions/0", None),
        ("GET", "/api/admin/rules/diff?from=0", None),
        ("POST", "/api/admin/rules/restore", {"version": 0}),
        ("POST", "/api/admin/rules/dry-run", {"eml": "Subject: x\n\nhi", "mailbox": "support@acme.test"}),
        ("GET", "/admin/rules", None),
        ("POST", "/admin/rules", "rule-0-id=x&rule-0-name=x&rule-0-act-0-kind=add_tags&rule-0-act-0-value=x"),
        ("POST", "/admin/rules/restore", "version=0"),
    ],
)
def test_non_admins_are_refused(api: Api, table: Table, method: str, path: str, body: Any) -> None:
    upsert_user(table, AGENT, name="Agent", role="agent")
    upsert_mailbox(table, "support@acme.test", name="Support")
    grant(table, "support@acme.test", AGENT, Access.FULL)
    path, _, query = path.partition("?")
    form = isinstance(body, str)
    payload = body if form else (json.dumps(body) if body is not None else None)
    status, _, _ = api(method, path, query, payload, user=AGENT, headers=FORM if form else None)
    assert status == 403
    assert load_rules(table).version == 0


# -- the page ---------------------------------------------------------------------------------------------


def _form(api: Api, path: str, fields: dict[str, str], **headers: str) -> tuple[int, dict[str, str], Any]:
    return api("POST", path, body=urlencode(fields), headers={**FORM, **headers})


REFUND_FORM = {
    "expected_version": "0",
    "rule-0-id": "refund",
    "rule-0-name": "Refunds",
    "rule-0-enabled": "on",
    "rule-0-match": "all",
    "rule-0-cond-0-kind": "subject",
    "rule-0-cond-0-op": "contains",
    "rule-0-cond-0-value": "refund",
    "rule-0-act-0-kind": "add_tags",
    "rule-0-act-0-value": "refund, money",
    "rule-0-act-1-kind": "set_priority",
    "rule-0-act-1-value": "high",
}


def test_the_form_saves_rules_and_shows_problems_at_their_fields(api: Api, table: Table) -> None:
    status, _, page = api("GET", "/admin/rules")
    assert status == 200
    assert "No rules yet" in page

    bad = {
        **REFUND_FORM,
        "rule-0-cond-0-op": "matches",
        "rule-0-cond-0-value": "(unclosed",
        "rule-0-act-1-value": "soon",
        "rule-1-id": "Bad Id",
        "rule-1-name": "",
    }
    status, _, page = _form(api, "/admin/rules", bad)
    assert status == 422
    assert 'name="rule-0-cond-0-value" value="(unclosed" aria-label="Value" aria-invalid="true"' in page
    assert 'id="error-rule-0-cond-0-value"' in page
    assert 'id="error-rule-1-id"' in page
    assert "slug" in page
    assert 'id="error-rule-1-name"' in page
    assert load_rules(table).version == 0

    status, headers, _ = _form(api, "/admin/rules", {**REFUND_FORM, "note": "refunds first"})
    assert status == 303
    assert headers["Location"] == "/admin/rules?saved=1"
    stored = load_rules(table)
    [rule] = stored.ruleset.rules
    assert rule.id == "refund"
    assert rule.then[0].model_dump() == {"add_tags": ["refund", "money"]}
    assert rule_history(table)[0].note == "refunds first"

    # The saved rule comes back as form fields.
    _, _, page = api("GET", "/admin/rules", "saved=1")
    assert 'name="rule-0-cond-0-value" value="refund"' in page
    assert "Saved as version 1" in page

    # Disabling, a negated condition in "any" mode, and stop.
    fields = {
        **REFUND_FORM,
        "expected_version": "1",
        "rule-0-match": "any",
        "rule-0-cond-1-kind": "sender",
        "rule-0-cond-1-op": "domain",
        "rule-0-cond-1-value": "acme.test",
        "rule-0-cond-1-negate": "on",
        "rule-0-stop": "on",
    }
    del fields["rule-0-enabled"]
    assert _form(api, "/admin/rules", fields)[0] == 303
    rule = load_rules(table).ruleset.rules[0]
    assert not rule.enabled
    assert rule.stop
    assert rule.when.model_dump() == {
        "any": [{"subject": {"contains": "refund"}}, {"not": {"sender": {"domain": "acme.test"}}}]
    }

    # A stale form: 409 and the draft kept.
    status, _, page = _form(api, "/admin/rules", {**REFUND_FORM, "rule-0-name": "Mine"})
    assert status == 409
    assert "Someone else saved version 2" in page
    assert 'value="Mine"' in page


def test_editor_rows_are_added_removed_and_moved_server_side(api: Api) -> None:
    two = {
        **REFUND_FORM,
        "rule-1-id": "second",
        "rule-1-name": "Second",
        "rule-1-act-0-kind": "mark_spam",
    }
    status, _, fragment = _form(api, "/admin/rules/editor", {**two, "op": "up:1"}, **{"hx-request": "true"})
    assert status == 200
    assert fragment.startswith('<div id="rules-editor"') or 'id="rules-editor"' in fragment[:200]
    assert "<html" not in fragment
    assert fragment.index('value="second"') < fragment.index('value="refund"')

    _, _, fragment = _form(api, "/admin/rules/editor", {**two, "op": "add-cond:0"}, **{"hx-request": "true"})
    assert 'name="rule-0-cond-1-kind"' in fragment
    _, _, fragment = _form(
        api, "/admin/rules/editor", {**two, "op": "remove-act:0:0"}, **{"hx-request": "true"}
    )
    assert 'name="rule-0-act-1-kind"' not in fragment
    assert 'value="refund, money"' not in fragment
    _, _, fragment = _form(api, "/admin/rules/editor", {**two, "op": "add-rule"}, **{"hx-request": "true"})
    assert 'name="rule-2-id" value="rule-3"' in fragment
    _, _, fragment = _form(
        api, "/admin/rules/editor", {**two, "op": "remove-rule:0"}, **{"hx-request": "true"}
    )
    assert 'value="refund"' not in fragment
    assert 'name="rule-0-id" value="second"' in fragment
    # Changing a condition's kind re-renders its row with that kind's inputs.
    changed = {**two, "rule-0-cond-0-kind": "header"}
    _, _, fragment = _form(api, "/admin/rules/editor", changed, **{"hx-request": "true"})
    assert 'name="rule-0-cond-0-name"' in fragment
    assert '<option value="present"' in fragment


def test_the_yaml_tab_imports_with_errors_at_their_lines(api: Api, table: Table) -> None:
    _, _, page = api("GET", "/admin/rules", "tab=yaml")
    assert "Download the active rules" in page
    bad = (
        "rules:\n  - id: billing\n    name: Billing\n    when: {subject: {contans: invoice}}\n"
        "    then: [{add_tags: [b]}]\n"
    )
    status, _, page = _form(api, "/admin/rules/yaml", {"yaml": bad, "expected_version": "0"})
    assert status == 422
    assert '<a href="#yaml-line-4">line 4</a>' in page
    assert '<li id="yaml-line-4" class="bad-line">' in page
    good = bad.replace("contans", "contains")
    status, headers, _ = _form(api, "/admin/rules/yaml", {"yaml": good, "expected_version": "0"})
    assert status == 303
    assert load_rules(table).ruleset.rules[0].id == "billing"
    status, headers, exported = api("GET", "/admin/rules/export.yaml")
    assert status == 200
    assert "attachment" in headers["Content-Disposition"]
    assert "id: billing" in exported


def test_the_test_panel_runs_the_unsaved_draft(api: Api, deliver: Deliver, table: Table) -> None:
    conversation = deliver(make_mail(subject="refund for order 9")).outcomes[0]["conversation_id"]
    _, _, page = api("GET", "/admin/rules")
    assert f'<option value="{conversation}">' in page  # recent conversations to pick from
    status, _, result = _form(api, "/admin/rules/test", {**REFUND_FORM, "test_conversation": conversation})
    assert status == 200, result
    assert "1 rule matched" in result
    assert "Refunds" in result
    assert "high" in result
    raw = "From: a@example.com\nTo: support@acme.test\nSubject: hello\n\nNothing here\n"
    _, _, result = _form(api, "/admin/rules/test", {**REFUND_FORM, "test_eml": raw})
    assert "No rule matched" in result
    status, _, result = _form(api, "/admin/rules/test", {**REFUND_FORM, "rule-0-id": "BAD"})
    assert status == 422
    assert "test yet" in result
    assert "must be a slug" in result
    assert load_rules(table).version == 0


def test_history_diff_and_restore_on_the_page(api: Api, table: Table) -> None:
    _put(api, [BILLING], 0, note="billing <b>")
    _put(api, [REFUND], 1)
    _, _, page = api("GET", "/admin/rules", "tab=history")
    assert "billing &lt;b&gt;" in page  # notes are escaped
    assert "Restore version 1" in page
    assert "Restore version 2" not in page
    _, _, diff = api("GET", "/admin/rules/diff", "from=1&to=2")
    assert '<span class="diff-add">+  - id: refund</span>' in diff
    assert '<span class="diff-del">-  - id: billing</span>' in diff
    status, headers, _ = _form(api, "/admin/rules/restore", {"version": "1", "expected_version": "2"})
    assert status == 303
    assert headers["Location"] == "/admin/rules?tab=history&saved=3"
    assert [rule.id for rule in load_rules(table).ruleset.rules] == ["billing"]
    status, _, page = _form(api, "/admin/rules/restore", {"version": "2", "expected_version": "2"})
    assert status == 409


def test_nested_rules_are_edited_as_yaml_in_the_form(api: Api, table: Table) -> None:
    nested = {
        "id": "nested",
        "name": "Nested",
        "when": {"all": [{"any": [{"subject": {"contains": "a"}}, {"subject": {"contains": "b"}}]}]},
        "then": [{"add_tags": ["n"]}],
    }
    _put(api, [nested], 0)
    _, _, page = api("GET", "/admin/rules")
    assert 'name="rule-0-yaml"' in page
    fields = {
        "expected_version": "1",
        "rule-0-id": "nested",
        "rule-0-name": "Nested",
        "rule-0-enabled": "on",
        "rule-0-yaml": "id: nested\nname: Nested\nwhen:\n  any:\n    - subjekt: {contains: a}\n"
        "then: [{add_tags: [n]}]\n",
    }
    status, _, page = _form(api, "/admin/rules", fields)
    assert status == 422
    assert "line 5" in page
    assert "did you mean" in page
    fields["rule-0-yaml"] = fields["rule-0-yaml"].replace("subjekt", "subject")
    assert _form(api, "/admin/rules", fields)[0] == 303
    assert load_rules(table).ruleset.rules[0].when.model_dump() == {"any": [{"subject": {"contains": "a"}}]}


def test_audit_entries_are_queryable_by_day(api: Api, table: Table) -> None:
    _put(api, [BILLING], 0)
    [entry] = _audit(table)
    day = str(entry[schema.PK])
    items = table.query_all(key_condition=Condition("#pk = :pk", {"#pk": schema.PK}, {":pk": day}))
    assert items
    assert items[0]["entity"] == "audit"
    assert items[0]["target"] == "rules v1"


def test_cli_versions_diff_and_restore(api: Api, table: Table) -> None:
    from click.testing import CliRunner

    from mailroom.cli import main

    _put(api, [BILLING], 0, note="billing")
    _put(api, [BILLING, REFUND], 1)
    runner = CliRunner()
    listed = runner.invoke(main, ["rules", "versions"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines()[0].startswith("v2\t")
    assert "billing" in listed.output.splitlines()[1]
    diffed = runner.invoke(main, ["rules", "diff", "1"])
    assert diffed.exit_code == 0
    assert "+  - id: refund" in diffed.output
    assert runner.invoke(main, ["rules", "diff", "9"]).exit_code == 1
    restored = runner.invoke(main, ["rules", "restore", "1", "--actor", "ops@acme.test"])
    assert restored.exit_code == 0
    assert "as version 3" in restored.output
    assert [r.id for r in load_rules(table).ruleset.rules] == ["billing"]
    assert load_rules(table).updated_by == "ops@acme.test"


def _multipart(fields: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """A browser's file upload: ``multipart/form-data`` (a tuple value is a file)."""
    from urllib3 import encode_multipart_formdata

    body, content_type = encode_multipart_formdata(fields)
    return body, {"content-type": content_type}


GOOD_FILE = (
    "rules:\n  - id: uploaded\n    name: Uploaded\n    when: {subject: {contains: x}}\n"
    "    then: [{add_tags: [x]}]\n"
)


def test_the_yaml_tab_imports_an_uploaded_file(api: Api, table: Table) -> None:
    _, _, page = api("GET", "/admin/rules", "tab=yaml")
    assert 'enctype="multipart/form-data"' in page
    assert 'name="yaml_file" type="file"' in page

    def upload(
        content: bytes, pasted: str = "", *, user: str | None = None, filename: str = "rules.yaml"
    ) -> tuple[int, dict[str, str], Any]:
        body, headers = _multipart(
            {
                "expected_version": str(load_rules(table).version),
                "yaml": pasted,
                "yaml_file": (filename, content, "application/yaml"),
                "note": "from a file",
            }
        )
        return api(
            "POST", "/admin/rules/yaml", body=body, headers=headers, **({"user": user} if user else {})
        )

    status, _, page = upload(GOOD_FILE.replace("contains", "contans").encode())
    assert status == 422
    assert '<li id="yaml-line-4" class="bad-line">' in page  # the file's own line
    status, _, page = upload("rules: [] # caf\xe9".encode("latin-1"), pasted="rules: []")
    assert status == 422
    assert "rules.yaml is not UTF-8 text" in page
    assert load_rules(table).version == 0  # nothing imported

    status, headers, _ = upload(GOOD_FILE.encode("utf-8-sig"), pasted="rules: []")  # the file wins
    assert status == 303, headers
    active = load_rules(table)
    assert [rule.id for rule in active.ruleset.rules] == ["uploaded"]
    assert rule_history(table)[0].note == "from a file"

    # No file chosen (the browser still sends the empty file part): the pasted text is imported.
    status, _, _ = upload(b"", pasted="rules: []\n", filename="")
    assert status == 303
    assert load_rules(table).ruleset.rules == []
    assert load_rules(table).version == 2

    upsert_user(table, AGENT, name="Agent", role="agent")
    status, _, _ = upload(GOOD_FILE.encode(), user=AGENT)
    assert status == 403
    assert load_rules(table).version == 2


def test_a_signed_in_browser_uploads_with_its_csrf_field(api: Api, table: Table) -> None:
    status, headers, _ = api(
        "POST", "/signin", body="email=admin%40acme.test&next=%2F", user=None, headers=FORM
    )
    assert status == 303
    session = headers["Set-Cookie"].split(";")[0]
    _, _, page = api("GET", "/admin/rules", "tab=yaml", user=None, cookies=[session])
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    fields: dict[str, Any] = {
        "expected_version": "0",
        "yaml_file": ("r.yaml", GOOD_FILE.encode(), "text/yaml"),
    }

    body, multipart = _multipart(fields)
    status, _, refused = api(
        "POST", "/admin/rules/yaml", body=body, headers=multipart, user=None, cookies=[session]
    )
    assert status == 403
    assert "CSRF" in refused["message"]
    body, multipart = _multipart({"csrf_token": "wrong", **fields})
    assert (
        api("POST", "/admin/rules/yaml", body=body, headers=multipart, user=None, cookies=[session])[0] == 403
    )
    assert load_rules(table).version == 0

    body, multipart = _multipart({"csrf_token": csrf, **fields})
    status, _, _ = api(
        "POST", "/admin/rules/yaml", body=body, headers=multipart, user=None, cookies=[session]
    )
    assert status == 303
    assert load_rules(table).ruleset.rules[0].id == "uploaded"
