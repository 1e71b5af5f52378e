"""DynamoDB answering with throttling and internal errors, and losing the answers to writes that
were made: botocore's retries and the product's own handling keep every invariant."""

from __future__ import annotations

import pytest

from mailroom.settings import reset_settings_cache
from sandbox.faults import FaultConfig
from tests.faults.harness import Harness, metrics_applied_once, run_scenario


def test_throttling_and_internal_errors_on_a_fraction_of_calls(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILROOM_COST_METERING", "true")  # its writes meet the faults too
    reset_settings_cache()
    config = FaultConfig(seed=11, dynamodb_throttle=0.02, dynamodb_error=0.05, dynamodb_lost_response=0.05)
    with harness.faults(config) as injector:
        scenario = run_scenario(harness)

    assert injector.fired["dynamodb_throttle"] > 0
    assert injector.fired["dynamodb_error"] > 0
    assert injector.fired["dynamodb_lost_response"] > 0
    assert harness.violations() == []
    for figure, (events, rollups) in metrics_applied_once(harness.table).items():
        assert events == rollups, figure
    assert scenario.reply_status in {200, 201}
    assert harness.automatic_replies()["fox@example.com"] == 1


def test_the_answer_to_every_write_lost_once(harness: Harness) -> None:
    """Each write is made, its answer lost, and the SDK's retry meets the write already done:
    transactions are idempotent by their client request token; conditional single-item writes
    fail their condition on their own write, and must recognise it."""
    with harness.faults(FaultConfig(dynamodb_lost_response=1.0)) as injector:
        scenario = run_scenario(harness)

    assert injector.fired["dynamodb_lost_response"] >= 15
    assert harness.violations() == []
    for figure, (events, rollups) in metrics_applied_once(harness.table).items():
        assert events == rollups, figure
    assert scenario.reply_status in {200, 201}
    assert harness.automatic_replies()["fox@example.com"] == 1
