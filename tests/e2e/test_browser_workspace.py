"""Two agents working the demo inbox in two browsers (real Chromium against the running sandbox):
they see each other, can't both claim or both answer, and a reply threads for the customer."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import chromium, screenshot, sign_in
from tests.e2e.sandbox_process import SandboxProcess
from tests.e2e.test_sandbox import send, wait_for
from tests.mailfactory import make_mail

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SAM, PRIYA = "Sam Rivera", "Priya Shah"
DELIBERATE_REFUSAL = "Failed to load resource: the server responded with a status of 4"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = SandboxProcess(data_dir=tmp_path_factory.mktemp("workspace") / "data", demo=True).start()
    wait_for(process, lambda b: len(b["items"]) >= 8 and all(i["team"] for i in b["items"]), timeout=60)
    yield process
    assert process.stop() == 0


def until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


def conversation(demo: SandboxProcess, subject_words: str) -> dict[str, Any]:
    items = demo.get("/api/conversations?limit=100")["items"]
    return next(i for i in items if subject_words in i["subject"])


def outbox_mail(demo: SandboxProcess) -> list[Any]:
    return [
        message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(demo.outbox.glob("*.eml"))
    ]


class Agent:
    """One person in their own browser context (own cookies), with CSP violations collected."""

    def __init__(self, browser: Any, base: str, name: str) -> None:
        self.context = browser.new_context(viewport={"width": 1360, "height": 1000})
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("dialog", lambda d: d.accept())  # hx-confirm for merges
        self.base = base
        sign_in(self.page, base, name)

    def _console(self, message: Any) -> None:
        # CSP violations and script errors; a refusal we answer on purpose (a 409 shown in the
        # page) is logged by Chromium as a failed load, and is not a problem.
        if message.type == "error" and not message.text.startswith(DELIBERATE_REFUSAL):
            self.problems.append(f"{message.text} at {message.location}")

    def open(self, conversation_id: str) -> None:
        self.page.goto(f"{self.base}/conversations/{conversation_id}")
        self.page.wait_for_selector("#timeline")


def status_line(agent: Agent) -> str:
    text: str = until(lambda: agent.page.inner_text("#action-status").strip())
    return text


def test_presence_claim_race_and_only_the_holder_replies(demo: SandboxProcess) -> None:
    conv = conversation(demo, "Can't log in")  # support: Sam and Priya both have full access
    # Pending and unassigned: out of the routing sweep's queue, so only the two agents can take it.
    assert demo.post(f"/api/conversations/{conv['id']}/status", {"status": "pending"})[0] == 200
    assert demo.post(f"/api/conversations/{conv['id']}/unassign")[0] == 200
    base = f"http://127.0.0.1:{demo.http_port}"
    with chromium() as browser:
        sam, priya = Agent(browser, base, SAM), Agent(browser, base, PRIYA)
        sam.open(conv["id"])
        priya.open(conv["id"])
        until(lambda: "Sam Rivera is viewing" in priya.page.inner_text("#presence"))
        until(lambda: "Priya Shah is viewing" in sam.page.inner_text("#presence"))

        sam.page.click("#reply-text")
        sam.page.keyboard.type("Looking into it")
        until(lambda: "Sam Rivera is replying" in priya.page.inner_text("#presence"))
        screenshot(priya.page, "presence-replying")

        # Both click "Assign to me" at the same moment (the requests are in flight together; the
        # sandbox serves them in separate execution environments): exactly one gets it.
        sam.page.evaluate("document.getElementById('claim-button').click()")
        priya.page.evaluate("document.getElementById('claim-button').click()")
        outcomes = [status_line(agent) for agent in (sam, priya)]
        holder = demo.get(f"/api/conversations/{conv['id']}")["assignee"]
        assert holder in {"agent1@acme.test", "agent2@acme.test"}
        assert sum("It's yours" in text for text in outcomes) == 1, outcomes
        assert sum("already has this conversation" in text for text in outcomes) == 1, outcomes

        # Only the holder can answer; the other one is told who has it.
        loser = priya if holder == "agent1@acme.test" else sam
        loser.page.reload()
        assert f"{holder} is handling this conversation" in loser.page.inner_text("#composer")
        assert loser.page.locator("#send-reply").count() == 0
        screenshot(loser.page, "conversation-held-by-colleague")
        assert sam.problems == [], sam.problems
        assert priya.problems == [], priya.problems


def test_canned_reply_threads_for_the_customer(demo: SandboxProcess) -> None:
    conv = conversation(demo, "Pricing for 50 seats")  # sales, assigned to Sam by the demo's rules
    customer_mail = demo.get(f"/api/conversations/{conv['id']}")["messages"][-1]
    base = f"http://127.0.0.1:{demo.http_port}"
    with chromium() as browser:
        sam = Agent(browser, base, SAM)
        if conv["assignee"] != "agent1@acme.test":
            assert (
                demo.post(f"/api/conversations/{conv['id']}/assign", {"agent": "agent1@acme.test"})[0] == 200
            )
        sam.open(conv["id"])
        sam.page.select_option("#canned-picker", "sales-demo-follow-up")
        until(lambda: "Account Executive" in sam.page.input_value("#reply-text"))
        draft = sam.page.input_value("#reply-text")
        assert draft.startswith("Hi Tom,")
        assert "I'm Sam Rivera, Account Executive at Acme Inc." in draft
        assert "https://cal.acme.test/sam-rivera" in draft
        screenshot(sam.page, "composer-canned")
        before = len(outbox_mail(demo))
        sam.page.click("#send-reply")
        until(lambda: "Reply sent" in sam.page.inner_text("#composer"))
        until(lambda: sam.page.locator("li.message.outbound .delivery-sent").count() >= 1)
        screenshot(sam.page, "conversation-replied")

        mails = until(lambda: outbox_mail(demo) if len(outbox_mail(demo)) > before else None)
        reply = next(m for m in mails if "pick a time" in str(m["Subject"]))
        assert reply["In-Reply-To"] == f"<{customer_mail['message_id']}>"
        assert f"<{customer_mail['message_id']}>" in reply["References"]
        assert reply["From"] == "Acme Sales <sales@acme.test>"
        assert "Tom" in reply["To"]
        sam.page.goto(f"{base}/outbox")
        assert sam.page.locator(".outbox-list tbody tr", has_text="pick a time").count() == 1
        screenshot(sam.page, "outbox")

        # The customer answers from their mail client: it joins the same conversation.
        answer = make_mail(
            subject=f"Re: {reply['Subject']}",
            sender=str(reply["To"]),
            to="sales@acme.test",
            body="Booked Thursday 10:00, thanks!",
            message_id="<tom-answer@globex.example>",
            in_reply_to=str(reply["Message-ID"]),
            references=f"{reply['References']} {reply['Message-ID']}",
        )
        send(demo, answer, ["sales@acme.test"])
        until(
            lambda: demo.get(f"/api/conversations/{conv['id']}")["message_count"] == conv["message_count"] + 2
        )
        assert sam.problems == [], sam.problems


def test_a_stale_reply_is_refused_and_the_draft_kept(demo: SandboxProcess) -> None:
    conv = conversation(demo, "Dashboard shows")  # support, assigned by the rules
    detail = demo.get(f"/api/conversations/{conv['id']}")
    holder = detail["assignee"] or "agent1@acme.test"
    name = {"agent1@acme.test": SAM, "agent2@acme.test": PRIYA, "agent3@acme.test": "Jonas Weber"}[holder]
    base = f"http://127.0.0.1:{demo.http_port}"
    with chromium() as browser:
        agent = Agent(browser, base, name)
        agent.open(conv["id"])
        agent.page.fill("#reply-text", "Could you send the full screenshot?")
        send(
            demo,
            make_mail(
                subject=f"Re: {conv['subject']}",
                sender=f"{conv['contact_name']} <{conv['contact_email']}>",
                body="Never mind the screenshot, it's the 502 again.",
                message_id="<stale-check@example.com>",
                in_reply_to=f"<{detail['messages'][0]['message_id']}>",
            ),
        )
        until(lambda: demo.get(f"/api/conversations/{conv['id']}")["message_count"] > conv["message_count"])
        agent.page.click("#send-reply")
        until(lambda: "changed since you opened it" in agent.page.inner_text("#composer"))
        assert "new message from" in agent.page.inner_text("#composer .changes")
        assert agent.page.input_value("#reply-text") == "Could you send the full screenshot?"
        screenshot(agent.page, "stale-reply-refused")
        sent_before = len(outbox_mail(demo))
        # Having read what changed, the agent sends the kept draft: it goes out once.
        agent.page.click("#send-reply")
        until(lambda: "Reply sent" in agent.page.inner_text("#composer"))
        assert len(outbox_mail(demo)) == sent_before + 1
        assert agent.problems == [], agent.problems


def test_keyboard_and_screens(demo: SandboxProcess, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{demo.http_port}"
    with chromium() as browser:
        sam = Agent(browser, base, SAM)
        conv = conversation(demo, "URGENT")
        sam.open(conv["id"])
        # Shortcuts belong to the page, not to a mail's frame: make sure the page has the focus
        # (a busy machine may still be loading frames when the test starts typing).
        sam.page.wait_for_function("document.readyState === 'complete'")
        sam.page.locator("h1").first.click()
        sam.page.keyboard.press("r")
        assert sam.page.evaluate("document.activeElement.id") == "reply-text"
        sam.page.keyboard.press("Escape")
        sam.page.keyboard.press("n")
        assert sam.page.evaluate("document.activeElement.id") == "note-text"
        sam.page.keyboard.type("@agent2 can you check the rate limiter?")
        sam.page.keyboard.press("Control+Enter")
        until(lambda: sam.page.locator("li.note .mention", has_text="@agent2").count() == 1)
        assert "agent2@acme.test will see it in their mentions" in sam.page.inner_text("#note-form")
        screenshot(sam.page, "conversation-with-note")
        assert sam.problems == [], sam.problems
