"""The rule set in the table, versioned: ``RULES``/``ACTIVE`` plus one ``RULES``/``V#<n>`` per version.

Saving is optimistic (``version = :previous``), so two admins can't silently overwrite each other,
and every version is kept for history and one-click restore. The route function caches the active
set for at most ``MAILROOM_RULES_CACHE_SECONDS`` (default ``CACHE_SECONDS``), so a change is live
within a minute without a redeploy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mailroom.audit.log import RULES_SAVE, audit_put
from mailroom.clock import iso, now
from mailroom.rules.model import RuleSet
from mailroom.table import schema
from mailroom.table.client import Condition, Put, Table, TransactionCancelledError, partition

PARTITION = "RULES"
ACTIVE = "ACTIVE"
CACHE_SECONDS = 30.0


class RuleSetConflictError(Exception):
    """Someone saved another version meanwhile: reload, then save again."""


@dataclass(frozen=True)
class StoredRuleSet:
    ruleset: RuleSet
    version: int
    updated_at: str | None
    updated_by: str | None
    note: str = ""  # why it was saved ("restored version 3"); kept with each version


def _version_key(version: int) -> dict[str, str]:
    return {schema.PK: PARTITION, schema.SK: f"V#{version:08d}"}


def load_rules(table: Table) -> StoredRuleSet:
    item = table.get({schema.PK: PARTITION, schema.SK: ACTIVE}, consistent=True)
    if not item:
        return StoredRuleSet(RuleSet(rules=[]), 0, None, None)
    ruleset = RuleSet.model_validate_json(str(item["document"]))
    return StoredRuleSet(ruleset, int(item["version"]), item.get("updated_at"), item.get("updated_by"))


def save_rules(
    table: Table,
    ruleset: RuleSet,
    *,
    expected_version: int,
    actor: str,
    note: str = "",
    audit_details: Mapping[str, Any] | None = None,
) -> int:
    """Store ``ruleset`` as the next version; returns it. Raises RuleSetConflictError on a race.
    ``audit_details`` are added to the audit entry (what changed: see ``rules_admin.changes``)."""
    version = expected_version + 1
    stamped = ruleset.model_copy(update={"version": version})
    document = stamped.model_dump_json()
    at = iso(now())
    common = {
        "entity": "ruleset",
        "version": version,
        "document": document,
        "updated_at": at,
        "updated_by": actor,
    }
    condition = (
        Condition("attribute_not_exists(#pk)", {"#pk": schema.PK})
        if expected_version == 0
        else Condition("#v = :v", {"#v": "version"}, {":v": expected_version})
    )
    try:
        table.transact_write(
            [
                Put({schema.PK: PARTITION, schema.SK: ACTIVE, **common}, condition),
                Put({**_version_key(version), **common, "note": note}),
                audit_put(  # the audit log, atomic with the change (one entry per version)
                    actor=actor,
                    action=RULES_SAVE,
                    target=f"rules v{version}",
                    details={
                        "version": version,
                        "rules": len(ruleset.rules),
                        "note": note or None,
                        **(audit_details or {}),
                    },
                    at=at,
                    entry_id=f"rules-v{version}",
                ),
            ]
        )
    except TransactionCancelledError as exc:
        if exc.failed_condition_at(0):
            raise RuleSetConflictError(
                f"the rules changed meanwhile (version {expected_version} is no longer current)"
            ) from exc
        raise
    return version


def rule_history(table: Table, limit: int = 50) -> list[StoredRuleSet]:
    page = table.query(
        key_condition=partition(PARTITION, "V#"),
        forward=False,
        limit=limit,
    )
    return [
        StoredRuleSet(
            RuleSet.model_validate_json(str(i["document"])),
            int(i["version"]),
            i.get("updated_at"),
            i.get("updated_by"),
            str(i.get("note") or ""),
        )
        for i in page.items
    ]


def load_version(table: Table, version: int) -> StoredRuleSet | None:
    """One kept version (``RULES``/``V#<n>``): who saved it, when, why; None when there is none."""
    if version < 1:
        return None
    item = table.get(_version_key(version), consistent=True)
    if not item:
        return None
    return StoredRuleSet(
        RuleSet.model_validate_json(str(item["document"])),
        int(item["version"]),
        item.get("updated_at"),
        item.get("updated_by"),
        str(item.get("note") or ""),
    )


class RuleCache:
    """The active rules, re-read at most every ``ttl`` seconds (per Lambda container); 0: always."""

    def __init__(
        self, table: Table, ttl: float = CACHE_SECONDS, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.table = table
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._value: StoredRuleSet | None = None
        self._loaded_at = 0.0

    def get(self) -> StoredRuleSet:
        with self._lock:
            if self._value is None or self.clock() - self._loaded_at >= self.ttl:
                self._value = load_rules(self.table)
                self._loaded_at = self.clock()
            return self._value
