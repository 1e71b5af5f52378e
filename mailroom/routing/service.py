"""Route one new inbound message: rules, then assignment, then an automatic reply if a rule asks.

Each step is idempotent, so a redelivered stream record changes nothing:
- rules: a ``ROUTED#<message key>`` marker is written in the same transaction as their effects;
- assignment: only an unassigned conversation is assigned (a conditional write), and a reopened
  one is handed on only when its owner is unavailable;
- auto-reply: a once-per-sender-and-period slot is taken before sending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mailroom.actions.service import ConversationActions
from mailroom.assignment.errors import AlreadyAssignedError, VersionConflictError
from mailroom.assignment.store import AssignmentStore
from mailroom.assignment.strategy import Choice, choose_agent
from mailroom.canned.store import get_canned
from mailroom.clock import iso, now
from mailroom.domain.agent import is_available
from mailroom.domain.conversation import Conversation, Status
from mailroom.domain.message import StoredMessage
from mailroom.domain.team import Strategy, Team
from mailroom.faultpoints import checkpoint
from mailroom.inbox.directory import list_mailboxes, mailbox_entry
from mailroom.ingest.repository import IngestRepository
from mailroom.mail.model import MessageFlag
from mailroom.metrics.warnings import warn_sla_at_risk
from mailroom.observability import logger
from mailroom.outbound.sender import MailSender
from mailroom.privacy.retention import purge_expired, raw_store
from mailroom.routing.autoreply import claim_auto_reply_slot, may_auto_reply, send_auto_reply
from mailroom.routing.facts import message_facts
from mailroom.routing.plan import RoutingPlan, plan_routing
from mailroom.routing.rules_store import RuleCache
from mailroom.rules.engine import evaluate
from mailroom.rules.model import Decision
from mailroom.schedule.model import ALWAYS_OPEN, WeeklySchedule
from mailroom.settings import Settings
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Put, Table, TransactionCancelledError, retry_on_conflict
from mailroom.table.items import conversation_item, event_item, in_queue
from mailroom.usage import attribute

MAX_ATTEMPTS = 6
# Machine mail is tagged by rules like any other, but nobody is assigned to read an auto-reply.
_NOT_ASSIGNED = frozenset({MessageFlag.AUTO_REPLY.value, MessageFlag.BOUNCE.value, MessageFlag.BULK.value})


@dataclass(frozen=True)
class Mailbox:
    """What routing needs of a mailbox's directory entry."""

    address: str
    name: str
    team: str | None
    sla_policy: str | None = None  # the default SLA policy, one of the owning team's
    auto_ack: str | None = None  # the canned response acknowledging a new conversation; None: off


@dataclass
class RouteOutcome:
    conversation_id: str
    routed: bool = False  # rules applied now (False: already routed, or nothing to route)
    matched_rules: list[str] = field(default_factory=list)
    assignee: str | None = None
    assignment_reason: str = ""
    auto_replied: bool = False


