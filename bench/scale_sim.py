"""Scale on paper, checked by simulation: writes per partition key over a synthetic day.

`python -m bench.scale_sim` simulates a day of 1,000,000 inbound emails and 1,000 agents (see
:class:`bench.scale_traffic.Scenario` for every assumption) through the writes each step of the
product makes, and counts write units per partition key of the table and of every index, per second.
Keys come from the product's key functions (:mod:`mailroom.table.keys`, ``items``, the metrics
rollups, the audit log, the directory), item sizes from items its builders make
(:mod:`bench.scale_items`), so the simulation follows the code.

Every usage write is booked twice, as the counters were (one ``USAGE#<day>`` partition: "before")
and as they are (``keys.USAGE_SHARDS`` partitions: "after"), so the two layouts are compared on the
very same day. It prints the hottest keys against DynamoDB's per-partition limits (1,000 write
units, 3,000 read units per second), the Lambda invocations and concurrency at peak, and the
month's cost from the product's price table. `docs/scale.md` explains the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Any

from bench.scale_items import ItemSizes, measure, units
from bench.scale_ledger import SHADOW, TABLE, Key, Ledger, Peaks
from bench.scale_traffic import SECONDS_PER_DAY, Curve, Dice, Scenario, diurnal
from bench.scale_world import DAY, Conv, IndexKeys, Organisation, Work
from mailroom.api.routes_inbox import POLL_SECONDS
from mailroom.audit.log import day_pk as audit_day_pk
from mailroom.costs.prices import cost_by_service, default_prices
from mailroom.costs.quantities import Q, Usage
from mailroom.costs.recorder import TOP_N
from mailroom.deployment import INGEST, METRICS, REPLY, ROUTE, FunctionSpec
from mailroom.domain.conversation import Status
from mailroom.inbox.directory import DIRECTORY_MAILBOXES, DIRECTORY_USERS, mailbox_directory_key
from mailroom.metrics.model import ALL, Target, TargetKind
from mailroom.metrics.rollups import counter_key, state_key
from mailroom.presence.model import HEARTBEAT_SECONDS, REFRESH_AFTER
from mailroom.table import capacity, keys, schema
from mailroom.table.items import contact_key, conversation_key

BEFORE = f"{SHADOW}table with one usage partition a day"  # the usage writes as they were


@dataclass
class DirectoryCache:
    """The containers of one function, each with its listing of the mailbox directory: a call (on
    a container drawn at random) reads the partition only if that container's listing is older than
    ``seconds``. Its own random numbers: the rest of the day is drawn as without it."""

    containers: int
    seconds: float
    rng: random.Random
    read_at: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self.read_at = [-math.inf] * max(1, self.containers)

    def needs_read(self, at: int) -> bool:
        if self.seconds <= 0:
            return True
        container = self.rng.randrange(len(self.read_at))
        if at - self.read_at[container] < self.seconds:
            return False
        self.read_at[container] = at
        return True


SWEEP_ASSIGNMENTS_PER_SECOND = 20  # the sweep assigns one conversation at a time (a few requests each)
RECENT_PER_MAILBOX = 20_000  # the conversations of a mailbox a follow-up may belong to
AGENT_BYTES = 400  # an agent's item (profile, schedule, skills, open_count)
COUNTER_BYTES = 300  # a metric counter item (docs/metrics.md: 150 to 400 bytes)
WRITE_LIMIT = 1_000  # write units per second, per partition (table or index)
READ_LIMIT = 3_000  # read units per second, per partition
PAGE_ITEMS = 50  # an inbox page reads this many conversations from its index partition
PK, SK = schema.PK, schema.SK

# Measured per-invocation wall time (ms), `python -m bench.costs` run through the handlers on
# DynamoDB Local on the 2-core dev machine, 2026-11-23: GB-seconds per function from the day's
# TOTAL item / invocations / memory. DynamoDB Local answers slower than DynamoDB, so these are
# on the high side for AWS.
MEASURED_MS = {"ingest": 212.0, "route_record": 293.0, "metrics_record": 6.8, "reply": 201.0}
LOG_BYTES_PER_INVOCATION = 1_000  # `bench.costs`: 3,130 log bytes per email over 3.15 invocations
RAW_BYTES = 21_000  # a typical customer mail (text + HTML), as `bench.ingest.typical_message`
SES_OUT_BYTES = 880  # `bench.costs`: bytes per reply sent
SUBJECT_WORDS = 6  # distinct words of a typical subject line ("Export fails at the last step")
WORD_ITEM_BYTES = 150  # WORD#<mailbox>#<word> / <created>#<conversation>: keys and little else
READ_UNITS_UNMODELLED = {"ingest": 2.0, "route_record": 3.0, "page": 8.5, "reply": 10.0}  # bench figures


# -- the events the metrics function counts, and what they add to (docs/metrics.md) -------------------

ME_FIRST, ME_RECEIVED, ME_ROUTED_FIRST, ME_ASSIGNED = "first", "received", "routed_first", "assigned"
ME_AUTO, ME_REOPENED, ME_REPLIED, ME_CLOSED, ME_STATE = "auto", "reopened", "replied", "closed", "state"


def metric_targets(kind: str, team: str | None, tag: str | None, agent: str | None) -> list[Target]:
    scoped = [Target(TargetKind.TEAM, team)] if team else []
    scoped += [Target(TargetKind.TAG, tag)] if tag else []
    person = [Target(TargetKind.AGENT, agent)] if agent else []
    return {
        ME_FIRST: [ALL],
        ME_RECEIVED: [ALL, *scoped],
        ME_ROUTED_FIRST: scoped,
        ME_ASSIGNED: person,
        ME_AUTO: [ALL, *scoped],
        ME_REOPENED: [ALL, *scoped],
        ME_REPLIED: [ALL, *scoped, *person],
        ME_CLOSED: [ALL, *scoped, *person],
    }.get(kind, [])


@dataclass(frozen=True)
class MetricRecord:
    conv: Conv
    kind: str
    team: str | None
    tag: str | None
    agent: str | None
    hour: str


@dataclass
class Totals:
    """What the day asked of AWS, for the cost and the Lambda figures."""

    invocations: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    gb_seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    per_second: defaultdict[str, defaultdict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    emails: int = 0
    ses_out: int = 0
    s3_put: int = 0
    s3_get: int = 0
    read_units_unmodelled: float = 0.0
    replies: int = 0
    claims: int = 0
    heartbeats: int = 0
    polls: int = 0

    def invoked(self, at: int, spec: FunctionSpec, ms: float) -> None:
        self.invocations[spec.key] += 1
        self.gb_seconds[spec.key] += ms / 1000 * spec.memory_mb / 1024
        self.per_second[spec.key][at] += 1


class Simulation:
    def __init__(self, scenario: Scenario, *, sizes: ItemSizes) -> None:
        self.s = scenario
        self.sizes = sizes
        self.dice = Dice(scenario.seed)
        self.curve: Curve = diurnal(scenario)
        self.org = Organisation(scenario, self.curve)
        self.work = Work()
        self.index = IndexKeys()
        self.ledger = Ledger()
        self.totals = Totals()
        self.route_buffer: list[list[tuple[Conv, str]]] = [[] for _ in range(scenario.stream_shards)]
        self.metric_buffer: list[list[MetricRecord]] = [[] for _ in range(scenario.stream_shards)]
        self.boards: dict[str, dict[str, int]] = {}
        self.floors: dict[str, int] = {}
        self.conversations = 0
        self.directory_caches = {
            function: DirectoryCache(
                containers, scenario.directory_cache_seconds, random.Random(scenario.seed + n)
            )
            for n, (function, containers) in enumerate(
                ((INGEST.key, scenario.ingest_containers), (REPLY.key, scenario.api_containers))
            )
        }
        self.directory_units = capacity.read_units(
            sum(sizes.directory_entry(g) for g in self.org.grants.values())
        )
        self.gsi_units = units(sizes.conversation)
        self.contacts = max(1000, scenario.emails_per_day * 3)
        self.registered: set[str] = set()
        self.shards = [keys.usage_day_pk(DAY, shard) for shard in range(keys.USAGE_SHARDS)]
        # Before the shards, every usage line went to the day's own partition: the same writes.
        self.ledger.merge(frozenset(self.shards), space=BEFORE, into=keys.usage_day_pk(DAY))

    # -- the day ------------------------------------------------------------------------------------

    def run(self, start: int = 0, end: int = SECONDS_PER_DAY) -> None:
        """Simulate the seconds ``start`` to ``end`` of the day (the whole day by default)."""
        for second in range(start, end):
            for _ in range(self.dice.poisson(self.curve.rate[second])):
                self.email(second)
            self.agent_actions(second)
            self.inbox_polls(second)
            if second % 60 == 0:
                self.sweep(second)
            self.flush_route(second)
            self.flush_metrics(second)
            self.ledger.close(second)
        for second in range(end, max(self.ledger.writes.pending, default=0) + 1):
            self.ledger.close(second)  # replies booked past the end

    # -- writes ---------------------------------------------------------------------------------------

    def put(self, at: int, key: dict[str, str], size: int, *, tx: bool) -> None:
        """A write of a shared item (a directory entry, an agent, a counter): counted by partition,
        on its own, and with the transactions that touch it."""
        self.ledger.write(at, TABLE, key[PK], units(size, transactional=tx), key[SK])
        if tx:
            self.ledger.transacted(at, key[PK], key[SK])

    def own(self, at: int, conv: Conv, space: str, pk: str, amount: float) -> None:
        """Units on a partition of one conversation's own (counted by key for the sample)."""
        if conv.sampled:
            self.ledger.write(at, space, pk, amount)
        else:
            self.ledger.bulk_write(at, amount)

    def plain(self, at: int, conv: Conv, pk: str, size: int, *, tx: bool = True) -> None:
        """An item of one conversation's own (its messages, events, records, Message-ID entries)."""
        self.own(at, conv, TABLE, pk, units(size, transactional=tx))

    def conversation(
        self, at: int, conv: Conv, before: dict[str, str] | None, *, activity: bool, due_moved: bool = False
    ) -> None:
        """The conversation item (always in a transaction) and what it does to each index: an
        index write per index holding it, a delete plus a put when its key there changes."""
        self.plain(at, conv, conversation_key(conv.id)[PK], self.sizes.conversation)
        after = self.index.of(conv)
        old_keys = before or {}
        for name in old_keys.keys() | after.keys():
            old, new = old_keys.get(name), after.get(name)
            moved = due_moved if name == schema.BY_SLA_DUE.name else activity
            own = name == schema.BY_CONTACT.name and not conv.machine  # a person's: theirs alone
            for pk in (old if old is not None and (old != new or moved) else None, new):
                if pk is not None and own:
                    self.own(at, conv, name, pk, self.gsi_units)
                elif pk is not None:  # a delete (or the old sort key), then a put or an update
                    self.ledger.write(at, name, pk, self.gsi_units)

    def event(self, at: int, conv: Conv, n: int = 1) -> None:
        """Audit events, under the conversation's own partition (``keys.event_sk``)."""
        self.own(
            at, conv, TABLE, keys.conversation_pk(conv.id), n * units(self.sizes.event, transactional=True)
        )

    def contact(self, at: int, conv: Conv) -> None:
        """The contact's counters: a person's are their own; a machine sender's are shared by all
        the mail it sends."""
        key = contact_key(conv.contact)
        if conv.machine:
            self.put(at, key, self.sizes.contact, tx=True)
        else:
            self.plain(at, conv, key[PK], self.sizes.contact)

    def count_conversation(self, at: int, mailbox: str) -> None:
        """The mailbox's conversation count: before, on its directory entry (with the access map)
        at every new conversation; now on one of its small counter items, the entry written only
        by the first (``mailroom.ingest.repository``)."""
        entry = mailbox_directory_key(mailbox)
        size = self.sizes.directory_entry(self.org.grants[mailbox])
        tx = units(size, transactional=True)
        self.ledger.write(at, BEFORE, entry[PK], tx, entry[SK])
        self.ledger.transacted(at, SHADOW + entry[PK], entry[SK])
        if mailbox not in self.registered:
            self.registered.add(mailbox)
            self.put(at, entry, size, tx=True)
            return
        shard = self.dice.below(keys.MAILBOX_COUNTER_SHARDS)
        counter = {PK: keys.mailbox_counter_pk(mailbox), SK: keys.mailbox_counter_sk(shard)}
        self.put(at, counter, COUNTER_BYTES, tx=True)

    def metric(self, conv: Conv, kind: str, at: int, *, agent: str | None = None) -> None:
        hour = f"{DAY}T{min(at, SECONDS_PER_DAY - 1) // 3600:02d}"
        record = MetricRecord(conv, kind, conv.team, conv.tag, agent or conv.assignee, hour)
        self.metric_buffer[conv.shard].append(record)

    # -- reads that land on shared partitions --------------------------------------------------------

    def read_directory(self, at: int, function: str) -> None:
        """``list_mailboxes_cached``: the whole ``DIR#MAILBOX`` partition, eventually consistent,
        when the container's listing is too old (before the cache: on every call, in the shadow)."""
        self.ledger.read(at, BEFORE, DIRECTORY_MAILBOXES, self.directory_units)
        if self.directory_caches[function].needs_read(at):
            self.ledger.read(at, TABLE, DIRECTORY_MAILBOXES, self.directory_units)

    def principal(self, at: int) -> None:
        """Every API request loads the caller's principal: their user item and the directory."""
        self.ledger.read(at, TABLE, DIRECTORY_USERS, 0.5)
        self.read_directory(at, REPLY.key)

    # -- metering (mailroom.costs.metering / recorder) -----------------------------------------------

    def meter(self, at: int, targets: list[tuple[Conv, str | None]]) -> None:
        """What :mod:`mailroom.costs.recorder` writes for one invocation: each conversation's day
        (its own partition), the board while a conversation can climb it, one line per mailbox,
        team and agent named (or the overhead line), and the day's TOTAL, all in one of the day's
        shards. (The ledger adds the shards up for the layout before them; their boards too, which
        writes a little more than one board would.)"""
        day = self.shards[self.dice.below(len(self.shards))]
        write = self.ledger.write
        lines: set[str] = set()
        for conv, agent in targets:
            handed_over = bool(conv.team and conv.untracked)
            self.own(at, conv, TABLE, keys.conversation_usage_pk(conv.id), 1 + handed_over)  # + hand-over
            conv.weight += 1
            conv.untracked = conv.team is None
            self.board(at, day, conv)
            lines.add(keys.USAGE_MAILBOX + conv.mailbox)
            if conv.team:
                lines.add(keys.USAGE_TEAM + conv.team)
            if agent:
                lines.add(keys.USAGE_AGENT + agent)
        for sk in lines or (keys.USAGE_OVERHEAD,):
            write(at, TABLE, day, 1, sk)
        write(at, TABLE, day, 1, keys.USAGE_TOTAL)

    def board(self, at: int, day: str, conv: Conv) -> None:
        """The top-conversations board is written only while a conversation can enter or climb it
        (here with the exact floor; each container's cached floor lags a little, so a bit more)."""
        board = self.boards.setdefault(day, {})
        if conv.id not in board and len(board) >= TOP_N:
            if conv.weight <= self.floors[day]:
                return
            del board[min(board, key=board.__getitem__)]
        board[conv.id] = conv.weight
        if len(board) >= TOP_N:
            self.floors[day] = min(board.values())
        self.ledger.write(at, TABLE, day, 1, keys.USAGE_TOP_CONVERSATIONS)

    # -- ingest ---------------------------------------------------------------------------------------

    def email(self, at: int) -> None:
        self.totals.emails += 1
        mailbox = self.org.mailboxes[self.dice.weighted(self.org.mailbox_odds)]
        machine = self.dice.chance(self.s.machine_share)
        recent = self.work.recent.get(mailbox)
        self.read_directory(at, INGEST.key)  # ingest resolves recipients against the directory
        self.totals.s3_get += 1  # the raw mail
        self.totals.s3_put += 2  # SES's S3 action; the body (typical mail is over the 8 KB inline limit)
        self.totals.read_units_unmodelled += READ_UNITS_UNMODELLED["ingest"]
        if recent and not self.dice.chance(self.s.new_conversation_share):
            conv = recent[self.dice.below(len(recent))]
            self.follow_up(at, conv)
        else:
            conv = self.new_conversation(at, mailbox, machine=machine)
        self.totals.invoked(at, INGEST, MEASURED_MS["ingest"])
        self.meter(at, [(conv, None)])

    def new_conversation(self, at: int, mailbox: str, *, machine: bool) -> Conv:
        self.conversations += 1
        n = self.conversations
        contact = (
            f"noreply{self.dice.below(200):03d}@vendor.example"
            if machine
            else f"customer{self.dice.below(self.contacts)}@example.com"
        )
        conv = Conv(f"c{n:011d}", mailbox, contact, machine=machine, shard=n % self.s.stream_shards)
        self.work.remember(conv, RECENT_PER_MAILBOX)
        self.plain(at, conv, keys.message_id_pk(f"{conv.id}@example.com"), self.sizes.message_id)
        self.conversation(at, conv, None, activity=True)
        self.plain(at, conv, keys.conversation_pk(conv.id), self.sizes.inbound_message)
        self.event(at, conv, 2)  # created, received
        self.contact(at, conv)
        self.count_conversation(at, mailbox)
        self.metric(conv, ME_FIRST, at)
        self.route_buffer[conv.shard].append((conv, "first"))
        return conv

    def follow_up(self, at: int, conv: Conv) -> None:
        before = self.index.of(conv)
        reopened = not conv.machine and conv.status is Status.CLOSED
        if reopened:
            conv.status = Status.OPEN
            if conv.assignee:
                self.put(at, _agent_key(conv.assignee), AGENT_BYTES, tx=True)  # back on its owner's load
        if not conv.machine:
            conv.waiting = True
        self.plain(at, conv, keys.message_id_pk(f"{conv.id}-{at}@example.com"), self.sizes.message_id)
        self.conversation(at, conv, before, activity=True)
        self.plain(at, conv, keys.conversation_pk(conv.id), self.sizes.inbound_message)
        self.event(at, conv, 2 if reopened else 1)
        self.contact(at, conv)
        self.metric(conv, ME_RECEIVED, at)
        if reopened:
            self.metric(conv, ME_REOPENED, at)
            if conv.assignee is None:
                self.work.queue(conv)
        self.route_buffer[conv.shard].append((conv, "reopened" if reopened else "follow"))

    # -- the route function (stream batches of 10 per shard, 1 s window) --------------------------------

    def flush_route(self, second: int) -> None:
        at, size = second + 1, ROUTE.stream.batch_size if ROUTE.stream else 10
        for shard, records in enumerate(self.route_buffer):
            if not records:
                continue
            for start in range(0, len(records), size):
                batch = records[start : start + size]
                for conv, kind in batch:
                    self.route(at, conv, kind)
                self.totals.invoked(at, ROUTE, MEASURED_MS["route_record"] * len(batch))
                self.meter(at, [(conv, None) for conv, _ in batch])
            self.route_buffer[shard] = []

    def route(self, at: int, conv: Conv, kind: str) -> None:
        self.totals.read_units_unmodelled += READ_UNITS_UNMODELLED["route_record"]
        directory = mailbox_directory_key(conv.mailbox)
        grants = self.org.grants[conv.mailbox]
        self.ledger.read(at, TABLE, directory[PK], capacity.read_units(self.sizes.directory_entry(grants)))
        self.plain(at, conv, keys.conversation_pk(conv.id), 150)  # ROUTED#<message key>
        if kind == "reopened":
            before = self.index.of(conv)
            self.conversation(at, conv, before, activity=False, due_moved=True)
            self.event(at, conv)
            self.metric(conv, ME_STATE, at)
            return
        if kind != "first":
            return
        before = self.index.of(conv)
        teams = self.org.serving[conv.mailbox]
        conv.team = teams[self.dice.below(len(teams))]
        conv.tag = self.org.tags[self.dice.weighted(self.org.tag_odds)]
        conv.due = not conv.machine
        self.conversation(at, conv, before, activity=False, due_moved=conv.due)
        self.event(at, conv, 3)  # team_set, tagged, sla_set
        self.metric(conv, ME_ROUTED_FIRST, at)
        if conv.machine:  # nobody is assigned to read an auto-reply: it waits in the queue
            self.work.queue(conv)
            return
        self.assign(at, conv)
        if self.s.auto_ack and conv.mailbox == self.s.busiest_mailbox:
            self.auto_reply(at, conv)

    def assign(self, at: int, conv: Conv) -> bool:
        team = conv.team or ""
        working = self.org.on_shift(team, at)
        self.ledger.read(at, TABLE, keys.team_pk(team), 2.0)  # its members (a consistent query)
        if working == 0:
            self.work.queue(conv)
            return False
        agent = self.org.members[team][self.dice.below(working)]
        before = self.index.of(conv)
        conv.assignee = agent
        self.conversation(at, conv, before, activity=False)
        self.put(at, _agent_key(agent), AGENT_BYTES, tx=True)
        self.event(at, conv)
        self.put(at, {PK: audit_day_pk(DAY), SK: f"{at}#{conv.id}"}, self.sizes.audit_entry, tx=True)
        self.metric(conv, ME_ASSIGNED, at)
        self.work.own(agent, conv)
        return True

    def auto_reply(self, at: int, conv: Conv) -> None:
        slot = {PK: keys.autoreply_pk(conv.mailbox), SK: conv.contact}
        self.ledger.write(at, TABLE, slot[PK], 1)  # one item per sender: the partition, not an item
        self.plain(at, conv, keys.conversation_pk(conv.id), self.sizes.outbound_message)
        self.plain(at, conv, keys.message_id_pk(f"{conv.id}-ack@acme.test"), self.sizes.message_id)
        self.event(at, conv)
        self.metric(conv, ME_AUTO, at)
        self.totals.ses_out += 1
        self.totals.per_second["ses_sending"][at] += 1

    # -- the metrics function (stream batches of 100 per shard, 5 s window) ---------------------------

    def flush_metrics(self, second: int) -> None:
        window = METRICS.stream.batching_window_s if METRICS.stream else 5
        for shard, records in enumerate(self.metric_buffer):
            if not records or ((second + shard) % window and len(records) < 100):
                continue
            for start in range(0, len(records), 100):
                self.metrics_batch(second, records[start : start + 100])
            self.metric_buffer[shard] = []

    def metrics_batch(self, at: int, records: list[MetricRecord]) -> None:
        """One transaction per conversation: its state and the counter items its events add to."""
        by_conversation: dict[str, list[MetricRecord]] = {}
        for record in records:
            by_conversation.setdefault(record.conv.id, []).append(record)
        for group in by_conversation.values():
            conv = group[0].conv
            counters = {
                (target, r.hour) for r in group for target in metric_targets(r.kind, r.team, r.tag, r.agent)
            }
            self.plain(at, conv, state_key(conv.id)[PK], self.sizes.metric_state, tx=bool(counters))
            for target, hour in sorted(counters):
                self.put(at, counter_key(conv.mailbox, target, hour), COUNTER_BYTES, tx=True)
        self.totals.invoked(at, METRICS, MEASURED_MS["metrics_record"] * len(records))
        self.meter(at, [])

    # -- agents ----------------------------------------------------------------------------------------

    def agent_actions(self, second: int) -> None:
        working = self.org.agents_on_shift(second)
        for _ in range(self.dice.poisson(working * self.s.replies_per_agent_hour / 3600)):
            drawn = self.org.random_on_shift(self.dice, second)
            if drawn is not None:
                self.reply_cycle(second, *drawn)

    def reply_cycle(self, at: int, agent: str, team: str) -> None:
        """Open a conversation (one's own, else claim from a queue by replying), keep the page open
        (heartbeats), reply, and maybe close."""
        conv = self.work.next_owned(agent)
        claim = conv is None
        for mailbox in self.org.served[team] if conv is None else []:
            conv = self.work.next_queued(mailbox)
            if conv is not None:
                break
        if conv is None:
            return
        on_page = int(self.s.page_share * 3600 / self.s.replies_per_agent_hour)
        self.page_view(at, conv)
        self.presence(at, conv, on_page)
        before = self.index.of(conv)
        sent = at + on_page
        close = self.dice.chance(self.s.close_on_reply)
        was_held = conv.assignee == agent and conv.status is Status.OPEN
        conv.waiting = False
        conv.assignee = agent
        if close:
            conv.status = Status.CLOSED
        self.reply(sent, conv, agent, before, claim=claim, load_change=close or not was_held)
        self.metric(conv, ME_REPLIED, sent, agent=agent)
        if claim:
            self.metric(conv, ME_ASSIGNED, sent, agent=agent)
            self.totals.claims += 1
        if close:
            self.metric(conv, ME_CLOSED, sent, agent=agent)
        else:
            self.work.own(agent, conv)

    def page_view(self, at: int, conv: Conv) -> None:
        self.principal(at)
        self.totals.read_units_unmodelled += READ_UNITS_UNMODELLED["page"]
        self.totals.s3_get += 1  # the body in the raw store
        self.api(at, [(conv, None)])

    def presence(self, start: int, conv: Conv, seconds: int) -> None:
        """A heartbeat every few seconds while the page is open: a request (metered like any
        other), the presence query, and a put when the stored heartbeat is old enough."""
        refresh = int(REFRESH_AFTER.total_seconds())
        pk = keys.presence_pk(conv.id)
        for offset in range(0, seconds, HEARTBEAT_SECONDS):
            at = start + offset
            self.principal(at)
            if offset % refresh < HEARTBEAT_SECONDS:
                self.own(at, conv, TABLE, pk, 1)
            self.totals.heartbeats += 1
            self.api(at, [(conv, None)])
        self.own(start + seconds, conv, TABLE, pk, 1)  # leaving (``presence_sk(agent)`` deleted)

    def reply(
        self, at: int, conv: Conv, agent: str, before: dict[str, str], *, claim: bool, load_change: bool
    ) -> None:
        self.principal(at)
        self.totals.read_units_unmodelled += READ_UNITS_UNMODELLED["reply"]
        self.totals.replies += 1
        self.totals.ses_out += 1
        self.totals.per_second["ses_sending"][at] += 1
        pk = keys.conversation_pk(conv.id)
        self.plain(at, conv, pk, self.sizes.reply_record)
        self.conversation(at, conv, before, activity=True)
        if load_change:
            self.put(at, _agent_key(agent), AGENT_BYTES, tx=True)
        self.plain(at, conv, pk, self.sizes.outbound_message)
        self.plain(at, conv, keys.message_id_pk(f"{conv.id}-{at}@acme.test"), self.sizes.message_id)
        self.event(at, conv, 1 + (conv.status is Status.CLOSED) + claim)
        self.plain(at, conv, pk, self.sizes.reply_record, tx=False)  # queued -> sending
        self.plain(at, conv, pk, self.sizes.reply_record, tx=False)  # sending -> sent
        self.api(at, [(conv, agent)])

    def api(self, at: int, targets: list[tuple[Conv, str | None]]) -> None:
        self.totals.invoked(at, REPLY, MEASURED_MS["reply"])
        self.meter(at, targets)

    def inbox_polls(self, second: int) -> None:
        """Each open inbox refreshes every ``POLL_SECONDS``: one index partition read per view."""
        working = self.org.agents_on_shift(second)
        rcu = capacity.read_units(PAGE_ITEMS * self.sizes.conversation)
        for _ in range(self.dice.poisson(working * self.s.inbox_tab_share / POLL_SECONDS)):
            drawn = self.org.random_on_shift(self.dice, second)
            if drawn is None:
                continue
            agent, team = drawn
            self.principal(second)
            mailboxes = self.org.served[team] or self.org.mailboxes[:1]
            mailbox = mailboxes[self.dice.below(len(mailboxes))]
            view = self.dice.below(3)
            if view == 0:
                space, pk = (
                    schema.BY_ASSIGNEE_STATUS.name,
                    keys.status_partition(keys.agent_pk(agent), "open"),
                )
            elif view == 1:
                space, pk = schema.BY_QUEUE.name, keys.queue_pk(mailbox)
            else:
                space, pk = schema.BY_TEAM_STATUS.name, keys.status_partition(keys.team_pk(team), "open")
            self.ledger.read(second, space, pk, rcu)
            self.totals.polls += 1
            self.api(second, [])

    def sweep(self, second: int) -> None:
        """The scheduled queue sweep (every minute): queued conversations of teams with someone on
        shift are assigned, at most 50 per mailbox, one after the other."""
        assigned = 0
        for mailbox in self.org.mailboxes:
            self.ledger.read(second, schema.BY_QUEUE.name, keys.queue_pk(mailbox), 8.5)
            for _ in range(50):
                conv = self.work.next_queued(mailbox)
                if conv is None:
                    break
                if not self.assign(second + assigned // SWEEP_ASSIGNMENTS_PER_SECOND, conv):
                    break  # nobody of its team on shift (assign queued it again)
                assigned += 1
        self.totals.invoked(second, ROUTE, MEASURED_MS["route_record"] * max(1, assigned))
        self.meter(second, [])


def _agent_key(agent: str) -> dict[str, str]:
    return {PK: keys.agent_pk(agent), SK: keys.META}


# -- figures ----------------------------------------------------------------------------------------


def key_row(ledger_key: Key, peaks: Peaks, limit: int, *, item: bool = False) -> dict[str, Any]:
    at = peaks.second_at[ledger_key]
    peak = peaks.second[ledger_key]
    first = ledger_key[0].removeprefix(SHADOW)
    named = (
        {"item": f"{first} / {ledger_key[1]}"}
        if item
        else {"space": TABLE if ledger_key[0] == BEFORE else first, "key": ledger_key[1]}
    )
    return {
        **named,
        "peak_per_second": round(peak, 1),
        "peak_minute_mean_per_second": round(peaks.minute.get(ledger_key, 0.0), 1),
        "at": clock_time(at),
        "share_of_limit": f"{peak / limit:.0%}",
    }


def clock_time(second: int) -> str:
    return f"{second // 3600 % 24:02d}:{second % 3600 // 60:02d}:{second % 60:02d}"


SHARDED_USAGE = frozenset(keys.usage_day_pk(DAY, shard) for shard in range(keys.USAGE_SHARDS))
COUNTERS = keys.mailbox_counter_pk("")


def after_only(pk: str) -> bool:
    """Partitions only the product as it is now writes: the day's usage shards, mailbox counters."""
    return pk in SHARDED_USAGE or pk.startswith(COUNTERS)


def in_layout(layout: str) -> Callable[[Key], bool]:
    """Which booked keys belong to a layout: "after" is what the product writes now; "before" has
    the usage lines in one partition a day and the conversation counts on the directory entries
    (both booked in the shadow space) instead."""
    if layout == "after":
        return lambda key: key[0] != BEFORE
    # (the directory entry's registrations are in the shadow space too: every conversation wrote it)
    return lambda key: key[0] == BEFORE or not (after_only(key[1]) or key == (TABLE, DIRECTORY_MAILBOXES))


def item_in_layout(layout: str) -> Callable[[Key], bool]:
    if layout == "after":
        return lambda key: not key[0].startswith(SHADOW)
    return lambda key: key[0].startswith(SHADOW) or not (after_only(key[0]) or key[0] == DIRECTORY_MAILBOXES)


def hottest(sim: Simulation, layout: str, n: int) -> dict[str, Any]:
    writes, reads = sim.ledger.writes.peaks, sim.ledger.reads.peaks
    items, txs = sim.ledger.items.peaks, sim.ledger.transactions.peaks
    keep, keep_item = in_layout(layout), item_in_layout(layout)
    by_space: dict[str, list[dict[str, Any]]] = {}
    for space in (TABLE, *(index.name for index in schema.INDEXES)):
        spaces = {space, BEFORE} if space == TABLE else {space}
        chosen = writes.hottest(n, lambda k, s=spaces: k[0] in s and keep(k))  # type: ignore[misc]
        by_space[space] = [key_row(k, writes, WRITE_LIMIT) for k, _ in chosen]
    return {
        "write_units_by_partition": by_space,
        "write_units_by_item": [
            key_row(k, items, WRITE_LIMIT, item=True) for k, _ in items.hottest(n, keep_item)
        ],
        "transactions_by_item": [
            {
                "item": f"{k[0].removeprefix(SHADOW)} / {k[1]}",
                "peak_per_second": v,
                "peak_minute_mean_per_second": round(txs.minute.get(k, 0.0), 1),
            }
            for k, v in txs.hottest(n, keep_item)
        ],
        "read_units_by_partition": [key_row(k, reads, READ_LIMIT) for k, _ in reads.hottest(n, keep)],
    }


def volumes(sim: Simulation) -> dict[str, Any]:
    arrivals = sim.totals.per_second["ingest"]
    rate = sim.curve.rate
    busiest = max(range(24), key=lambda h: sum(rate[h * 3600 : (h + 1) * 3600]))
    peak_hour = sum(arrivals.get(s, 0) for s in range(busiest * 3600, busiest * 3600 + 3600)) / 3600
    peak_second = max(arrivals, key=lambda s: arrivals[s], default=0)
    return {
        "emails": sim.totals.emails,
        "mean_emails_per_second": round(sim.totals.emails / SECONDS_PER_DAY, 2),
        "busiest_hour_utc": f"{busiest:02d}:00",
        "busiest_hour_emails_per_second": round(peak_hour, 1),
        "burst_window_utc": f"{clock_time(sim.curve.burst_start)} for {sim.s.burst_seconds} s",
        "peak_second_emails": arrivals.get(peak_second, 0),
        "ses_sent": sim.totals.ses_out,
        "ses_sending_peak_per_second": max(sim.totals.per_second["ses_sending"].values(), default=0),
        "stream_shards_assumed": sim.s.stream_shards,
        "peak_second_at": clock_time(peak_second),
        "conversations": sim.conversations,
        "replies": sim.totals.replies,
        "claimed_by_replying": sim.totals.claims,
        "heartbeats": sim.totals.heartbeats,
        "inbox_polls": sim.totals.polls,
        "agents_on_shift_at_peak": sim.org.agents_on_shift(int(sim.s.peak_hour_utc * 3600)),
        "write_units_per_day": round(sim.ledger.day_total(sim.ledger.writes)),
        "write_units_peak_second": round(max(sim.ledger.writes.per_second_total)),
        "read_units_peak_second_modelled": round(max(sim.ledger.reads.per_second_total)),
    }


def lambdas(sim: Simulation) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for spec in (INGEST, ROUTE, METRICS, REPLY):
        invocations = sim.totals.invocations[spec.key]
        per_second = sim.totals.per_second[spec.key]
        busiest = max(per_second, key=lambda s: per_second[s], default=0)
        mean_ms = sim.totals.gb_seconds[spec.key] * 1024 / spec.memory_mb / max(1, invocations) * 1000
        peak = per_second.get(busiest, 0)
        result[spec.key] = {
            "invocations_per_day": invocations,
            "peak_invocations_per_second": peak,
            "peak_at": clock_time(busiest),
            "mean_ms": round(mean_ms, 1),
            "concurrency_at_peak": math.ceil(peak * mean_ms / 1000),
            "gb_seconds_per_day": round(sim.totals.gb_seconds[spec.key]),
        }
    return result


def day_usage(sim: Simulation) -> Usage:
    """The day's quantities, as the product's metering records them, for its price table."""
    t = sim.totals
    invocations = sum(t.invocations.values())
    reads = sim.ledger.day_total(sim.ledger.reads) + t.read_units_unmodelled
    return Usage(
        {
            Q.LAMBDA_REQUESTS: invocations,
            Q.LAMBDA_GB_SECONDS: Decimal(str(round(sum(t.gb_seconds.values()), 3))),
            Q.DDB_WRITE_UNITS: Decimal(round(sim.ledger.day_total(sim.ledger.writes))),
            Q.DDB_READ_UNITS: Decimal(round(reads)),
            Q.SES_IN_MESSAGES: t.emails,
            Q.SES_IN_CHUNKS: t.emails,
            Q.SES_OUT_MESSAGES: t.ses_out,
            Q.SES_OUT_BYTES: t.ses_out * SES_OUT_BYTES,
            Q.S3_PUT_REQUESTS: t.s3_put,
            Q.S3_GET_REQUESTS: t.s3_get,
            Q.S3_BYTES: t.emails * RAW_BYTES * 2,  # the raw mail and its body document
            Q.API_REQUESTS: t.invocations[REPLY.key],
            Q.LOG_BYTES: invocations * LOG_BYTES_PER_INVOCATION,
        }
    )


def monthly_cost(sim: Simulation, days: int = 30) -> dict[str, Any]:
    """The day's usage priced by the product's built-in price table, times ``days``."""
    usage = day_usage(sim)
    by_service = cost_by_service(usage, default_prices("us-east-1"))
    month = {service.value: amount * days for service, amount in by_service.items()}
    total = sum(month.values(), Decimal(0))
    prices = default_prices("us-east-1")
    word_units = sim.conversations * SUBJECT_WORDS * units(WORD_ITEM_BYTES, transactional=True) * days
    word_index = cost_by_service(Usage({Q.DDB_WRITE_UNITS: word_units}), prices)
    return {
        "days": days,
        "prices": "built-in price table (mailroom/costs/prices.py), us-east-1",
        "subject_word_index_option": {
            "write_units": word_units,
            "usd": f"{sum(word_index.values(), Decimal(0)):.2f}",
            "assumes": f"{SUBJECT_WORDS} words per new conversation, an item each in ingest's transaction",
        },
        "by_service_usd": {k: f"{v:.2f}" for k, v in sorted(month.items(), key=lambda kv: -kv[1])},
        "total_usd": f"{total:.2f}",
        "per_1000_emails_usd": f"{total / (max(1, sim.totals.emails) * days) * 1000:.4f}",
        "day_quantities": {q.value: str(v) for q, v in usage.items()},
    }


def simulate(scenario: Scenario, *, top: int = 8, hours: tuple[int, int] = (0, 24)) -> dict[str, Any]:
    """The day (or its ``hours``, UTC, from and to) and its figures."""
    started = time.perf_counter()
    sizes = measure()
    sim = Simulation(scenario, sizes=sizes)
    sim.run(hours[0] * 3600, hours[1] * 3600)
    return {
        "scenario": {f.name: getattr(scenario, f.name) for f in fields(scenario)},
        "item_bytes": {
            **sizes.__dict__,
            "directory_entries": {m: sizes.directory_entry(g) for m, g in sorted(sim.org.grants.items())[:2]},
        },
        "limits": {"write_units_per_partition": WRITE_LIMIT, "read_units_per_partition": READ_LIMIT},
        "usage_partitions": {"before": 1, "after": keys.USAGE_SHARDS},
        "hours_simulated_utc": f"{hours[0]:02d}:00-{hours[1]:02d}:00",
        "volumes": volumes(sim),
        "before": hottest(sim, "before", top),
        "after": hottest(sim, "after", top),
        "lambda": lambdas(sim),
        "monthly_cost": monthly_cost(sim),
        "seconds": round(time.perf_counter() - started, 1),
    }


def run(scale: float = 1.0, top: int = 8, hours: tuple[int, int] = (0, 24)) -> dict[str, Any]:
    """The day at ``scale`` of the default volume and agents (1.0: a million emails, 1,000 agents).
    The day's totals (cost, invocations) cover only the ``hours`` simulated."""
    base = Scenario()
    scenario = replace(
        base,
        emails_per_day=int(base.emails_per_day * scale),
        agents=max(base.teams, int(base.agents * scale)),
    )
    return simulate(scenario, top=top, hours=hours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the day's volume and agents")
    parser.add_argument("--top", type=int, default=8, help="hottest keys listed per space")
    parser.add_argument("--hours", default="0-24", help="UTC hours to simulate, e.g. 12-17 (peaks only)")
    arguments = parser.parse_args()
    first, _, last = str(arguments.hours).partition("-")
    json.dump(run(arguments.scale, arguments.top, (int(first), int(last))), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
