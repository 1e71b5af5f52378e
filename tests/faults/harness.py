"""The pipeline in one process, invoked as AWS invokes it, with faults injected: ingest with
Lambda's asynchronous retries, route and metrics behind the sandbox's stream poller, the reply
function behind a client that retries with the same idempotency key. What was accepted is written
down in a :class:`~sandbox.invariants.Ledger`, for :func:`~sandbox.invariants.check_invariants`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from mailroom.assignment.store import AssignmentStore
from mailroom.auth.model import Access
from mailroom.auth.permissions_store import grant
from mailroom.canned.model import CannedResponse
from mailroom.canned.store import put_canned
from mailroom.clock import iso
from mailroom.deployment import INGEST, REPLY, ROUTE
from mailroom.domain.agent import Agent
from mailroom.domain.team import Strategy, Team
from mailroom.inbox.directory import upsert_mailbox, upsert_user
from mailroom.routing.rules_store import load_rules, save_rules
from mailroom.rules.yaml_io import parse_rules_yaml
from mailroom.storage.local import LocalStore
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Table
from sandbox.apigw_events import decode_response
from sandbox.app import ASYNC_ATTEMPTS, context_factory, invoked_handler, scheduled_event, stream_consumers
from sandbox.faults import FaultConfig, FaultInjector
from sandbox.invariants import Ledger, SentMail, SentReply, Violation, check_invariants
from sandbox.ses_event import build_ses_event, new_ses_message_id
from sandbox.streams import StreamPoller
from tests.integration.conftest import as_user, http_event
from tests.mailfactory import make_mail

SUPPORT, SALES = "support@acme.test", "sales@acme.test"
AGENTS = ("ann@acme.test", "bob@acme.test")
CAPACITY = 3
CLIENT_ATTEMPTS = 3  # how often a client posts a reply with one key when the API fails (5xx)
RULES = """
rules:
  - {id: machines, name: Machines, when: {flag: [auto_reply, bounce, bulk]}, then: [{add_tags: [automatic]}],
     stop: true}
  - {id: ack, name: Acknowledge, when: {subject: {contains: acknowledge}}, then: [{auto_reply: ack}]}