class Router:
    def __init__(self, *, table: Table, rules: RuleCache, sender: MailSender, settings: Settings) -> None:
        self.table = table
        self.rules = rules
        self.sender = sender
        self.settings = settings
        self.conversations = IngestRepository(table)
        self.assignment = AssignmentStore(table)

    # -- the steps ------------------------------------------------------------------------------

    def route(self, message: StoredMessage) -> RouteOutcome:
        outcome = RouteOutcome(conversation_id=message.conversation_id)
        conversation = self.conversations.conversation(message.conversation_id)
        if conversation is None or conversation.status == Status.QUARANTINED:
            return outcome
        teams = self._teams()
        mailbox = self._mailbox(conversation.mailbox)
        decision = self._decide(message, conversation, teams, mailbox)
        conversation = self._apply_rules(
            message, conversation, decision, teams=teams, mailbox=mailbox, outcome=outcome
        )
        checkpoint("route.after_rules")
        attribute(conversation_id=conversation.id, mailbox=conversation.mailbox, team=conversation.team)
        if conversation.status in {Status.OPEN, Status.PENDING} and not (set(message.flags) & _NOT_ASSIGNED):
            conversation = self._assign(message, conversation, decision, teams, outcome)
            checkpoint("route.after_assign")
        canned_id = decision.auto_reply or acknowledgement(message, conversation, mailbox)
        if canned_id:
            outcome.auto_replied = self._auto_reply(message, conversation, canned_id, mailbox)
        logger.info(
            "routed",
            conversation_id=conversation.id,
            message_key=message.key,
            rules=outcome.matched_rules,
            assignee=outcome.assignee,
            reason=outcome.assignment_reason,
            auto_replied=outcome.auto_replied,
        )
        return outcome

    def decide(self, message: StoredMessage, conversation: Conversation) -> Decision:
        """The dry run: which rules match and what they would do; nothing is written."""
        teams = self._teams()
        return self._decide(message, conversation, teams, self._mailbox(conversation.mailbox))

    def _decide(
        self, message: StoredMessage, conversation: Conversation, teams: dict[str, Team], mailbox: Mailbox
    ) -> Decision:
        contact = self.table.get(
            {schema.PK: keys.contact_pk(conversation.contact_email), schema.SK: keys.META}
        )
        facts = message_facts(
            message,
            conversation,
            contact_tags=list(contact.get("tags", [])) if contact else [],
            team=conversation.team or mailbox.team,
        )

        def calendar_for(name: str | None) -> WeeklySchedule:
            if name is not None:
                if name not in teams:
                    raise LookupError(f"no team calendar named {name!r}")  # the engine warns, no match
                return teams[name].calendar
            team = teams.get(facts.team or "")
            return team.calendar if team else ALWAYS_OPEN

        return evaluate(self.rules.get().ruleset, facts, calendar_for=calendar_for)

    def _teams(self) -> dict[str, Team]:
        """Every team by id; the directory may be reused for a few seconds, as the API's is."""
        teams = self.assignment.list_teams_cached(self.settings.directory_cache_seconds)
        return {team.id: team for team in teams}

    def _mailbox(self, address: str) -> Mailbox:
        """The mailbox's directory entry, once per routed message (or from a recent listing)."""
        entry = mailbox_entry(self.table, address, self.settings.directory_cache_seconds) or {}

        def optional(name: str) -> str | None:
            return str(entry[name]) if entry.get(name) else None

        return Mailbox(
            address=address,
            name=str(entry.get("name") or address),
            team=optional("team"),
            sla_policy=optional("sla_policy"),
            auto_ack=optional("auto_ack"),
        )

    def _apply_rules(
        self,
        message: StoredMessage,
        conversation: Conversation,
        decision: Decision,
        *,
        teams: dict[str, Team],
        mailbox: Mailbox,
        outcome: RouteOutcome,
    ) -> Conversation:
        outcome.matched_rules = [m.rule_id for m in decision.matched]
        marker = {schema.PK: keys.conversation_pk(conversation.id), schema.SK: f"ROUTED#{message.key}"}
        for attempt in range(MAX_ATTEMPTS):
            plan = plan_routing(
                conversation=conversation,
                message=message,
                decision=decision,
                default_team=mailbox.team,
                default_sla=mailbox.sla_policy,
                teams=teams,
                at=iso(now()),
            )
            try:
                self._commit_rules(plan, marker, previous_version=conversation.version, decision=decision)
            except TransactionCancelledError as exc:
                if exc.failed_condition_at(0):
                    return self._reload(conversation)  # routed before: a redelivered record
                retry_on_conflict(attempt)
                conversation = self._reload(conversation)
                continue
            outcome.routed = True
            return plan.conversation
        raise RuntimeError(f"could not route {message.key}: the conversation kept changing")

    def _commit_rules(
        self, plan: RoutingPlan, marker: dict[str, str], *, previous_version: int, decision: Decision
    ) -> None:
        actions: list[Put] = [
            Put(
                {
                    **marker,
                    "entity": "routed",
                    "at": iso(now()),
                    "rules": [m.rule_id for m in decision.matched],
                },
                Condition("attribute_not_exists(#pk)", {"#pk": schema.PK}),
            )
        ]
        if plan.changed:
            actions.append(
                Put(
                    conversation_item(plan.conversation),
                    Condition("#v = :v", {"#v": "version"}, {":v": previous_version}),
                )
            )
            actions += [Put(event_item(event)) for event in plan.events]
        self.table.transact_write(actions)

    def _reload(self, conversation: Conversation) -> Conversation:
        return self.conversations.conversation(conversation.id) or conversation

    def _assign(
        self,
        message: StoredMessage,
        conversation: Conversation,
        decision: Decision,
        teams: dict[str, Team],
        outcome: RouteOutcome,
    ) -> Conversation:
        at = now()
        team = teams.get(conversation.team or "")
        if conversation.assignee:
            if not message.reopened:
                outcome.assignee = conversation.assignee
                return conversation
            owner = self.assignment.get_agent(conversation.assignee)
            if owner is not None and is_available(owner, at):
                outcome.assignee = owner.id
                outcome.assignment_reason = "reopened: owner available"
                return conversation
            conversation = self.assignment.unassign(
                conversation, actor="route", reason=f"reopened while {conversation.assignee} is unavailable"
            )
        if team is None:
            outcome.assignment_reason = "queued: no team"
            return conversation
        return self._assign_by_strategy(conversation, team, decision, at, outcome)

    def _assign_by_strategy(
        self, conversation: Conversation, team: Team, decision: Decision, at: datetime, outcome: RouteOutcome
    ) -> Conversation:
        rule_id = decision.sources.get("assign_to") if decision.assign_to else None
        for attempt in range(MAX_ATTEMPTS):
            choice, why_not = self._choose(conversation, team, decision, at)
            if choice is None:
                outcome.assignment_reason = why_not
                return conversation
            try:
                assigned = self.assignment.assign_first_available(
                    conversation, choice, actor="route", rule_id=rule_id
                )
            except (AlreadyAssignedError, VersionConflictError):
                conversation = self._reload(conversation)
                if conversation.assignee:
                    outcome.assignee = conversation.assignee
                    outcome.assignment_reason = "assigned meanwhile"
                    return conversation
                retry_on_conflict(attempt)
                continue
            if assigned is None:
                outcome.assignment_reason = "queued: every candidate is at capacity"
                return conversation
            outcome.assignee = assigned.assignee
            chosen = next((c for c in choice.candidates if c.agent_id == assigned.assignee), choice.first)
            outcome.assignment_reason = chosen.reason
            return assigned
        outcome.assignment_reason = "queued: the conversation kept changing"
        return conversation

    def _choose(
        self, conversation: Conversation, team: Team, decision: Decision, at: datetime
    ) -> tuple[Choice | None, str]:
        """Who to try, in order, or why nobody: a rule's named agent, stickiness, then the strategy."""
        sticky = None if decision.assign_to else self._sticky(conversation, team)
        preferred = decision.assign_to or (sticky[0] if sticky else None)
        if decision.assign_to:
            preferred_reason: str | None = f"rule {decision.sources.get('assign_to')}: assign to {preferred}"
        else:
            preferred_reason = f"sticky: handled this contact's conversation {sticky[1]}" if sticky else None
        if team.strategy == Strategy.MANUAL and not preferred:
            return None, "queued: manual team (agents claim from the queue)"
        agents = self.assignment.team_agents(team.id)
        if preferred and preferred not in {a.id for a in agents}:
            agents += self.assignment.get_agents([preferred])
        counter = self.assignment.next_rr_counter(team.id) if team.strategy == Strategy.ROUND_ROBIN else 0
        choice = choose_agent(
            team,
            agents,
            at=at,
            required_skills=conversation.required_skills,
            rr_counter=counter,
            preferred=preferred,
            preferred_reason=preferred_reason,
        )
        if choice is not None and team.strategy == Strategy.MANUAL:
            # A manual team only takes the agent a rule (or stickiness) named.
            kept = tuple(c for c in choice.candidates if c.basis in {"preferred", "replacement"})
            choice = Choice(candidates=kept, strategy=choice.strategy) if kept else None
        return (
            (choice, "") if choice is not None and choice.candidates else (None, "queued: nobody available")
        )

    def assign_from_queue(self, conversation: Conversation, team: Team) -> RouteOutcome:
        """Assign a waiting conversation by its team's strategy (no rule involved)."""
        outcome = RouteOutcome(conversation_id=conversation.id)
        self._assign_by_strategy(conversation, team, Decision(), now(), outcome)
        return outcome

    def _sticky(self, conversation: Conversation, team: Team) -> tuple[str, str] | None:
        """(agent, conversation id) of this contact's most recent other conversation in the team."""
        if team.sticky_days <= 0:
            return None
        horizon = iso(now() - timedelta(days=team.sticky_days))
        for other in self.conversations.recent_conversations(conversation.contact_email, limit=10):
            if other.id == conversation.id or other.last_activity_at < horizon:
                continue
            if other.team == team.id and other.assignee:
                return other.assignee, other.id
        return None

    def _auto_reply(
        self, message: StoredMessage, conversation: Conversation, canned_id: str, mailbox: Mailbox
    ) -> bool:
        own_domains = {conversation.mailbox.rpartition("@")[2]}
        verdict = may_auto_reply(message, own_domains=own_domains)
        if not verdict.allowed:
            logger.info("no auto-reply", conversation_id=conversation.id, reason=verdict.reason)
            return False
        canned = get_canned(self.table, canned_id)
        if canned is None:
            logger.warning("auto-reply names a missing canned response", canned=canned_id)
            return False
        sender = message.from_.email if message.from_ else conversation.contact_email
        if not claim_auto_reply_slot(
            self.table, conversation.mailbox, sender, self.settings.auto_reply_period_hours
        ):
            logger.info(
                "no auto-reply: one was sent recently", conversation_id=conversation.id, sender=sender
            )
            return False
        checkpoint("route.after_auto_reply_slot")
        sent = send_auto_reply(
            table=self.table,
            sender=self.sender,
            conversation=conversation,
            message=message,
            canned=canned,
            mailbox_name=mailbox.name,
        )
        return sent is not None


