"""The demo organisation: Acme's teams, agents, skills, schedules, SLA policies, canned responses
and routing rules, so a newcomer's first `make run` shows mail routed, tagged and assigned."""

from __future__ import annotations

import time as _time
from datetime import time
from pathlib import Path

from mailroom.assignment.store import AssignmentStore
from mailroom.auth.model import Access
from mailroom.auth.permissions_store import grant
from mailroom.canned.model import CannedResponse
from mailroom.canned.store import put_canned
from mailroom.domain.agent import Agent
from mailroom.domain.conversation import Conversation
from mailroom.domain.team import SlaPolicy, Strategy, Team
from mailroom.inbox.directory import list_mailboxes, upsert_mailbox, upsert_user
from mailroom.observability import logger
from mailroom.outbound.sender import MailSender
from mailroom.replies.model import AgentIdentity, ReplyRequest
from mailroom.replies.service import ReplyService
from mailroom.routing.rules_store import load_rules, save_rules
from mailroom.rules.yaml_io import parse_rules_yaml
from mailroom.schedule.model import Interval, WeeklySchedule
from mailroom.settings import Settings
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Table
from mailroom.table.items import get_conversation, to_conversation
from sandbox.demo import DEMO_COMPANY, DEMO_MAILBOXES, DEMO_USERS

RULES_FILE = Path(__file__).with_name("demo_rules.yaml")

WORKDAYS = WeeklySchedule(
    timezone="America/New_York",
    days={day: [Interval(start=time(9, 0), end=time(17, 0))] for day in ("mon", "tue", "wed", "thu", "fri")},
)
SLA_POLICIES = [
    SlaPolicy(id="standard", name="Standard", first_response_minutes=240, resolution_minutes=2 * 24 * 60),
    SlaPolicy(id="priority", name="Priority", first_response_minutes=60, resolution_minutes=8 * 60),
]
TEAMS = [
    Team(
        id="support",
        name="Support",
        strategy=Strategy.LEAST_LOADED,
        members=["agent1@acme.test", "agent2@acme.test", "agent3@acme.test"],
        calendar=WORKDAYS,
        sla_policies=SLA_POLICIES,
        default_sla="standard",
    ),
    Team(
        id="sales",
        name="Sales",
        strategy=Strategy.ROUND_ROBIN,
        members=["agent1@acme.test", "agent2@acme.test"],
        calendar=WORKDAYS,
        sla_policies=SLA_POLICIES,
        default_sla="standard",
    ),
    Team(
        id="billing",
        name="Billing",
        strategy=Strategy.SKILLS,
        members=["agent2@acme.test", "agent3@acme.test"],
        calendar=WORKDAYS,
        sla_policies=SLA_POLICIES,
        default_sla="standard",
    ),
]
# Skills: Sam does sales, Priya billing, Jonas billing and German. Everyone works around the
# clock in the demo, so assignment shows at any hour; the team calendars still drive SLA clocks.
AGENT_PROFILES = {
    "agent1@acme.test": {"skills": ["sales"], "capacity": 8, "teams": ["support", "sales"]},
    "agent2@acme.test": {
        "skills": ["billing", "sales"],
        "capacity": 8,
        "teams": ["support", "sales", "billing"],
    },
    "agent3@acme.test": {"skills": ["billing", "de"], "capacity": 8, "teams": ["support", "billing"]},
}
# Who may do what in which mailbox: Sam works Support and Sales, Priya all three (Sales as herself,
# "Priya via Acme Sales"), Jonas Support and Billing; finance may see every mailbox's figures.
ACCESS = {
    "support@acme.test": {
        "agent1@acme.test": Access.FULL,
        "agent2@acme.test": Access.FULL,
        "agent3@acme.test": Access.FULL,
    },
    "sales@acme.test": {"agent1@acme.test": Access.SEND_AS, "agent2@acme.test": Access.SEND_ON_BEHALF},
    "billing@acme.test": {"agent2@acme.test": Access.FULL, "agent3@acme.test": Access.FULL},
}
FINANCE = "finance@acme.test"
MAILBOX_TEAMS = {"support@acme.test": "support", "sales@acme.test": "sales", "billing@acme.test": "billing"}
CANNED = [
    CannedResponse(
        id="after-hours",
        name="After-hours acknowledgement",
        body=(
            "Hi {{ customer.first_name or 'there' }},\n\n"
            "thanks for writing to {{ mailbox.name }}. Our team works Monday to Friday, 9:00 to 17:00 "
            "(New York time), and will get back to you on the next working day.\n\n"
            "Your reference is {{ conversation.id }}.\n\n{{ mailbox.name }}"
        ),
        mailbox="support@acme.test",
    ),
    CannedResponse(
        id="sales-demo-follow-up",
        name="Sales: finish booking your demo",
        subject="Your Acme demo: pick a time that suits you",
        body=(
            "Hi {{ customer.first_name or customer.name or 'there' }},\n\n"
            "I'm {{ agent.name }}, {{ agent.title }} at {{ agent.company }}. You asked for a demo but "
            "didn't get to pick a slot yet; here is my calendar, choose whatever suits you:\n"
            "{{ agent.calendar_url }}\n\n"
            "Looking forward to it,\n{{ agent.name }}"
        ),
        team="sales",
    ),
]


