"""A small load test (the same run as ``make loadtest``, 60 mails): concurrent SMTP senders and
agents working through the API against a real sandbox subprocess, then every invariant of
sandbox/invariants.py checked on the table. Figures are not asserted here (``make loadtest``)."""

from __future__ import annotations

from bench.load.run import LoadConfig, run


def test_a_small_load_run_keeps_every_invariant() -> None:
    result = run(LoadConfig(emails=60, senders=2, agents=2, tight_capacity=2, attachments=1, seed=3))

    assert result.violations == [], "\n".join(str(v) for v in result.violations)
    mail = result.figures["mail"]
    assert mail["accepted"] == 60
    assert mail["refused"] == {}
    # The run exercised what the invariants are about: redeliveries, threads, broken mail, replies.
    planned = mail["planned_by_kind"]
    assert {kind: planned.get(kind, 0) > 0 for kind in ("duplicate", "reply", "malformed", "attachment")} == {
        "duplicate": True,
        "reply": True,
        "malformed": True,
        "attachment": True,
    }
    assert result.figures["agents"]["replies"] > 0
    # Conversations may end the run still queued (the agents stop at capacity): the invariants above
    # prove no one had room for them. None was closed or held without an assignment.
    assert result.figures["latency"]["never_assigned"] == 0
