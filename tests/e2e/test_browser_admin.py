"""An admin sets up an empty sandbox in the UI: a team, two agents and a mailbox with access for
them; a refused form shows its errors at the field; disabling the mailbox makes SMTP refuse it."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest

from tests.e2e.browser import chromium, screenshot, sign_in
from tests.e2e.sandbox_process import SandboxProcess

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = SandboxProcess(data_dir=tmp_path_factory.mktemp("admin") / "data", demo=False).start()
    yield process
    assert process.stop() == 0


def test_an_admin_sets_up_a_team_two_agents_and_a_mailbox(empty: SandboxProcess) -> None:
    base = f"http://127.0.0.1:{empty.http_port}"
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        console_errors: list[str] = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        sign_in(page, base, "Sandbox Admin")
        page.get_by_role("link", name="Admin").click()
        page.wait_for_url(base + "/admin/mailboxes")

        # A team with business hours and an SLA policy.
        page.get_by_role("link", name="Teams").click()
        page.get_by_label("Team id").fill("support")
        page.get_by_label("Name", exact=True).fill("Support")
        page.get_by_label("Assignment").select_option("round_robin")
        page.get_by_label("Monday").fill("09:00-17:00")
        page.get_by_label("SLA policies").fill("std | Standard | 60 | 1440 | business")
        page.get_by_label("Default SLA policy").fill("std")
        page.get_by_role("button", name="Create team").click()
        page.wait_for_url(base + "/admin/teams/support")

        # Two agents, the first one refused once: the error is at the field, which has the focus.
        for email, name in (("dana@acme.test", "Dana Agent"), ("eli@acme.test", "Eli Agent")):
            page.goto(base + "/admin/people")
            page.get_by_label("Email address").fill(email)
            page.get_by_label("Name", exact=True).fill(name)
            page.get_by_label("Support").check()
            page.get_by_label("Skills").fill("de, billing")
            if email.startswith("dana"):
                page.get_by_label("Capacity").fill("-3")
                page.get_by_role("button", name="Invite").click()
                page.wait_for_selector("#error-capacity")
                assert page.evaluate("document.activeElement.id") == "f-capacity"
                screenshot(page, "admin-person-error")
                page.get_by_label("Capacity").fill("5")
            page.get_by_role("button", name="Invite").click()
            page.wait_for_url(base + "/admin/people?invited=*")
            assert page.locator("table.admin-table", has_text=email).is_visible()

        # A mailbox owned by the team, an alias, both agents with access.
        page.get_by_role("link", name="Mailboxes").click()
        page.get_by_label("Address").fill("help@acme.test")
        page.get_by_label("Display name").fill("Help desk")
        page.get_by_label("Aliases").fill("hilfe@acme.test")
        page.get_by_label("Signature").fill("{{ agent.name }}\n{{ mailbox.name }}")
        page.get_by_label("Owning team").select_option("support")
        page.get_by_label("Dana Agent").select_option("full")
        page.get_by_label("Eli Agent").select_option("send_on_behalf")
        page.get_by_role("button", name="Create mailbox").click()
        page.wait_for_url(base + "/admin/mailboxes/help@acme.test")
        assert page.get_by_label("Eli Agent").input_value() == "send_on_behalf"
        screenshot(page, "admin-mailbox")

        # Mail to the alias is accepted; once disabled, SMTP refuses it with the reason.
        with smtplib.SMTP("127.0.0.1", empty.smtp_port, timeout=30) as client:
            client.ehlo("client.example.com")
            client.mail("maria@example.com")
            assert client.rcpt("hilfe@acme.test")[0] == 250
        page.get_by_label("Disabled").check()
        page.get_by_role("button", name="Save mailbox").click()
        page.wait_for_url(base + "/admin/mailboxes/help@acme.test?saved=1")
        with smtplib.SMTP("127.0.0.1", empty.smtp_port, timeout=30) as client:
            client.ehlo("client.example.com")
            client.mail("maria@example.com")
            code, reply = client.rcpt("hilfe@acme.test")
            assert code == 550
            assert b"disabled" in reply
        # the refused form's 422 is logged by the browser; nothing else may be
        assert [e for e in console_errors if "status of 422" not in e] == []

        # The agent's own profile: away.
        context = browser.new_context()
        agent = context.new_page()
        sign_in(agent, base, "Dana Agent")
        agent.get_by_role("link", name="Profile").click()
        agent.get_by_label("Away").check()
        agent.get_by_role("button", name="Save").click()
        agent.wait_for_url(base + "/profile?saved=1")
        assert agent.get_by_label("Away").is_checked()