def seed_demo_organisation(table: Table) -> None:
    """Idempotent: safe on every start. Rules are only seeded into an empty rule set."""
    store = AssignmentStore(table)
    for mailbox in DEMO_MAILBOXES:
        upsert_mailbox(
            table,
            mailbox.address,
            name=mailbox.display_name,
            team=MAILBOX_TEAMS[mailbox.address],
            signature=mailbox.signature or None,
        )
    for user in DEMO_USERS:
        profile = {"title": user.title, "company": DEMO_COMPANY, "calendar_url": user.calendar_url}
        profile = {name: value for name, value in profile.items() if value}
        upsert_user(table, user.email, name=user.display_name, role=user.role, profile=profile)
        work = AGENT_PROFILES.get(user.email, {"skills": [], "capacity": 0, "teams": []})
        store.put_agent(Agent(id=user.email, name=user.display_name, role=user.role, **work))
    for team in TEAMS:
        store.put_team(team)
    for address, grants in ACCESS.items():
        for email, access in grants.items():
            grant(table, address, email, access)
        grant(table, address, FINANCE, Access.READ_ONLY)
    for canned in CANNED:
        put_canned(table, canned)
    if load_rules(table).version == 0:
        save_rules(table, parse_rules_yaml(RULES_FILE.read_text()), expected_version=0, actor="demo")


# -- demo replies: so that a manager's first look at /reports shows response times ----------------

# (subject starts with, reply text, status after the reply). Conversations the browser tests work
# with (the login problem, the pricing request, the dashboard and the outage) are left alone.
DEMO_REPLIES = (
    (
        "Duplicate charge on invoice",
        "Hi Carol,\n\nsorry about that: the duplicate charge of USD 1,188.00 is refunded today; "
        "you'll see it on your card within five working days.\n\nAcme Billing",
        "closed",
    ),
    (
        "Synchronisierung",
        "Hallo Herr Müller,\n\ndanke für die genaue Beschreibung. Das ist ein bekanntes Problem seit "
        "dem Update; die Korrektur kommt diese Woche. Wir melden uns, sobald sie verfügbar ist.\n\n"
        "Acme Support",
        None,
    ),
    (
        "Enterprise rollout",
        "Hello,\n\nthanks for reaching out: yes to SSO (SAML and OIDC), and our enterprise plan has a "
        "one-hour first-response SLA. I'll send a draft agreement for 2,000 users tomorrow.\n\nAcme Sales",
        None,
    ),
)


def answer_demo_mail(table: Table, sender: MailSender, settings: Settings, *, timeout: float = 30.0) -> int:
    """Reply to a few demo conversations as the agents routing gave them to (waiting up to
    ``timeout`` seconds for routing to finish), closing one: their events reach the metrics
    function like any other. Idempotent (fixed idempotency keys). Returns how many were sent."""
    names = {user.email: user.display_name for user in DEMO_USERS}
    mailbox_names = {box.address: box.display_name for box in DEMO_MAILBOXES}

    def listing() -> list[Conversation]:
        return [
            to_conversation(item)
            for entry in list_mailboxes(table)
            for item in table.query_all(
                key_condition=Condition(
                    "#pk = :pk",
                    {"#pk": schema.BY_MAILBOX.pk},
                    {":pk": keys.mailbox_pk(str(entry["address"]))},
                ),
                index=schema.BY_MAILBOX.name,
            )
        ]

    # Answer once routing is done with every demo message (every conversation has its team and
    # nothing changed for a moment): a reply that closes a conversation lowers its agent's load,
    # and the demo's own routing must not depend on when the replies came.
    deadline = _time.monotonic() + timeout
    conversations, previous = listing(), None
    while _time.monotonic() < deadline:
        snapshot = {(c.id, c.version) for c in conversations}
        if snapshot == previous and all(c.team for c in conversations):
            break
        previous = snapshot
        _time.sleep(1.5)
        conversations = listing()
    replies = ReplyService(table, sender, settings)
    sent = 0
    for number, (subject, text, close) in enumerate(DEMO_REPLIES, start=1):
        found = next((c for c in conversations if c.subject.startswith(subject)), None)
        if found is None:
            continue
        current = get_conversation(table, found.id)
        if current is None:
            continue
        grants = ACCESS.get(current.mailbox, {})
        agent = current.assignee or next(iter(grants), None)
        access = grants.get(agent or "")
        if agent is None or access is None:
            continue
        identity = AgentIdentity(
            email=agent,
            name=names.get(agent, agent),
            access=access,
            mailbox=current.mailbox,
            mailbox_name=mailbox_names.get(current.mailbox, ""),
        )
        request = ReplyRequest(
            conversation_id=current.id,
            idempotency_key=f"demo-reply-{number:04d}",
            seen_version=current.version,
            text=text,
            close_after=close,
        )
        try:
            replies.send_reply(request, identity)
        except Exception as exc:  # the demo goes on without this reply (someone may have answered it)
            logger.warning("demo reply not sent", conversation_id=current.id, reason=str(exc))
            continue
        sent += 1
    return sent
