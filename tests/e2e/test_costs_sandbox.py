"""Per-use cost through the whole sandbox: mail in over SMTP, replies through the API, and
``/api/costs`` today is itemized and adds up per mailbox."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.sandbox_process import SandboxProcess
from tests.mailfactory import make_mail

pytestmark = pytest.mark.e2e

EMAILS = 6
REPLIES = 3


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxProcess]:
    # The demo organisation: agents who can send, teams that assign (and the demo's own mail).
    process = SandboxProcess(data_dir=tmp_path / "data", demo=True).start()
    yield process
    if process.process and process.process.poll() is None:
        process.kill()


def exact_sum(values: list[str]) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 80
        return sum((Decimal(v) for v in values), Decimal(0))


def wait_until(predicate: Any, what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_costs_of_mail_and_replies_add_up(sandbox: SandboxProcess) -> None:
    started = time.monotonic()
    with smtplib.SMTP("127.0.0.1", sandbox.smtp_port, timeout=30) as smtp:
        for n in range(EMAILS):
            to = ["support@acme.test"] if n % 3 else ["sales@acme.test"]
            smtp.sendmail(
                "customer@example.com", to, make_mail(subject=f"Cost {n}", message_id=f"<cost-e2e-{n}@x>")
            )

    def routed() -> list[dict[str, Any]] | None:
        items = sandbox.get("/api/conversations?limit=100")["items"]
        ours = [i for i in items if i["subject"].startswith("Cost ")]
        return ours if len(ours) == EMAILS and all(i["assignee"] for i in ours) else None

    for item in wait_until(routed, "the mail to be routed and assigned", timeout=30)[:REPLIES]:
        detail = sandbox.get(f"/api/conversations/{item['id']}")
        answer = {
            "idempotency_key": f"cost-e2e-{item['id']}",
            "seen_version": detail["version"],
            "text": "Thanks!",
        }
        status, body = sandbox.post(f"/api/conversations/{item['id']}/replies", answer, user=item["assignee"])
        assert status == 201, body

    def settled() -> dict[str, Any] | None:
        costs: dict[str, Any] = sandbox.get("/api/costs?group=mailbox")
        rows = {row["kind"]: row for row in costs["rows"]}
        named = [row["cost"] for row in costs["rows"] if row["kind"] in {"dimension", "overhead", "metering"}]
        if "rest" not in rows and exact_sum(named) == Decimal(costs["total"]):
            return costs
        last.append(costs)
        return None  # a recording (the sweep, routing) was halfway through its writes: ask again

    last: list[dict[str, Any]] = []

    try:
        costs = wait_until(settled, "the costs to settle")
    except AssertionError:
        rows = [(r["kind"], r["key"], r["cost"]) for r in last[-1]["rows"]] if last else []
        raise AssertionError(f"rows {rows}, total {last[-1]['total'] if last else None}") from None
    assert Decimal(costs["total"]) > 0
    services = {s["service"]: Decimal(s["cost"]) for s in costs["services"]}
    for service in (
        "SES receiving",
        "SES sending",
        "DynamoDB",
        "Lambda",
        "S3",
        "API Gateway",
        "CloudWatch Logs",
    ):
        assert services.get(service, Decimal(0)) > 0, service
    assert costs["inbound_emails"] >= EMAILS  # ours and the demo's
    # $0.10 + $0.09 per 1,000: a message and one 256 KB chunk each.
    assert services["SES receiving"] == Decimal("0.00019") * costs["inbound_emails"]
    assert services["SES sending"] > Decimal("0.0001") * REPLIES
    mailboxes = {row["key"] for row in costs["rows"] if row["kind"] == "dimension"}
    assert {"support@acme.test", "sales@acme.test"} <= mailboxes
    assert costs["estimate_only"] is True
    assert Decimal(costs["per_1000_emails"]) > Decimal("0.19")  # above the SES receiving floor
    page = sandbox.get("/finance")
    assert "Estimate only" in page
    assert time.monotonic() - started < 60