"""


def set_up_organisation(table: Table) -> None:
    """Two agents of small capacity in one least-loaded team that owns both mailboxes, and a rule
    that answers mail whose subject asks for an acknowledgement."""
    store = AssignmentStore(table)
    for agent in AGENTS:
        upsert_user(table, agent, name=agent.split("@")[0].title(), role="agent")
        store.put_agent(Agent(id=agent, name=agent.split("@")[0].title(), capacity=CAPACITY))
    store.put_team(Team(id="support", name="Support", strategy=Strategy.LEAST_LOADED, members=list(AGENTS)))
    for mailbox in (SUPPORT, SALES):
        upsert_mailbox(table, mailbox, name=mailbox.split("@")[0].title(), team="support")
        for agent in AGENTS:
            grant(table, mailbox, agent, Access.FULL)
    put_canned(table, CannedResponse(id="ack", name="Ack", body="Hi {{ customer.first_name }}, we have it."))
    save_rules(table, parse_rules_yaml(RULES), expected_version=load_rules(table).version, actor="test")


@dataclass
class Harness:
    table: Table
    store: LocalStore  # the raw store (S3)
    outbox: Path
    endpoint: str
    state_dir: Path
    ledger: Ledger = field(default_factory=Ledger)
    injector: FaultInjector = field(default_factory=lambda: FaultInjector(FaultConfig()))
    poller: StreamPoller | None = None
    _requests: dict[str, tuple[str, str, dict[str, Any]]] = field(default_factory=dict)

    @contextmanager
    def faults(self, config: FaultConfig) -> Iterator[FaultInjector]:
        """Inject ``config``'s faults into every handler until the block ends."""
        self.injector = FaultInjector(config)
        self.poller = StreamPoller(
            endpoint=self.endpoint,
            table_name=self.table.name,
            consumers=stream_consumers(self.injector),
            state_dir=self.state_dir,
            redeliver=self.injector.redeliver,
        )
        with self.injector.installed(self.table.client):
            yield self.injector

    # -- mail in -----------------------------------------------------------------------------------

    def deliver(
        self, raw: bytes, mailboxes: tuple[str, ...] = (SUPPORT,), *, thread_of: str | None = None
    ) -> list[dict[str, Any]]:
        """What SES does for one accepted mail: store it raw, then invoke ingest (Event), retried
        twice when it fails. Returns ingest's outcomes."""
        ses_id = new_ses_message_id()
        self.store.put(f"raw/inbound/{ses_id}", raw)
        parsed = message_from_bytes(raw, policy=policy.default)
        self.ledger.record_mail(
            SentMail(
                ses_message_id=ses_id,
                mailboxes=mailboxes,
                message_id=str(parsed["Message-ID"]).strip("<>"),
                sha256=hashlib.sha256(raw).hexdigest(),
                accepted_at=time.time(),
                kind="reply" if thread_of else "new",
                thread_of=thread_of,
            )
        )
        event = build_ses_event(
            raw=raw,
            ses_message_id=ses_id,
            envelope_from=str(parsed["From"].addresses[0].addr_spec),
            recipients=list(mailboxes),
            received_at=datetime.now(UTC),
        )
        ingest = invoked_handler(INGEST, self.injector)
        error: Exception | None = None
        for _ in range(ASYNC_ATTEMPTS):
            try:
                return list(ingest(event, context_factory(INGEST)())["outcomes"])
            except Exception as exc:  # Lambda retries a failed asynchronous invocation
                error = exc
        raise AssertionError(f"ingest failed {ASYNC_ATTEMPTS} times: {error}")

    def settle(self, *, sweep_queues: bool = True) -> None:
        """Let the stream consumers catch up and, once the traffic is over, run the scheduled
        sweep (retried as the next tick would) and catch up again."""
        assert self.poller is not None
        assert self.poller.drain(timeout=120)
        if not sweep_queues:
            return
        sweep = invoked_handler(ROUTE, self.injector)
        for _ in range(ASYNC_ATTEMPTS):
            try:
                sweep(scheduled_event(), context_factory(ROUTE)())
                break
            except Exception:  # the next tick sweeps again
                continue
        assert self.poller.drain(timeout=120)
        assert self.poller.dead_letters() == []

    # -- the API -----------------------------------------------------------------------------------

    def api(
        self, method: str, path: str, body: Any = None, *, user: str, form: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """One request through API Gateway (JSON ``body``, or a page's ``form``); a function that
        dies answers 502, as API Gateway does."""
        headers = as_user(user)
        payload = json.dumps(body) if body is not None else None
        if form is not None:
            headers["content-type"] = "application/x-www-form-urlencoded"
            payload = urlencode(form)
        event = http_event(method, path, body=payload, headers=headers)
        handler = invoked_handler(REPLY, self.injector)
        try:
            response = handler(event, context_factory(REPLY)())
        except RuntimeError:
            return 502, {"message": "Internal Server Error"}
        status, _, decoded = decode_response(response)
        return status, decoded

    def conversation(self, conversation_id: str, *, user: str) -> dict[str, Any]:
        for _ in range(CLIENT_ATTEMPTS):
            status, detail = self.api("GET", f"/api/conversations/{conversation_id}", user=user)
            if status == 200:
                return dict(detail)
        raise AssertionError(f"could not read {conversation_id}: {status} {detail}")

    def reply(self, conversation_id: str, *, key: str, text: str = "We are on it.") -> tuple[int, Any]:
        """The assignee replies as the composer does: posted again with the same key while the
        API fails. Written down in the ledger with the last attempt's answer."""
        detail = self.conversation(conversation_id, user=AGENTS[0])
        agent = str(detail["assignee"])
        body = {"idempotency_key": key, "seen_version": detail["version"], "text": text}
        self._requests[key] = (conversation_id, agent, body)
        return self.resend(key)

    def composed(self, key: str) -> tuple[str, dict[str, Any]]:
        """(agent, request body) of the reply posted with this key."""
        _, agent, body = self._requests[key]
        return agent, dict(body)

    def resend(self, key: str) -> tuple[int, Any]:
        """Post the reply with this key again, exactly as it was composed."""
        conversation_id, agent, body = self._requests[key]
        path = f"/api/conversations/{conversation_id}/replies"
        attempts = 0
        status, answer = 502, None
        while status >= 500 and attempts < CLIENT_ATTEMPTS:
            status, answer = self.api("POST", path, body, user=agent)
            attempts += 1
        message_id = answer.get("message_id") if isinstance(answer, dict) else None
        self.ledger.record_reply(
            SentReply(
                conversation_id=conversation_id,
                idempotency_key=key,
                agent=agent,
                status=status,
                message_id=message_id,
                attempts=attempts,
            )
        )
        return status, answer

    def settle_in_doubt(self, key: str) -> dict[str, Any]:
        """The agent's part when the API answered 202 (on its way, or in doubt): some minutes
        later the reply list says whether it is in doubt; if so they look in the sent mail and
        settle it (sent, or not sent and then sent again with the same key). Returns the reply as
        the list showed it."""
        conversation_id, agent, _ = self._requests[key]
        self.age_reply(conversation_id, key)
        status, listing = self.api("GET", f"/api/conversations/{conversation_id}/replies", user=agent)
        assert status == 200, listing
        [shown] = [item for item in listing["items"] if item["idempotency_key"] == key]
        if shown["in_doubt"]:
            went_out = self.outbox_copies(str(shown["message_id"])) > 0
            path = f"/api/conversations/{conversation_id}/replies/{key}/resolve"
            status, settled = self.api("POST", path, {"sent": went_out}, user=agent)
            assert status == 200, settled
            if not went_out:
                status, sent = self.resend(key)
                assert status in {200, 201}, sent
        return dict(shown)

    def age_reply(self, conversation_id: str, key: str, minutes: int = 6) -> None:
        """Let ``minutes`` pass for a reply's record (the in-doubt period is measured from it)."""
        self.table.update(
            {schema.PK: keys.conversation_pk(conversation_id), schema.SK: f"REPLY#{key}"},
            Condition(
                "SET #at = :at",
                {"#at": "updated_at"},
                {":at": iso(datetime.now(UTC) - timedelta(minutes=minutes))},
            ),
        )

    # -- what must hold ----------------------------------------------------------------------------

    def violations(self) -> list[Violation]:
        return check_invariants(self.table, self.outbox, self.ledger, raw_store_dir=self.store.root)

    def outbox_copies(self, message_id: str) -> int:
        """How many mails with this Message-ID went out (each send is its own file)."""
        return sum(1 for headers in self._outbox_headers() if headers["Message-ID"].strip("<>") == message_id)

    def automatic_replies(self) -> Counter[str]:
        """Automatic replies sent, per recipient."""
        return Counter(
            headers["To"].addresses[0].addr_spec
            for headers in self._outbox_headers()
            if str(headers.get("Auto-Submitted", "no")) != "no"
        )

    def _outbox_headers(self) -> list[Any]:
        parser = BytesHeaderParser(policy=policy.default)
        return [parser.parsebytes(path.read_bytes()) for path in sorted(self.outbox.glob("*.eml"))]


@dataclass
class Scenario:
    conversation_id: str  # the one the agent answered
    reply_status: int  # what the agent's client got in the end (before settling a reply in doubt)
    shown: dict[str, Any] | None  # the reply as the list showed it later, when it was answered 202


def run_scenario(h: Harness) -> Scenario:
    """Mail in (one mail to two mailboxes, with an attachment, and one that asks for an automatic
    acknowledgement), routed and counted; the assignee answers the first; the customer answers
    that; everything routed, swept and counted again."""
    first = new_mail("Printer on fire", attachments=[("printer.log", "text/plain", b"smoke\n" * 40)])
    support = h.deliver(first, (SUPPORT, SALES))[0]
    h.deliver(new_mail("Please acknowledge", sender="Fox Mulder <fox@example.com>"))
    h.settle(sweep_queues=False)
    conversation_id = str(support["conversation_id"])
    status, answer = h.reply(conversation_id, key="reply-0001")
    shown = h.settle_in_doubt("reply-0001") if status == 202 else None
    ours = str(answer["message_id"])
    h.deliver(
        new_mail("Re: Printer on fire", in_reply_to=f"<{ours}>", references=f"<{ours}>"), thread_of=ours
    )
    h.settle()
    return Scenario(conversation_id, status, shown)


def metrics_applied_once(table: Table) -> dict[str, tuple[int, int]]:
    """Per rollup figure, (what the audit events say, what the rollups hold): received messages,
    replies sent and assignments, each event counted exactly once whatever was redelivered."""
    items = list(table.scan_all())
    events = [item for item in items if item.get("entity") == "event"]
    counters = [item for item in items if item.get("entity") == "metric"]

    def total(field_name: str, scope: str) -> int:
        return sum(int(item.get(field_name, 0)) for item in counters if item.get("scope") == scope)

    def count(kind: str) -> int:
        return sum(
            1 for event in events if event.get("type") == kind and str(event[schema.PK]).startswith("CONV#")
        )

    return {
        "received": (count("received"), total("in", "all") + total("io", "all")),
        "replied": (count("replied"), total("out", "all")),
        "assigned": (count("assigned"), total("as", "agent")),
    }


def new_mail(name: str, *, sender: str = "Dana Scully <dana@example.com>", **extra: Any) -> bytes:
    """A customer's mail with a Message-ID of its own."""
    return make_mail(
        subject=name, sender=sender, message_id=f"<{name.replace(' ', '-')}@example.com>", **extra
    )
