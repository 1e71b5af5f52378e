"""Administration in the browser, against one empty sandbox (``--no-demo``) and one Chromium.

The acceptance test of issue 7: an admin sets up a team (round robin), two agents, a mailbox, a
canned response and a routing rule entirely through the UI; mail sent over SMTP to the new mailbox is
routed by that rule to the team and assigned to one of the agents, who signs in and answers it with
the canned response; the reply is in the sandbox's outbox. Then the admin pages' buttons that undo
things (disable and enable a mailbox, deactivate and reactivate a person) and the rules import from
an uploaded file, with the history's diff and one-click restore.

The sandbox re-reads the routing rules for every message (``MAILROOM_RULES_CACHE_SECONDS=0``), so
nothing waits for a cache; every wait is a bounded poll for a condition.
"""

from __future__ import annotations

import re
import smtplib
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, FilePayload

from tests.e2e.browser import chromium, screenshot
from tests.e2e.sandbox_process import SandboxProcess
from tests.e2e.test_browser_workspace import Agent, outbox_mail, until
from tests.e2e.test_sandbox import send, wait_for
from tests.mailfactory import make_mail

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

HELP = "help@acme.test"
AGENTS = {"dana@acme.test": "Dana Agent", "eli@acme.test": "Eli Agent"}
CANNED_TEXT = "we got your refund request."


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = SandboxProcess(
        data_dir=tmp_path_factory.mktemp("admin") / "data",
        demo=False,
        env={"MAILROOM_RULES_CACHE_SECONDS": "0"},
    ).start()
    yield process
    assert process.stop() == 0


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def rcpt(sandbox: SandboxProcess, address: str) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", sandbox.smtp_port, timeout=30) as client:
        client.ehlo("client.example.com")
        client.mail("maria@example.com")
        return client.rcpt(address)


