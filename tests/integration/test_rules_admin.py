"""Rules as code and the dry run: the CLI and the API, on DynamoDB Local."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailroom.cli import main
from mailroom.routing.rules_store import RuleCache, RuleSetConflictError, load_rules, rule_history, save_rules
from mailroom.rules.yaml_io import parse_rules_yaml
from mailroom.table.client import Table
from tests.integration.conftest import Api, Deliver
from tests.mailfactory import make_mail

GOOD = """rules:
  - id: billing
    name: Invoices go to Billing
    when: {subject: {contains: invoice}}
    then:
      - add_tags: [billing]
      - set_team: billing
"""
BAD = """rules:
  - id: billing
    name: Invoices go to Billing
    when: {subject: {contans: invoice}}
    then:
      - add_tags: [billing]
  - id: sales
    name: Sales
    when: {body: {matches: "(unclosed"}}
    then: [{set_team: sales}]
"""


def test_cli_imports_exports_and_refuses_a_bad_file_whole(table: Table, tmp_path: Path) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    refused = runner.invoke(main, ["rules", "import", str(bad)])
    assert refused.exit_code == 1
    assert "bad.yaml:4:" in refused.output  # the misspelled key, at its line
    assert "bad.yaml:9:" in refused.output  # the broken regex, at its line
    assert "nothing was imported" in refused.output
    assert load_rules(table).version == 0

    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    imported = runner.invoke(main, ["rules", "import", str(good)])
    assert imported.exit_code == 0, imported.output
    assert "version 1" in imported.output

    exported = runner.invoke(main, ["rules", "export"])
    assert exported.exit_code == 0
    assert parse_rules_yaml(exported.output).rules == parse_rules_yaml(GOOD).rules


def test_cli_dry_run_on_an_eml_file(table: Table, tmp_path: Path) -> None:
    save_rules(table, parse_rules_yaml(GOOD), expected_version=0, actor="test")
    eml = tmp_path / "m.eml"
    eml.write_bytes(make_mail(subject="Your invoice 7", to="support@acme.test"))
    result = CliRunner().invoke(main, ["rules", "dry-run", "--eml", str(eml)])
    assert result.exit_code == 0, result.output
    assert "rule 'billing' matched" in result.output
    assert load_rules(table).version == 1  # nothing changed


def test_api_dry_run_for_a_stored_message_and_for_raw_mail(deliver: Deliver, api: Api, table: Table) -> None:
    save_rules(table, parse_rules_yaml(GOOD), expected_version=0, actor="test")
    conv = deliver(make_mail(subject="invoice please")).outcomes[0]["conversation_id"]
    status, _, body = api("POST", "/api/rules/dry-run", body=json.dumps({"conversation_id": conv}))
    assert status == 200, body
    assert [m["rule_id"] for m in body["matched"]] == ["billing"]
    assert body["team"] == "billing"
    assert body["sources"]["team"] == "billing"

    raw = make_mail(subject="hello", to="sales@acme.test").decode()
    status, _, body = api("POST", "/api/rules/dry-run", body=json.dumps({"eml": raw}))
    assert status == 200
    assert body["matched"] == []
    assert body["explain"] == ["no rule matched"]

    status, _, body = api("POST", "/api/rules/dry-run", body=json.dumps({}))
    assert status == 422
    status, _, body = api("POST", "/api/rules/dry-run", body=json.dumps({"conversation_id": "cnothere1"}))
    assert status == 404


def test_saving_is_optimistic_and_every_version_is_kept(table: Table) -> None:
    first = save_rules(table, parse_rules_yaml(GOOD), expected_version=0, actor="ada")
    with pytest.raises(RuleSetConflictError):
        save_rules(table, parse_rules_yaml(GOOD), expected_version=0, actor="bob")
    second = save_rules(table, parse_rules_yaml("rules: []"), expected_version=first, actor="bob")
    assert [v.version for v in rule_history(table)] == [second, first]
    assert [v.updated_by for v in rule_history(table)] == ["bob", "ada"]


def test_the_running_function_picks_up_changes_after_its_cache_expires(table: Table) -> None:
    now = [100.0]
    cache = RuleCache(table, ttl=30, clock=lambda: now[0])
    assert cache.get().version == 0
    save_rules(table, parse_rules_yaml(GOOD), expected_version=0, actor="test")
    now[0] += 29.9
    assert cache.get().version == 0  # still cached
    now[0] += 0.1
    assert cache.get().version == 1


def test_the_route_function_caches_rules_for_the_configured_time(
    table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailroom.routing import wiring
    from mailroom.settings import Settings, reset_settings_cache

    monkeypatch.setenv("MAILROOM_RULES_CACHE_SECONDS", "0")
    reset_settings_cache()
    wiring.router.cache_clear()
    try:
        rules = wiring.router().rules
        assert rules.get().version == 0
        save_rules(table, parse_rules_yaml(GOOD), expected_version=0, actor="test")
        assert rules.get().version == 1  # no cache: the next message sees the saved version
    finally:
        wiring.router.cache_clear()
    assert Settings().rules_cache_seconds == 0
    monkeypatch.delenv("MAILROOM_RULES_CACHE_SECONDS")
    assert Settings().rules_cache_seconds == 30  # the default: live within half a minute
    with pytest.raises(ValueError, match="rules_cache_seconds"):
        Settings(rules_cache_seconds=-1)
