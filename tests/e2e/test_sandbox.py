"""The sandbox as a person uses it: a subprocess, real SMTP in, the HTTP API out."""

from __future__ import annotations

import signal
import smtplib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.sandbox_process import SandboxProcess, alive, children_of
from tests.mailfactory import make_mail

pytestmark = pytest.mark.e2e


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxProcess]:
    process = SandboxProcess(data_dir=tmp_path / "data").start()
    yield process
    if process.process and process.process.poll() is None:
        process.kill()


def send(sandbox: SandboxProcess, raw: bytes, to: list[str] | None = None) -> None:
    with smtplib.SMTP("127.0.0.1", sandbox.smtp_port, timeout=30) as smtp:
        smtp.sendmail("customer@example.com", to or ["support@acme.test"], raw)


def wait_for(sandbox: SandboxProcess, predicate: Any, timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = sandbox.get("/api/conversations?limit=100")
        if predicate(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met; last listing: {body}\n{sandbox.log()}")
        time.sleep(0.1)


def test_mail_in_threads_dedupes_and_survives_restart(sandbox: SandboxProcess) -> None:
    send(sandbox, make_mail(subject="Where is my order?", message_id="<e2e-1@example.com>"))
    body = wait_for(sandbox, lambda b: len(b["items"]) == 1)
    conv = body["items"][0]["id"]

    # A reply threads, a duplicate (same Message-ID) does not double.
    send(
        sandbox,
        make_mail(
            subject="Re: Where is my order?",
            message_id="<e2e-2@example.com>",
            in_reply_to="<e2e-1@example.com>",
        ),
    )
    send(sandbox, make_mail(subject="Where is my order?", message_id="<e2e-1@example.com>"))
    body = wait_for(sandbox, lambda b: b["items"][0]["message_count"] == 2)
    assert [item["id"] for item in body["items"]] == [conv]
    detail = sandbox.get(f"/api/conversations/{conv}")
    assert [m["message_id"] for m in detail["messages"]] == ["e2e-1@example.com", "e2e-2@example.com"]

    # Unreadable mail is listed and flagged.
    send(sandbox, b"\x00\xff\xfe this is not a mail at all \x00" * 3)
    body = wait_for(sandbox, lambda b: len(b["items"]) == 2)

    # Foreign recipients are refused with a reason.
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(sandbox, make_mail(message_id="<e2e-3@example.com>"), ["someone@elsewhere.example"])
    code, reason = refused.value.recipients["someone@elsewhere.example"]
    assert code == 550
    assert b"acme.test" in reason

    # The inbox page shows the conversation.
    page = sandbox.get("/")
    assert "Where is my order?" in page

    # Ctrl-C stops every part; nothing is left behind.
    assert sandbox.process is not None
    descendants = children_of(sandbox.process.pid)
    assert descendants, "DynamoDB Local should be a child process"
    assert sandbox.stop(signal.SIGINT) == 0
    # multiprocessing's resource tracker (of the API's worker pool) leaves once it sees its parent
    # gone: give it a moment, no more.
    deadline = time.monotonic() + 10
    while [pid for pid in descendants if alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in descendants if alive(pid)]

    # Restarting on the same data directory loses nothing.
    again = SandboxProcess(data_dir=sandbox.data_dir).start()
    try:
        body = again.get("/api/conversations?limit=100")
        assert conv in [item["id"] for item in body["items"]]
        assert len(body["items"]) == 2
        send(
            again,
            make_mail(
                subject="Re: Where is my order?",
                message_id="<e2e-4@example.com>",
                in_reply_to="<e2e-2@example.com>",
            ),
        )
        wait_for(again, lambda b: any(i["id"] == conv and i["message_count"] == 3 for i in b["items"]))
    finally:
        assert again.stop() == 0


def test_demo_gives_a_living_inbox(tmp_path: Path) -> None:
    demo = SandboxProcess(data_dir=tmp_path / "demo", demo=True).start()
    try:
        body = wait_for(demo, lambda b: len(b["items"]) >= 8, timeout=120)
        mailboxes = {item["mailbox"] for item in body["items"]}
        assert mailboxes == {"support@acme.test", "sales@acme.test", "billing@acme.test"}
        assert any(item["message_count"] >= 2 for item in body["items"]), "a demo thread has replies"
        assert any("auto_reply" in item["flags"] for item in body["items"])

        # Routed by the demo rules: tagged, on the right team, assigned, with the reasons recorded.
        body = wait_for(demo, lambda b: _routed(b, "billing") and _routed(b, "sales"), timeout=120)
        billing = next(i for i in body["items"] if "refund" in i["subject"].lower())
        assert billing["team"] == "billing"
        assert "billing" in billing["tags"]
        trail = demo.get(f"/api/conversations/{billing['id']}")["events"]
        tagged = next(e for e in trail if e["type"] == "tagged")
        assigned = next(e for e in trail if e["type"] == "assigned")
        assert tagged["data"]["rule_id"] == "billing"
        assert assigned["data"]["reason"]
        body = wait_for(
            demo, lambda b: all("automatic" in i["tags"] for i in b["items"] if "auto_reply" in i["flags"])
        )
        automatic = [i for i in body["items"] if "auto_reply" in i["flags"]]
        assert automatic
        assert all(i["assignee"] is None for i in automatic)
    finally:
        assert demo.stop() == 0


def _routed(body: dict[str, Any], team: str) -> bool:
    return any(i["team"] == team and i["assignee"] for i in body["items"])