def test_an_admin_sets_up_routing_in_the_ui_and_an_agent_answers_with_a_canned_response(
    empty: SandboxProcess, browser: Browser
) -> None:
    base = f"http://127.0.0.1:{empty.http_port}"
    admin = Agent(browser, base, "Sandbox Admin")
    page = admin.page
    page.get_by_role("link", name="Admin").click()
    page.wait_for_url(base + "/admin/mailboxes")

    # A team that assigns automatically (round robin), with business hours and an SLA policy.
    page.get_by_role("link", name="Teams").click()
    page.get_by_label("Team id").fill("support")
    page.get_by_label("Name", exact=True).fill("Support")
    page.get_by_label("Assignment").select_option("round_robin")
    page.get_by_label("Monday").fill("09:00-17:00")
    page.get_by_label("SLA policies").fill("std | Standard | 60 | 1440 | business")
    page.get_by_label("Default SLA policy").fill("std")
    page.get_by_role("button", name="Create team").click()
    page.wait_for_url(base + "/admin/teams/support")

    # Two agents in it; the first is refused once: the error is at the field, which has the focus.
    for email, name in AGENTS.items():
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

    # The mailbox, with an alias, a signature, a retention period and both agents' access. No
    # owning team: what routes its mail to Support is the rule below.
    page.get_by_role("link", name="Mailboxes").click()
    page.get_by_label("Address").fill(HELP)
    page.get_by_label("Display name").fill("Help desk")
    page.get_by_label("Aliases").fill("hilfe@acme.test")
    page.get_by_label("Signature").fill("{{ agent.name }}\n{{ mailbox.name }}")
    page.get_by_label("Retention (days)").fill("365")
    for name in AGENTS.values():
        page.get_by_label(name).select_option("full")
    page.get_by_role("button", name="Create mailbox").click()
    page.wait_for_url(f"{base}/admin/mailboxes/{HELP}")
    assert page.get_by_label("Retention (days)").input_value() == "365"
    screenshot(page, "admin-mailbox")

    # A canned response for the team, previewed live while typed (a template error shows its line).
    page.goto(base + "/admin/canned?new=1")
    page.fill("#canned-id", "refund-ack")
    page.fill("#canned-name", "Refund received")
    page.select_option("#canned-team", "support")
    page.locator("#canned-body").press_sequentially("Hi {{ customer.first_name }\n")
    page.wait_for_selector("#canned-preview .bad-line")
    assert "line 1" in page.locator("#canned-preview").inner_text()
    page.fill("#canned-body", "")
    page.locator("#canned-body").press_sequentially("Hi {{ customer.first_name }}, " + CANNED_TEXT)
    page.wait_for_selector("#canned-preview .preview-body")
    assert f"Hi Dana, {CANNED_TEXT}" in page.locator("#canned-preview").inner_text()
    screenshot(page, "admin-canned")
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(base + "/admin/canned?done=*")
    assert page.locator("table.canned-table", has_text="refund-ack").is_visible()

    # The rule, built from form rows the server adds (htmx): subject has "refund" -> tag, team.
    page.goto(base + "/admin/rules")
    rule = page.locator('input[name^="rule-"][name$="-id"]').count()  # its index: after any others
    page.get_by_role("button", name="+ Add a rule").click()
    field = f"rule-{rule}"
    page.wait_for_selector(f'input[name="{field}-id"]')
    page.fill(f'input[name="{field}-id"]', "refunds")
    page.fill(f'input[name="{field}-name"]', "Refund requests")
    page.fill(f'input[name="{field}-cond-0-value"]', "refund")
    page.fill(f'input[name="{field}-act-0-value"]', "refund")
    page.locator(f"fieldset:has(input[name='{field}-id'])").get_by_role("button", name="+ Action").click()
    page.wait_for_selector(f'select[name="{field}-act-1-kind"]')
    page.select_option(f'select[name="{field}-act-1-kind"]', "set_team")
    page.wait_for_selector(f'input[name="{field}-act-1-value"][list="rules-teams"]')
    assert page.input_value(f'input[name="{field}-cond-0-value"]') == "refund"  # the draft survived
    page.fill(f'input[name="{field}-act-1-value"]', "support")
    # Tested, unsaved, on a pasted email first.
    page.fill("#test-eml", f"From: Maria <maria@example.com>\nTo: {HELP}\nSubject: A refund please\n\nHi\n")
    page.get_by_role("button", name="Test", exact=True).click()
    page.wait_for_selector("#rules-test-result h3")
    result = page.locator("#rules-test-result").inner_text()
    assert "1 rule matched" in result
    assert "support" in result
    screenshot(page, "admin-rules")
    page.get_by_role("button", name=re.compile(r"^Save as version \d+$")).click()
    page.wait_for_url(re.compile(r"/admin/rules\?saved=\d+$"))
    assert "Saved as version" in page.locator("main").inner_text()

    # Mail to the new mailbox: routed to Support by the rule, assigned by round robin.
    send(
        empty,
        make_mail(subject="Refund for order 42", sender="Maria Lopez <maria@example.com>", to=HELP),
        to=[HELP],
    )
    listing = wait_for(
        empty, lambda b: any(i["team"] == "support" and i["assignee"] for i in b["items"]), timeout=60
    )
    [summary] = listing["items"]
    assert summary["mailbox"] == HELP
    assert summary["assignee"] in AGENTS
    assert "refund" in summary["tags"]
    detail = empty.get(f"/api/conversations/{summary['id']}")
    [team_set] = [e for e in detail["events"] if e["type"] == "team_set"]
    assert team_set["data"]["rule_id"] == "refunds"
    [assigned] = [e for e in detail["events"] if e["type"] == "assigned"]
    assert assigned["data"]["strategy"] == "round_robin"

    # The assignee signs in and answers with the canned response.
    agent = Agent(browser, base, AGENTS[summary["assignee"]])
    agent.open(summary["id"])
    agent.page.select_option("#canned-picker", "refund-ack")
    until(lambda: CANNED_TEXT in agent.page.input_value("#reply-text"))
    assert agent.page.input_value("#reply-text").startswith("Hi Maria, ")
    agent.page.click("#send-reply")
    until(lambda: "Reply sent" in agent.page.inner_text("#composer"))
    screenshot(agent.page, "admin-acceptance-replied")
    [reply] = until(lambda: outbox_mail(empty))
    assert reply["To"].addresses[0].addr_spec == "maria@example.com"
    assert reply["From"].addresses[0].addr_spec == HELP
    text = reply.get_body(("plain",)).get_content()
    assert f"Hi Maria, {CANNED_TEXT}" in text
    assert AGENTS[summary["assignee"]] in text  # the mailbox's signature
    assert reply["Auto-Submitted"] is None  # a person's answer, not an automatic one

    # Done for the day: the agent marks themselves away on their profile.
    agent.page.get_by_role("link", name="Profile").click()
    agent.page.get_by_label("Away").check()
    agent.page.get_by_role("button", name="Save").click()
    agent.page.wait_for_url(base + "/profile?saved=1")
    assert agent.page.get_by_label("Away").is_checked()
    assert empty.get(f"/api/admin/users/{summary['assignee']}")["status"] == "away"

    # The admin sees the routing's assignment in the audit log, and the inbox row with its tag.
    page.goto(base + "/admin/audit?action=assignment")
    entry = page.locator("table.report tbody tr", has_text=summary["id"]).inner_text()
    assert "assignment.assigned" in entry
    assert "round_robin" in entry
    page.goto(base + "/")
    row = page.locator("table.conversations tbody tr", has_text="Refund for order 42")
    assert row.locator(".tag", has_text="refund").count() >= 1
    for person in (admin, agent):  # a refusal we show on purpose is logged as a failed load: not an error
        assert person.problems == [], person.problems
        person.context.close()