def acknowledgement(message: StoredMessage, conversation: Conversation, mailbox: Mailbox) -> str | None:
    """The mailbox's auto-acknowledgement for a message that opened a new conversation: not for
    replies in a thread (the customer already has an answer or an acknowledgement), nor for spam.
    Whom it may go to at all is :func:`may_auto_reply`'s decision, as for a rule's auto-reply."""
    if not mailbox.auto_ack or message.threaded_by != "new" or conversation.status == Status.SPAM:
        return None
    return mailbox.auto_ack


def sweep_queues(router: Router, *, per_mailbox: int = 50, at: datetime | None = None) -> int:
    """Assign waiting conversations of automatic teams (run on a schedule, and after availability
    changes): nobody was available when they arrived, someone may be now. Oldest first. Only
    conversations where a person waits: machine mail is left for people to look at.

    First, snoozed conversations whose time has come (as of ``at``, default now) are opened again,
    so an unassigned one is queued in the same sweep; then conversations whose first response is
    due soon are tagged and their people notified (:mod:`mailroom.metrics.warnings`)."""
    moment = at or now()
    try:
        ConversationActions(router.table, now=lambda: moment).wake_due()
    except Exception:  # the queues are swept all the same; the next sweep wakes them
        logger.exception("snooze wake-up failed")
    try:
        warn_sla_at_risk(router.table, router.sender, router.settings, now=moment)
    except Exception:  # warnings must not stop assignment; the next sweep warns
        logger.exception("SLA warnings failed")
    try:
        purge_expired(router.table, raw_store(router.settings.raw_store_url), now=moment)
    except Exception:  # the retention policy must not stop assignment; the next sweep purges
        logger.exception("retention purge failed")
    assigned = 0
    automatic = {team.id: team for team in router.assignment.list_teams() if team.strategy != Strategy.MANUAL}
    for mailbox in list_mailboxes(router.table):
        # The mailbox's queue (open, held by nobody: the ByQueue index holds exactly those), oldest
        # activity first; bounded per sweep, the next sweep goes on.
        page = router.table.query(
            key_condition=Condition(
                "#pk = :pk", {"#pk": schema.BY_QUEUE.pk}, {":pk": keys.queue_pk(str(mailbox["address"]))}
            ),
            index=schema.BY_QUEUE.name,
            forward=True,
            limit=per_mailbox,
        )
        for item in page.items:
            team = automatic.get(str(item.get("team") or ""))
            if team is None:
                continue  # no team yet, or a team that assigns by hand
            conversation = router.conversations.conversation(str(item["id"]))
            if conversation is None or not in_queue(conversation):
                continue  # taken since the index was read
            if conversation.waiting_since is None:
                # Nobody waits: machine mail (a bounce, a newsletter, an out-of-office) that routing
                # rightly left unassigned. It stays in the Unassigned view for a person to look at;
                # handing it out would spend an agent's capacity on no one.
                continue
            outcome = router.assign_from_queue(conversation, team)
            assigned += 1 if outcome.assignee else 0
    if assigned:
        logger.info("queue sweep assigned conversations", assigned=assigned)
    return assigned
