"""The simulated organisation: mailboxes, teams, agents on shift, conversations and their queues.

Conversations keep only what decides their keys (mailbox, team, tag, assignee, status, whether the
customer waits, whether a first-response clock is set); the index keys themselves come from the
product (:func:`mailroom.table.items.conversation_index_attributes`), see :class:`IndexKeys`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from bench.scale_traffic import Curve, Dice, Scenario, cumulative, zipf_weights
from mailroom.domain.conversation import Conversation, Status
from mailroom.table import schema
from mailroom.table.items import conversation_index_attributes

DAY = "2026-11-23"
_CONTACT = "contact@sentinel.invalid"  # stands for the contact in a cached key template
_AT = f"{DAY}T00:00:00.000000Z"


class Conv:
    __slots__ = (
        "assignee",
        "contact",
        "due",
        "id",
        "machine",
        "mailbox",
        "sampled",
        "shard",
        "status",
        "tag",
        "team",
        "untracked",
        "waiting",
        "weight",
    )

    def __init__(
        self, conversation_id: str, mailbox: str, contact: str, *, machine: bool, shard: int
    ) -> None:
        self.id = conversation_id
        self.mailbox = mailbox
        self.contact = contact
        self.machine = machine
        self.shard = shard
        self.sampled = shard == 0  # its own partitions are counted key by key (see scale_ledger)
        self.status = Status.OPEN
        self.team: str | None = None
        self.tag: str | None = None
        self.assignee: str | None = None
        self.waiting = not machine
        self.due = False
        self.weight = 0  # metered invocations so far today (the cost board's ranking, roughly)
        self.untracked = False  # usage recorded before its team was known (handed over later)


class IndexKeys:
    """Each index's partition key for a conversation, from the product's own function. The keys
    depend only on a few fields, so the function runs once per combination (with a stand-in
    contact, replaced afterwards) rather than once per write."""

    def __init__(self) -> None:
        self._templates: dict[tuple[object, ...], dict[str, str]] = {}

    def of(self, conv: Conv) -> dict[str, str]:
        signature = (conv.mailbox, conv.status, conv.assignee, conv.team, conv.waiting, conv.due)
        template = self._templates.get(signature)
        if template is None:
            template = self._derive(conv)
            self._templates[signature] = template
        return {name: pk.replace(_CONTACT, conv.contact) for name, pk in template.items()}

    @staticmethod
    def _derive(conv: Conv) -> dict[str, str]:
        model = Conversation.model_construct(
            id="c00000000000",
            mailbox=conv.mailbox,
            contact_email=_CONTACT,
            status=conv.status,
            assignee=conv.assignee,
            team=conv.team,
            created_at=_AT,
            last_message_at=_AT,
            last_activity_at=_AT,
            waiting_since=_AT if conv.waiting else None,
            first_response_due=_AT if conv.due else None,
        )
        attributes = conversation_index_attributes(model)
        return {index.name: str(attributes[index.pk]) for index in schema.INDEXES if index.pk in attributes}


@dataclass
class Organisation:
    """Who works where: teams of agents (the first ``k`` of a team are on shift when ``k`` are),
    which teams serve which mailbox, and the grants on each mailbox's directory entry."""

    scenario: Scenario
    curve: Curve
    mailboxes: list[str] = field(init=False)
    mailbox_odds: list[float] = field(init=False)
    teams: list[str] = field(init=False)
    members: dict[str, list[str]] = field(init=False)
    serving: dict[str, list[str]] = field(init=False)  # mailbox -> teams
    served: dict[str, list[str]] = field(init=False)  # team -> mailboxes
    grants: dict[str, int] = field(init=False)  # mailbox -> people on its access map
    tags: list[str] = field(init=False)
    tag_odds: list[float] = field(init=False)

    def __post_init__(self) -> None:
        s = self.scenario
        self.mailboxes = s.mailbox_names()
        self.mailbox_odds = cumulative(s.mailbox_weights())
        self.teams = [f"team{n:02d}" for n in range(s.teams)]
        size = max(1, s.agents // s.teams)
        self.members = {
            team: [f"agent{n * size + m:04d}@acme.test" for m in range(size)]
            for n, team in enumerate(self.teams)
        }
        others = self.teams[s.busiest_teams :] or self.teams
        self.serving = {s.busiest_mailbox: self.teams[: s.busiest_teams]}
        for n, mailbox in enumerate(self.mailboxes[1:]):
            self.serving[mailbox] = [others[n % len(others)]]
        self.served = {team: [m for m, ts in self.serving.items() if team in ts] for team in self.teams}
        # Everyone may work the big shared mailbox; the others are granted to their team.
        self.grants = {m: (s.agents if m == s.busiest_mailbox else size) for m in self.mailboxes}
        self.tags = [f"topic{n:02d}" for n in range(s.tags)]
        self.tag_odds = cumulative(zipf_weights(s.tags))

    def on_shift(self, team: str, second: int) -> int:
        return round(len(self.members[team]) * self.curve.staffing[min(second, len(self.curve.staffing) - 1)])

    def agents_on_shift(self, second: int) -> int:
        return round(len(self.members[self.teams[0]]) * self.curve.staffing[second]) * len(self.teams)

    def random_on_shift(self, dice: Dice, second: int) -> tuple[str, str] | None:
        """(agent, team), or None when the team drawn has nobody on shift."""
        team = self.teams[dice.below(len(self.teams))]
        working = self.on_shift(team, second)
        if working == 0:
            return None
        return self.members[team][dice.below(working)], team


@dataclass
class Work:
    """The conversations in play: recent ones per mailbox (for follow-ups), queues of unassigned
    ones per mailbox, and each agent's open conversations."""

    recent: dict[str, deque[Conv]] = field(default_factory=dict)
    queues: dict[str, deque[Conv]] = field(default_factory=dict)
    owned: dict[str, deque[Conv]] = field(default_factory=dict)

    def remember(self, conv: Conv, keep: int) -> None:
        self.recent.setdefault(conv.mailbox, deque(maxlen=keep)).append(conv)

    def queue(self, conv: Conv) -> None:
        self.queues.setdefault(conv.mailbox, deque()).append(conv)

    def own(self, agent: str, conv: Conv) -> None:
        self.owned.setdefault(agent, deque()).append(conv)

    def next_owned(self, agent: str) -> Conv | None:
        mine = self.owned.get(agent)
        while mine:
            conv = mine.popleft()
            if conv.assignee == agent and conv.status is Status.OPEN:
                return conv
        return None

    def next_queued(self, mailbox: str) -> Conv | None:
        waiting = self.queues.get(mailbox)
        while waiting:
            conv = waiting.popleft()
            if conv.assignee is None and conv.status is Status.OPEN:
                return conv
        return None
