"""A crash at each point between two writes, then the retry AWS makes (Lambda's asynchronous
retry, the stream's, the client's with the same idempotency key): the invariants hold afterwards.

The points are read from the source (every ``checkpoint("...")`` call), so a new one is covered by
the scenario of its stage as soon as it is written; the test fails if the scenario never reaches it.
"""

from __future__ import annotations

import pytest

from sandbox.faults import OUTBOX_POINT, FaultConfig, fault_points
from tests.faults.harness import Harness, metrics_applied_once, run_scenario

CRASH_POINTS = [point for point in fault_points() if point != OUTBOX_POINT]
STAGES = {"ingest", "route", "reply", "metrics"}
# Where a crash leaves the reply in doubt: the agent is told, and settles it.
IN_DOUBT = {"reply.after_sending_taken", "reply.after_send"}
# The automatic reply is sent at most once: a crash after taking its slot and before sending
# loses it (routing/autoreply.py); everywhere else it goes out exactly once.
AUTO_REPLY_LOST = {"route.after_auto_reply_slot"}


def test_the_crash_points_are_found_and_each_belongs_to_a_scenario() -> None:
    assert len(CRASH_POINTS) >= 8
    assert {point.partition(".")[0] for point in CRASH_POINTS} <= STAGES


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_crash_between_writes_then_retry(harness: Harness, point: str) -> None:
    with harness.faults(FaultConfig(crash=frozenset({point}))) as injector:
        scenario = run_scenario(harness)

    assert injector.fired[f"crash:{point}"] == 1, f"the scenario never reached {point}"
    assert harness.violations() == []
    for figure, (events, rollups) in metrics_applied_once(harness.table).items():
        assert events == rollups, figure
    assert harness.automatic_replies()["fox@example.com"] == (0 if point in AUTO_REPLY_LOST else 1)
    if point in IN_DOUBT:
        # The client's retry was answered 202, and later the agent was told it is in doubt.
        assert scenario.reply_status == 202
        assert scenario.shown is not None
        assert scenario.shown["status"] == "unknown"
    else:
        assert scenario.reply_status in {200, 201}
