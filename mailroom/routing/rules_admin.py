"""Changing the routing rules as an admin: save, restore, history and diffs, each change audited.

Every save is a new version (:mod:`mailroom.routing.rules_store` keeps them all, with who saved
it, when and why); a restore saves an old version's rules as the next version, so history only
grows. Each change writes one audit entry naming the version and which rules it added, removed or
changed.
"""

from __future__ import annotations

import difflib
from typing import Any

from mailroom.routing.rules_store import StoredRuleSet, load_rules, load_version, save_rules
from mailroom.rules.model import RuleSet
from mailroom.rules.yaml_io import dump_rules_yaml
from mailroom.table.client import Table


class VersionNotFoundError(LookupError):
    def __init__(self, version: int) -> None:
        super().__init__(f"no rules version {version}")
        self.version = version


def ruleset_yaml(ruleset: RuleSet) -> str:
    """The rules as YAML without the version stamp (so two versions' YAML differ only in rules)."""
    return dump_rules_yaml(ruleset.model_copy(update={"version": 0}))


def get_version(table: Table, version: int) -> StoredRuleSet:
    """A kept version; version 0 is the empty rule set before the first save."""
    if version == 0:
        return StoredRuleSet(RuleSet(rules=[]), 0, None, None, "no rules yet")
    stored = load_version(table, version)
    if stored is None:
        raise VersionNotFoundError(version)
    return stored


def diff_versions(table: Table, old: int, new: int) -> str:
    """A unified diff of the YAML of two versions (empty when they hold the same rules)."""
    before, after = get_version(table, old), get_version(table, new)
    return unified_diff(ruleset_yaml(before.ruleset), ruleset_yaml(after.ruleset), f"v{old}", f"v{new}")


def unified_diff(before: str, after: str, before_label: str, after_label: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), before_label, after_label
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def changes(before: RuleSet, after: RuleSet) -> dict[str, Any]:
    """Which rule ids were added, removed or changed between two rule sets, and whether the rules
    both hold were reordered."""
    old = {rule.id: rule for rule in before.rules}
    new = {rule.id: rule for rule in after.rules}
    kept = [rule_id for rule_id in new if rule_id in old]
    return {
        "added": [rule_id for rule_id in new if rule_id not in old],
        "removed": [rule_id for rule_id in old if rule_id not in new],
        "changed": [rule_id for rule_id in kept if new[rule_id] != old[rule_id]],
        "reordered": [rule_id for rule_id in old if rule_id in new] != kept,
    }


def save(
    table: Table,
    ruleset: RuleSet,
    *,
    expected_version: int,
    actor: str,
    note: str = "",
    restored_from: int | None = None,
) -> int:
    """Save ``ruleset`` as the next version (RuleSetConflictError when ``expected_version`` is stale).
    The store writes the audit entry in the same transaction; it says which rules changed."""
    try:
        before = get_version(table, expected_version).ruleset
    except VersionNotFoundError:  # an active set saved before versions were kept
        before = load_rules(table).ruleset
    details: dict[str, Any] = {"previous_version": expected_version, **changes(before, ruleset)}
    if restored_from is not None:
        details["restored_from"] = restored_from
    return save_rules(
        table, ruleset, expected_version=expected_version, actor=actor, note=note, audit_details=details
    )


def restore(table: Table, version: int, *, expected_version: int | None, actor: str) -> int:
    """Save version ``version``'s rules as a new version; returns the new version's number."""
    old = get_version(table, version)
    current = load_rules(table).version if expected_version is None else expected_version
    return save(
        table,
        old.ruleset,
        expected_version=current,
        actor=actor,
        note=f"restored version {version}",
        restored_from=version,
    )
