"""The sandbox killed with SIGKILL mid-run (itself, DynamoDB Local and its API workers, all at
once), then started again on the same data directory: nothing it accepted is lost, nothing is
stored or sent twice, and routing, assignment and replies carry on."""

from __future__ import annotations

import json
import smtplib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.load.mix import Outgoing, crlf
from bench.load.senders import transact
from mailroom.ingest.repository import IngestRepository
from mailroom.table.client import Table
from sandbox.app import STATE_FILE
from sandbox.dynamodb_local import local_client
from sandbox.invariants import Ledger, SentMail, SentReply, Violation, check_invariants
from tests.e2e.sandbox_process import SandboxProcess, alive
from tests.faults.harness import SALES, SUPPORT, set_up_organisation
from tests.mailfactory import make_mail

MAILS = 24
BEFORE_KILL = 6  # accepted before the first reply and the burst that the kill interrupts
HANG_GUARD_S = 120.0  # a broken pipeline fails the test instead of hanging it
ONE_WORKER = ("--api-workers", "1")
# After the restart the sandbox injects faults of its own (through the --faults option): crashes
# in ingest, routing and metrics, and redelivered stream batches, while it catches up.
RESTART_FAULTS = (
    "crash=ingest.after_commit|route.after_rules|route.after_assign|metrics.after_conversation_written,"
    "stream_redeliver=0.5,seed=5"
)


def outgoing(seq: int) -> Outgoing:
    """A new customer mail; every fourth goes to both mailboxes."""
    customer = f"customer{seq % 5}@example.com"
    subject = f"Order {seq} is late"
    recipients = (SUPPORT, SALES) if seq % 4 == 0 else (SUPPORT,)
    message_id = f"kill-{seq}@example.com"
    raw = make_mail(subject=subject, sender=customer, to=", ".join(recipients), message_id=f"<{message_id}>")
    return Outgoing(
        seq=seq,
        kind="new",
        envelope_from=customer,
        recipients=recipients,
        raw=crlf(raw),
        message_id=message_id,
        subject=subject,
        customer=customer,
    )


def record(ledger: Ledger, mail: Outgoing, ses_id: str) -> None:
    ledger.record_mail(
        SentMail(
            ses_message_id=ses_id,
            mailboxes=mail.recipients,
            message_id=mail.message_id,
            sha256=mail.sha256,
            accepted_at=time.time(),
        )
    )


def table_of(data_dir: Path) -> Table:
    state = json.loads((data_dir / STATE_FILE).read_text())
    return Table(state["table_name"], local_client("dynamodb", state["dynamodb_endpoint"]))


def wait_until(condition: Callable[[], Any], what: str, *, every: float = 0.5) -> Any:
    deadline = time.monotonic() + HANG_GUARD_S
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"never happened: {what}")


def reply_to_assigned(
    sandbox: SandboxProcess, table: Table, mail: Outgoing, key: str, ledger: Ledger
) -> None:
    """The assignee of ``mail``'s conversation (once routing assigned it) answers it."""
    conversation_id = str(
        wait_until(
            lambda: IngestRepository(table).message_id_record(str(mail.message_id), SUPPORT), "stored"
        )["conversation_id"]
    )
    detail = wait_until(
        lambda: (d := sandbox.get(f"/api/conversations/{conversation_id}"))["assignee"] and d, "assigned"
    )
    body = {"idempotency_key": key, "seen_version": detail["version"], "text": "Sorry, on its way."}
    status, answer = sandbox.post(
        f"/api/conversations/{conversation_id}/replies", body, user=detail["assignee"]
    )
    assert status == 201, answer
    ledger.record_reply(
        SentReply(conversation_id, key, str(detail["assignee"]), status, message_id=answer["message_id"])
    )


class Burst(threading.Thread):
    """Sends mails one after the other on one connection until the server goes away."""

    def __init__(self, port: int, mails: list[Outgoing], ledger: Ledger) -> None:
        super().__init__(daemon=True)
        self.port, self.mails, self.ledger = port, mails, ledger
        self.accepted = 0
        self.unanswered: list[Outgoing] = []  # in flight when the server died, and never tried

    def run(self) -> None:
        with smtplib.SMTP("127.0.0.1", self.port, timeout=60) as smtp:
            smtp.ehlo("faults.example")
            for index, mail in enumerate(self.mails):
                try:
                    record(self.ledger, mail, transact(smtp, mail))
                except (smtplib.SMTPException, OSError):
                    self.unanswered = self.mails[index:]
                    return
                self.accepted += 1


def test_sigkill_mid_run_then_restart_loses_and_doubles_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ledger = Ledger()
    mails = [outgoing(seq) for seq in range(MAILS)]
    sandbox = SandboxProcess(data_dir, extra_args=ONE_WORKER).start()
    try:
        table = table_of(data_dir)
        set_up_organisation(table)
        with smtplib.SMTP("127.0.0.1", sandbox.smtp_port, timeout=60) as smtp:
            smtp.ehlo("faults.example")
            for mail in mails[:BEFORE_KILL]:
                record(ledger, mail, transact(smtp, mail))
        reply_to_assigned(sandbox, table, mails[1], "before-kill-1", ledger)

        burst = Burst(sandbox.smtp_port, mails[BEFORE_KILL:], ledger)
        burst.start()
        wait_until(lambda: burst.accepted >= 3, "three mails of the burst accepted", every=0.02)
        assert sandbox.process is not None
        pid = sandbox.process.pid
        sandbox.kill()  # SIGKILL to the sandbox and every process it started, at once
        burst.join(60)
    finally:
        sandbox.kill()
    assert not alive(pid)
    unanswered = burst.unanswered
    assert unanswered, "the kill came after the burst ended: nothing was interrupted"

    # The mail in flight may have been stored (and even ingested) without its 250: those
    # deliveries are the server's too. A sending MTA tries again; ingest must see a duplicate.
    in_flight = unanswered[0]
    for path in (data_dir / "store" / "raw" / "inbound").iterdir():
        if path.read_bytes() == in_flight.raw:
            record(ledger, in_flight, path.name)

    restarted = SandboxProcess(data_dir, extra_args=(*ONE_WORKER, "--faults", RESTART_FAULTS)).start()
    try:
        assert restarted.log_path is not None
        assert "injecting faults" in restarted.log_path.read_text()
        with smtplib.SMTP("127.0.0.1", restarted.smtp_port, timeout=60) as smtp:
            smtp.ehlo("faults.example")
            for mail in unanswered:
                record(ledger, mail, transact(smtp, mail))
        table = table_of(data_dir)
        reply_to_assigned(restarted, table, mails[2], "after-restart-1", ledger)

        # Routing of what was in the stream at the kill resumes from the poller's checkpoints:
        # look again while the pipeline catches up (bounded), then every invariant must hold.
        violations = settled_violations(table, data_dir, ledger)
    finally:
        restarted.stop()
    assert violations == []


def settled_violations(table: Table, data_dir: Path, ledger: Ledger) -> list[Violation]:
    """The invariants' violations once the pipeline is quiet (or the hang guard is up)."""
    deadline = time.monotonic() + HANG_GUARD_S
    while True:
        violations = check_invariants(table, data_dir / "outbox", ledger, raw_store_dir=data_dir / "store")
        if not violations or time.monotonic() > deadline:
            return violations
        time.sleep(1.0)
