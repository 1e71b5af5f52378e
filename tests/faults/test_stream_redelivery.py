"""Stream batches delivered more than once (Lambda's event source mappings deliver at least once):
routing and metrics recognise what they already did."""

from __future__ import annotations

from sandbox.faults import FaultConfig
from tests.faults.harness import Harness, metrics_applied_once, run_scenario


def test_every_stream_batch_delivered_twice(harness: Harness) -> None:
    with harness.faults(FaultConfig(stream_redeliver=1.0)) as injector:
        scenario = run_scenario(harness)

    assert injector.fired["stream_redeliver"] >= 4  # route and metrics, before and after the reply
    assert harness.violations() == []
    for figure, (events, rollups) in metrics_applied_once(harness.table).items():
        assert events == rollups, figure
    assert scenario.reply_status in {200, 201}
    assert harness.automatic_replies()["fox@example.com"] == 1
