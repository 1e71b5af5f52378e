"""Fault-scenario fixtures: the integration fixtures' table and raw store, with the organisation
and the in-process pipeline of :mod:`tests.faults.harness`."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailroom.settings import reset_settings_cache
from mailroom.storage.local import LocalStore
from mailroom.table.client import Table
from tests.faults.harness import Harness, set_up_organisation
from tests.integration.conftest import env, store, table

__all__ = ["env", "harness", "store", "table"]


@pytest.fixture
def harness(
    table: Table, store: LocalStore, ddb_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Harness:
    # Cost metering adds a few writes to every invocation and no invariant: the fault scenarios
    # run without it (tests/faults/test_dynamodb_faults.py keeps it, to fault its writes too).
    monkeypatch.setenv("MAILROOM_COST_METERING", "false")
    reset_settings_cache()
    set_up_organisation(table)
    return Harness(
        table=table,
        store=store,
        outbox=tmp_path / "outbox",
        endpoint=ddb_endpoint,
        state_dir=tmp_path / "streams",
    )
