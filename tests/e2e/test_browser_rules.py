"""An admin sets up routing in the UI of an empty sandbox: a canned response (with its live preview)
and a rule (subject contains "refund" → tag refund, auto-reply with it); then mail sent over SMTP
is routed by that rule: tagged, and answered with the canned response."""

from __future__ import annotations

import email
import time
from collections.abc import Iterator
from email import policy
from typing import Any

import pytest

from tests.e2e.browser import chromium, screenshot, sign_in
from tests.e2e.sandbox_process import SandboxProcess
from tests.e2e.test_sandbox import send, wait_for
from tests.mailfactory import make_mail

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = SandboxProcess(data_dir=tmp_path_factory.mktemp("rules") / "data", demo=False).start()
    yield process
    assert process.stop() == 0


def _outbox_replies(sandbox: SandboxProcess) -> list[Any]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in sorted(sandbox.outbox.glob("*.eml"))
    ]


def test_a_rule_made_in_the_ui_routes_and_answers_mail(empty: SandboxProcess) -> None:
    base = f"http://127.0.0.1:{empty.http_port}"
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        console_errors: list[str] = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        sign_in(page, base, "Sandbox Admin")

        # A canned response, previewed live while typing (a template error shows its line first).
        page.goto(base + "/admin/canned?new=1")
        page.fill("#canned-id", "refund-ack")
        page.fill("#canned-name", "Refund received")
        page.locator("#canned-body").press_sequentially("Hi {{ customer.first_name }\n")
        page.wait_for_selector("#canned-preview .bad-line")
        assert "line 1" in page.locator("#canned-preview").inner_text()
        page.fill("#canned-body", "")
        page.locator("#canned-body").press_sequentially(
            "Hi {{ customer.first_name }}, we got your refund request."
        )
        page.wait_for_selector("#canned-preview .preview-body")
        assert "Hi Dana, we got your refund request." in page.locator("#canned-preview").inner_text()
        screenshot(page, "admin-canned")
        page.get_by_role("button", name="Create").click()
        page.wait_for_url(base + "/admin/canned?done=*")
        assert page.locator("table.canned-table", has_text="refund-ack").is_visible()

        # A rule, built from form rows added server-side with htmx.
        page.goto(base + "/admin/rules")
        page.get_by_role("button", name="+ Add a rule").click()
        page.wait_for_selector('input[name="rule-0-id"]')
        page.fill('input[name="rule-0-id"]', "refunds")
        page.fill('input[name="rule-0-name"]', "Refund requests")
        page.fill('input[name="rule-0-cond-0-value"]', "refund")
        page.fill('input[name="rule-0-act-0-value"]', "refund")
        page.get_by_role("button", name="+ Action").click()
        page.wait_for_selector('select[name="rule-0-act-1-kind"]')
        page.select_option('select[name="rule-0-act-1-kind"]', "auto_reply")
        page.wait_for_selector('select[name="rule-0-act-1-value"]')
        assert page.input_value('input[name="rule-0-cond-0-value"]') == "refund"  # the draft survived
        page.select_option('select[name="rule-0-act-1-value"]', "refund-ack")

        # Test the unsaved rule on a pasted email.
        page.fill(
            "#test-eml",
            "From: Dana <dana@example.com>\nTo: support@acme.test\nSubject: A refund please\n\nHi\n",
        )
        page.get_by_role("button", name="Test", exact=True).click()
        page.wait_for_selector("#rules-test-result h3")
        result = page.locator("#rules-test-result").inner_text()
        assert "1 rule matched" in result
        assert "refund-ack" in result
        screenshot(page, "admin-rules")
        page.get_by_role("button", name="Save as version 1").click()
        page.wait_for_url(base + "/admin/rules?saved=1")
        assert "Saved as version 1" in page.locator("main").inner_text()

        # Mail that matches is routed by the new rule and answered with the canned response.
        send(empty, make_mail(subject="Refund for order 42", sender="Dana Scully <dana@example.com>"))
        found = wait_for(
            empty, lambda b: any("refund" in item.get("tags", []) for item in b["items"]), timeout=60
        )
        conversation = next(item for item in found["items"] if "refund" in item.get("tags", []))
        deadline = time.monotonic() + 30
        while not _outbox_replies(empty) and time.monotonic() < deadline:
            time.sleep(0.5)
        [reply] = _outbox_replies(empty)
        assert reply["To"].addresses[0].addr_spec == "dana@example.com"
        assert reply["Auto-Submitted"] == "auto-replied"
        assert "Hi Dana, we got your refund request." in reply.get_body(("plain",)).get_content()

        # The inbox shows the tag the rule added.
        page.goto(base + f"/conversations/{conversation['id']}")
        assert page.locator("main", has_text="refund").first.is_visible()
        page.goto(base + "/")
        row = page.locator("table.conversations tbody tr", has_text="Refund for order 42")
        assert row.locator(".tag", has_text="refund").count() >= 1
        screenshot(page, "routed-by-new-rule")

        # The change is in the history with who made it, and its diff.
        page.goto(base + "/admin/rules?tab=history")
        assert "admin@localhost" in page.locator("table.rules-history").inner_text()
        page.get_by_role("link", name="Changes").first.click()
        assert page.locator(".diff-add", has_text="id: refunds").count() == 1
        # Only the refused preview of the broken template (a 422, shown in the page) may be logged.
        unexpected = [e for e in console_errors if "status of 422" not in e]
        assert unexpected == [], console_errors
