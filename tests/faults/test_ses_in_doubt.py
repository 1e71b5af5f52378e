"""SES takes the reply and its answer is lost: the product does not guess. The agent is told the
reply may or may not have gone out (JSON, composer and thread), nothing is sent again on a retry,
and settling it ("it went out") sends nothing more."""

from __future__ import annotations

from sandbox.faults import FaultConfig
from tests.faults.harness import Harness, new_mail


def test_reply_in_doubt_is_shown_and_settled_without_a_second_mail(harness: Harness) -> None:
    with harness.faults(FaultConfig()):
        [outcome] = harness.deliver(new_mail("Printer on fire"))
        harness.settle()
    conversation_id = str(outcome["conversation_id"])
    key = "doubt-0001"

    with harness.faults(FaultConfig(ses_in_doubt=1.0)) as injector:
        status, answer = harness.reply(conversation_id, key=key)
        assert injector.fired["ses_in_doubt"] == 1
        assert status == 202
        assert answer["status"] == "unknown"
        assert answer["in_doubt"] is True
        message_id = str(answer["message_id"])
        assert harness.outbox_copies(message_id) == 1  # it did go out

        # The client retries with the same key: told the same, and nothing is sent again.
        status, again = harness.resend(key)
        assert (status, again["status"], again["in_doubt"]) == (202, "unknown", True)
        assert injector.fired["ses_in_doubt"] == 1

        # What the agent sees in the page: the thread marks the reply, the composer asks.
        agent, body = harness.composed(key)
        status, page = harness.api("GET", f"/conversations/{conversation_id}", user=agent)
        assert status == 200
        assert "delivery unknown" in page
        form = {"idempotency_key": key, "seen_version": str(body["seen_version"]), "text": body["text"]}
        status, composer = harness.api(
            "POST", f"/conversations/{conversation_id}/reply", user=agent, form=form
        )
        assert status == 200
        assert "We can't tell whether this reply went out" in composer
        assert 'name="resolve" value="sent"' in composer
        assert 'name="resolve" value="not_sent"' in composer

        # The agent checks the sent mail and settles it with the composer's button.
        status, settled = harness.api(
            "POST", f"/conversations/{conversation_id}/reply", user=agent, form={**form, "resolve": "sent"}
        )
        assert status == 200
        assert "Reply sent" in settled
        assert injector.fired["ses_in_doubt"] == 1

    assert harness.outbox_copies(message_id) == 1
    assert harness.violations() == []
