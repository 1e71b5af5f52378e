"""The whole metrics path in the running sandbox: mail in over SMTP, replies through the API, the
stream poller feeding the metrics function, and the team report adding up."""

from __future__ import annotations

import csv
import io
import json
import smtplib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailroom.assignment.store import AssignmentStore
from mailroom.domain.agent import Agent
from mailroom.inbox.directory import upsert_user
from mailroom.metrics.export import BOM
from mailroom.table.client import Table
from sandbox.dynamodb_local import local_client
from tests.e2e.sandbox_process import SandboxProcess
from tests.mailfactory import make_mail

pytestmark = pytest.mark.e2e

MAILS = 6
ANSWERED = 4
MANAGER = "manager@acme.test"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxProcess]:
    process = SandboxProcess(data_dir=tmp_path / "data").start()
    yield process
    if process.process and process.process.poll() is None:
        process.stop()


def until(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.2)


def test_sent_mail_and_replies_add_up_in_the_team_report(sandbox: SandboxProcess) -> None:
    started = time.monotonic()
    # A manager who answers mail too (there is no admin UI for people and agents yet: straight in
    # the sandbox's DynamoDB Local).
    state = json.loads((sandbox.data_dir / "sandbox.json").read_text())
    table = Table(state["table_name"], local_client("dynamodb", state["dynamodb_endpoint"]))
    upsert_user(table, MANAGER, name="Mia Manager", role="admin")
    AssignmentStore(table).put_agent(Agent(id=MANAGER, name="Mia Manager", capacity=50))

    with smtplib.SMTP("127.0.0.1", sandbox.smtp_port, timeout=30) as smtp:
        for n in range(MAILS):
            raw = make_mail(
                subject=f"Metrics {n}", sender=f"m{n}@example.com", message_id=f"<metrics-{n}@example.com>"
            )
            smtp.sendmail(f"m{n}@example.com", ["support@acme.test"], raw)
    items = until(
        lambda: (
            (listed := sandbox.get("/api/conversations?limit=100")["items"])
            and len(listed) == MAILS
            and listed
        ),
        20,
        "all mail listed",
    )
    for n, item in enumerate(sorted(items, key=lambda i: i["subject"])[:ANSWERED]):
        detail = sandbox.get(f"/api/conversations/{item['id']}")
        body = {
            "idempotency_key": f"e2e-metrics-{n:04d}",
            "seen_version": detail["version"],
            "text": "Thanks!",
        }
        if n == 0:
            body["close_after"] = "closed"
        status, answer = sandbox.post(f"/api/conversations/{item['id']}/replies", body, user=MANAGER)
        if status == 409:  # routing touched it meanwhile: read it again and answer
            detail = sandbox.get(f"/api/conversations/{item['id']}")
            status, answer = sandbox.post(
                f"/api/conversations/{item['id']}/replies",
                {**body, "seen_version": detail["version"]},
                user=MANAGER,
            )
        assert status == 201, answer

    def figures() -> dict[str, Any] | None:
        report: dict[str, Any] = sandbox.get("/api/reports/team?period=1d&mailbox=support@acme.test")
        totals = report["totals"]
        done = (
            totals["volume_in"] == MAILS
            and totals["first_responses"] == ANSWERED
            and totals["resolutions"] == 1
        )
        return report if done else None

    report = until(figures, 30, "the report adds up")
    totals = report["totals"]
    assert totals["conversations"] == MAILS
    assert totals["replies"] == ANSWERED
    assert totals["first_response"]["count"] == ANSWERED
    assert report["backlog"]["open"] == MAILS - 1
    assert report["backlog"]["waiting"] == MAILS - ANSWERED
    [admin] = [row for row in report["agents"] if row["agent"] == MANAGER]
    assert (admin["replies"], admin["first_responses"], admin["resolutions"]) == (ANSWERED, ANSWERED, 1)
    text = sandbox.get("/reports/team.csv?period=1d&table=days")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix(BOM))))
    assert sum(int(row["volume_in"]) for row in rows) == MAILS
    page = sandbox.get("/reports?period=7d")
    assert "Team report" in page
    assert time.monotonic() - started < 60
