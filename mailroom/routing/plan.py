"""Pure routing: turn a rule decision into the conversation's next state and the audit events
that name the rule behind each change ("why is this conversation here?" always has an answer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mailroom.clock import iso, parse_iso
from mailroom.domain.conversation import Conversation, Status
from mailroom.domain.event import AuditEvent, EventType
from mailroom.domain.message import StoredMessage
from mailroom.domain.team import SlaPolicy, Team
from mailroom.ids import event_id_for
from mailroom.rules.model import Decision
from mailroom.schedule.hours import add_business_minutes

PRIORITY_ORDER = ("low", "normal", "high", "urgent")


@dataclass
class RoutingPlan:
    conversation: Conversation
    events: list[AuditEvent] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.events)


def _raise_priority(current: str, wanted: str | None) -> str:
    """Later messages may escalate a conversation's priority, never quietly lower it."""
    if wanted is None or wanted not in PRIORITY_ORDER:
        return current
    rank = PRIORITY_ORDER.index
    return wanted if current not in PRIORITY_ORDER or rank(wanted) > rank(current) else current


def due_after(policy: SlaPolicy, team: Team | None, start: datetime, minutes: int) -> str:
    if policy.business_hours and team is not None:
        return iso(add_business_minutes(team.calendar, start, minutes))
    return iso(start + timedelta(minutes=minutes))


def plan_routing(
    *,
    conversation: Conversation,
    message: StoredMessage,
    decision: Decision,
    default_team: str | None,
    teams: dict[str, Team],
    at: str,
    default_sla: str | None = None,
) -> RoutingPlan:
    """The conversation after routing ``message``, and one audit event per decision.

    A first message sets everything; a later message adds tags, may escalate priority, and sets
    the team or SLA only when none is set yet, so replies never yank a conversation elsewhere.
    The SLA policy is the rule's, else the mailbox's default (``default_sla``), else the team's."""
    conv = conversation
    updates: dict[str, object] = {}
    events: list[AuditEvent] = []

    def event(kind: EventType, rule: str | None, **data: object) -> None:
        events.append(
            AuditEvent(
                id=f"{len(events):02d}{event_id_for(message.key, 'route', kind.value)}",
                conversation_id=conv.id,
                mailbox=conv.mailbox,
                type=kind,
                at=at,
                actor="route",
                data={"rule_id": rule, "message_key": message.key, **data},
            )
        )

    new_tags = [t for t in decision.tags if t not in conv.tags]
    if new_tags:
        updates["tags"] = [*conv.tags, *new_tags]
        event(EventType.TAGGED, decision.sources.get("tags"), tags=new_tags)

    team_id = conv.team or decision.team or default_team
    if team_id and team_id != conv.team:
        updates["team"] = team_id
        source = decision.sources.get("team") if decision.team else None
        event(EventType.TEAM_SET, source, team=team_id, because="rule" if source else "mailbox default team")

    priority = _raise_priority(conv.priority, decision.priority)
    if priority != conv.priority:
        updates["priority"] = priority
        event(
            EventType.PRIORITY_SET,
            decision.sources.get("priority"),
            priority=priority,
            previous=conv.priority,
        )

    skills = sorted(set(conv.required_skills) | set(decision.required_skills))
    if skills != sorted(conv.required_skills):
        updates["required_skills"] = skills
        event(EventType.ROUTED, decision.sources.get("required_skills"), required_skills=skills)

    team = teams.get(team_id) if team_id else None
    sla_updates = _sla_updates(conv, message, decision.sla_policy or default_sla, team)
    if sla_updates:
        updates.update(sla_updates)
        event(
            EventType.SLA_SET,
            decision.sources.get("sla_policy") if decision.sla_policy else None,
            because="rule" if decision.sla_policy else "mailbox or team default",
            policy=sla_updates.get("sla_policy", conv.sla_policy),
            first_response_due=sla_updates.get("first_response_due"),
            resolution_due=sla_updates.get("resolution_due"),
        )

    if decision.spam and conv.status != Status.SPAM:
        updates["status"] = Status.SPAM
        event(EventType.MARKED_SPAM, decision.sources.get("spam"), previous_status=conv.status.value)

    if updates:
        updates["version"] = conv.version + 1
    return RoutingPlan(conv.model_copy(update=updates), events)


def _sla_updates(
    conv: Conversation, message: StoredMessage, wanted: str | None, team: Team | None
) -> dict[str, object]:
    """SLA due times: set when first routed, moved when a reopen restarts the clock. ``wanted`` is
    the rule's or the mailbox's policy; one the team does not have falls back to the team's default."""
    if team is None:
        return {}
    known = {p.id: p for p in team.sla_policies}
    policy_id = conv.sla_policy or (wanted if wanted in known else None) or team.default_sla
    policy = known.get(policy_id or "")
    if policy is None:
        return {}
    received = parse_iso(message.received_at)
    if conv.sla_policy is None:
        created = parse_iso(conv.created_at)
        return {
            "sla_policy": policy.id,
            "first_response_due": due_after(policy, team, received, policy.first_response_minutes),
            "resolution_due": due_after(policy, team, created, policy.resolution_minutes),
        }
    if message.reopened:
        return {
            "first_response_due": due_after(policy, team, received, policy.first_response_minutes),
            "resolution_due": due_after(policy, team, received, policy.resolution_minutes),
        }
    return {}
