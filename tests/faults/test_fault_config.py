"""The fault configuration (``MAILROOM_FAULTS`` / ``--faults``): parsed strictly, repeatable by seed,
and the crash points armed only while installed."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from mailroom import faultpoints
from mailroom.cli import main
from mailroom.outbound.sender import SendInDoubtError
from sandbox.faults import FaultConfig, FaultInjector, SimulatedCrash, fault_points, parse_faults


def test_key_value_and_json_forms_are_the_same_config() -> None:
    text = "seed=7, dynamodb_throttle=0.05, stream_redeliver=0.5, crash=ingest.after_commit|route.after_rules"
    config = parse_faults(text)
    assert config == parse_faults(config.as_text())
    assert config.seed == 7
    assert config.crash == frozenset({"ingest.after_commit", "route.after_rules"})
    assert config.armed("route.after_rules")
    assert not config.armed("reply.after_send")
    assert parse_faults("crash=*").armed("reply.after_send")


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("dynamodb_trottle=0.1", "dynamodb_trottle"),
        ("dynamodb_throttle=1.5", "less than or equal to 1"),
        ("crash=ingest.after_comit", "did you mean ingest.after_commit"),
        ("seed", "not key=value"),
    ],
)
def test_mistakes_are_refused_with_the_reason(text: str, complaint: str) -> None:
    with pytest.raises((ValueError, ValidationError), match=re.escape(complaint)):
        parse_faults(text)


def test_the_sandbox_refuses_a_bad_fault_spec_before_starting() -> None:
    result = CliRunner().invoke(main, ["sandbox", "--faults", "crash=nowhere"])
    assert result.exit_code == 2
    assert "--faults" in result.output
    assert "no crash point 'nowhere'" in result.output


def test_every_crash_point_is_found_in_the_source() -> None:
    points = fault_points()
    assert "ingest.after_commit" in points
    assert "outbox.after_write" in points
    assert len(points) == len(set(points))


def test_the_same_seed_meets_the_same_faults() -> None:
    def decisions(seed: int) -> list[bool]:
        injector = FaultInjector(FaultConfig(seed=seed, stream_redeliver=0.5))
        return [injector.redeliver("route") for _ in range(40)]

    assert decisions(3) == decisions(3)
    assert decisions(3) != decisions(4)
    assert 0 < sum(decisions(3)) < 40


def test_crash_points_are_armed_only_while_installed() -> None:
    injector = FaultInjector(
        FaultConfig(crash=frozenset({"reply.after_send"}), crash_each=2, ses_in_doubt=1.0)
    )
    faultpoints.checkpoint("reply.after_send")  # nothing armed: a no-op
    with injector.installed():
        faultpoints.checkpoint("reply.after_queue")  # not armed
        for _ in range(2):
            with pytest.raises(SimulatedCrash) as crash:
                faultpoints.checkpoint("reply.after_send")
            assert crash.value.point == "reply.after_send"
        faultpoints.checkpoint("reply.after_send")  # crashed twice already: passes
        with pytest.raises(SendInDoubtError):
            faultpoints.checkpoint("outbox.after_write")
    faultpoints.checkpoint("outbox.after_write")
    assert injector.fired == {"crash:reply.after_send": 2, "ses_in_doubt": 1}


def test_the_guard_turns_a_crash_into_a_failed_invocation() -> None:
    injector = FaultInjector(FaultConfig(crash=frozenset({"route.after_rules"})))

    def handler(event: dict[str, object], context: object) -> str:
        faultpoints.checkpoint("route.after_rules")
        return "done"

    with injector.installed():
        with pytest.raises(RuntimeError, match=re.escape("crashed at route.after_rules")):
            injector.guard(handler)({}, None)
        assert injector.guard(handler)({}, None) == "done"
