"""A person's first look: the demo inbox in real Chromium, a thread opened, nothing executed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.browser import chromium, screenshot, sign_in
from tests.e2e.sandbox_process import SandboxProcess
from tests.e2e.test_sandbox import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = SandboxProcess(data_dir=tmp_path_factory.mktemp("browser") / "data", demo=True).start()
    wait_for(process, lambda b: len(b["items"]) >= 8, timeout=30)
    yield process
    assert process.stop() == 0


def test_inbox_and_thread_in_chromium(demo: SandboxProcess) -> None:
    base = f"http://127.0.0.1:{demo.http_port}"
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        console_errors: list[str] = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.on("dialog", lambda d: pytest.fail(f"a dialog opened: {d.message}"))
        sign_in(page, base, "Ada Admin")
        screenshot(page, "signed-in")
        rows = page.locator("table.conversations tbody tr")
        assert rows.count() >= 8
        assert page.locator("tbody td", has_text="support@acme.test").first.is_visible()
        screenshot(page, "inbox")

        # htmx is loaded from our own origin and keeps the list fresh.
        assert page.evaluate("typeof window.htmx") == "object"

        # Open the demo thread that has a reply: both messages are shown in order.
        threaded = page.locator("table.conversations tbody tr", has=page.locator(".count"))
        threaded.first.locator(".subject a").click()
        page.wait_for_selector("ol.timeline")
        assert page.locator("ol.timeline li.message").count() >= 2
        screenshot(page, "conversation")

        # Status tabs filter; an empty one says what to do.
        page.goto(base + "/?status=snoozed")
        assert page.locator(".empty h2").inner_text() == "No conversations here"
        assert console_errors == [], console_errors


def test_pages_are_fine_without_javascript(demo: SandboxProcess, tmp_path: Path) -> None:
    with chromium() as browser:
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        sign_in(page, f"http://127.0.0.1:{demo.http_port}", "Ada Admin")
        assert page.locator("table.conversations tbody tr").count() >= 8


def test_an_agent_sees_only_their_mailboxes(demo: SandboxProcess) -> None:
    base = f"http://127.0.0.1:{demo.http_port}"
    with chromium() as browser:
        page = browser.new_page()
        sign_in(page, base, "Sam Rivera")  # support and sales, not billing
        mailboxes = {
            cell.inner_text().split("\n")[0] for cell in page.locator("tbody tr td:nth-child(3)").all()
        }
        assert mailboxes <= {"support@acme.test", "sales@acme.test"}
        assert "support@acme.test" in mailboxes
        assert page.locator(".whoami").inner_text().startswith("Sam Rivera")