UPLOADED = """rules:
  - id: uploaded
    name: From a file
    when: {subject: {contains: uploaded}}
    then: [{add_tags: [uploaded]}]
"""


def test_disable_enable_deactivate_reactivate_and_import_rules_from_a_file(
    empty: SandboxProcess, browser: Browser
) -> None:
    assert (
        empty.post("/api/admin/mailboxes", {"address": "old@acme.test", "aliases": ["alt@acme.test"]})[0]
        == 201
    )
    assert empty.post("/api/admin/users", {"email": "gus@acme.test", "name": "Gus Agent"})[0] == 201
    base = f"http://127.0.0.1:{empty.http_port}"
    admin = Agent(browser, base, "Sandbox Admin")
    page = admin.page

    # Disable the mailbox with its button: SMTP refuses it (and its alias); enable it again.
    page.goto(base + "/admin/mailboxes/old@acme.test")
    page.get_by_role("button", name="Disable old@acme.test").click()
    page.wait_for_url(base + "/admin/mailboxes/old@acme.test?done=disabled")
    code, answer = rcpt(empty, "alt@acme.test")
    assert code == 550
    assert b"disabled" in answer
    page.get_by_role("button", name="Enable old@acme.test").click()
    page.wait_for_url(base + "/admin/mailboxes/old@acme.test?done=enabled")
    assert "accepts mail again" in page.locator("main").inner_text()
    assert rcpt(empty, "alt@acme.test")[0] == 250

    # Deactivate a person, then reactivate them.
    page.goto(base + "/admin/people/gus@acme.test")
    page.get_by_role("button", name="Deactivate Gus Agent").click()
    page.wait_for_url(base + "/admin/people/gus@acme.test?requeued=0")
    page.get_by_role("button", name="Reactivate Gus Agent").click()
    page.wait_for_url(base + "/admin/people/gus@acme.test?done=activated")
    assert page.get_by_role("button", name="Deactivate Gus Agent").is_visible()
    assert empty.get("/api/admin/users/gus@acme.test")["active"] is True

    # Rules imported from pasted YAML, then from an uploaded file (which wins over the text); the
    # history shows the change, and one click restores the version before it.
    pasted = empty.get("/api/admin/rules")["version"] + 1
    page.goto(base + "/admin/rules?tab=yaml")
    page.fill("#rules-yaml", "rules: []\n")
    page.get_by_role("button", name=f"Import as version {pasted}").click()
    page.wait_for_url(base + f"/admin/rules?tab=yaml&saved={pasted}")
    upload: FilePayload = {"name": "rules.yaml", "mimeType": "application/yaml", "buffer": UPLOADED.encode()}
    page.set_input_files("#rules-yaml-file", files=upload)
    page.fill("#yaml-note", "uploaded a file")
    page.get_by_role("button", name=f"Import as version {pasted + 1}").click()
    page.wait_for_url(base + f"/admin/rules?tab=yaml&saved={pasted + 1}")
    assert "id: uploaded" in page.input_value("#rules-yaml")
    page.goto(base + "/admin/rules?tab=history")
    history = page.locator("table.rules-history").inner_text()
    assert "uploaded a file" in history
    assert "admin@localhost" in history
    page.get_by_role("link", name="Changes").first.click()
    assert page.locator(".diff-add", has_text="id: uploaded").count() == 1
    page.goto(base + "/admin/rules?tab=history")
    page.get_by_role("button", name=f"Restore version {pasted}").click()
    page.wait_for_url(base + f"/admin/rules?tab=history&saved={pasted + 2}")
    assert empty.get("/api/admin/rules")["rules"] == []
    assert admin.problems == [], admin.problems
    admin.context.close()
