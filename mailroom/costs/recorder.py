"""Writing an invocation's usage: a few atomic counter updates (``UpdateItem ... ADD``).

Items (quantities only, never money; see :class:`~mailroom.costs.quantities.Q`):

* ``USAGE#<day>#<shard>`` / ``TOTAL``: everything of the day, invocations and GB-seconds per
  function (``fn_<function>_n``, ``fn_<function>_gbs``) and the metering's own usage (``m_*``).
  A day's lines are spread over ``keys.USAGE_SHARDS`` partitions: an invocation writes all its
  lines to one shard, chosen at random (:attr:`UsagePlan.shard`), and a reader adds the shards
  up (:mod:`mailroom.costs.day_items`). At a million emails a day, one partition would take
  hundreds of writes a second on its TOTAL item alone (`docs/scale.md`).
* ``USAGE#<day>#<shard>`` / ``MAILBOX#<address>``, ``TEAM#<id>``, ``AGENT#<email>``: attributed work.
* ``USAGE#<day>#<shard>`` / ``OVERHEAD``: work nobody was named for.
* ``USAGE#CONV#<id>`` / ``DAY#<day>``: one conversation's day (with its mailbox and team). Usage
  recorded while the conversation has no team yet (its first ingest: routing names the team) is
  also kept as ``n_*`` there, and the first recording that knows the team hands it over to the
  team's line (one conditional write), so per-team figures include the mail that opened the
  conversation.
* ``USAGE#<day>#<shard>`` / ``TOPCONV``: the shard's :data:`TOP_N` costliest conversations, as
  ranking weights (estimated micro-dollars at the built-in prices); the report merges the shards'
  boards and prices them exactly from their own items. It is written only while a conversation
  can enter or climb the board: once full, a conversation at or below its lowest weight (cached
  per container and shard; weights only grow within a day, so a cached floor is never too high)
  costs no write.

Every item stays well under 1 KB, so each update costs one write unit.
"""

from __future__ import annotations

import functools
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from mailroom.costs.prices import cost_of, default_prices
from mailroom.costs.quantities import METERING_PREFIX, Usage
from mailroom.observability import logger
from mailroom.table import keys, schema
from mailroom.table.client import Condition, ConditionFailedError, Table
from mailroom.usage import Attribution

TOP_N = 20
USAGE_ENTITY = "usage"
CONVERSATION_USAGE_ENTITY = "conversation_usage"
BOARD_ENTITY = "usage_top"
WEIGHT_PREFIX = "w_"
MICRO = Decimal(1_000_000)

NO_TEAM_PREFIX = "n_"  # on a conversation's day: usage recorded before its team was known

Task = Callable[[], object]
Runner = Callable[[list[Task]], list[object]]


def _one_by_one(tasks: list[Task]) -> list[object]:
    return [task() for task in tasks]


def random_shard() -> int:
    """The day's usage partition an invocation writes to (any one: readers add them all up)."""
    return secrets.randbelow(keys.USAGE_SHARDS)


@dataclass
class UsagePlan:
    """One invocation's usage, aggregated per item to write."""

    day: str
    function: str
    invocation_gb_seconds: Decimal
    shard: int = field(default_factory=random_shard)
    total: Usage = field(default_factory=Usage)
    overhead: Usage = field(default_factory=Usage)
    mailboxes: dict[str, Usage] = field(default_factory=dict)
    teams: dict[str, Usage] = field(default_factory=dict)
    agents: dict[str, Usage] = field(default_factory=dict)
    conversations: dict[str, tuple[Attribution, Usage]] = field(default_factory=dict)

    def add(self, target: Attribution | None, usage: Usage) -> None:
        self.total = self.total + usage
        if target is None:
            self.overhead = self.overhead + usage
            return
        _add(self.mailboxes, target.mailbox, usage)
        if target.team:
            _add(self.teams, target.team, usage)
        if target.agent:
            _add(self.agents, target.agent.lower(), usage)
        known = self.conversations.get(target.conversation_id)
        self.conversations[target.conversation_id] = (
            target if known is None else _merged(known[0], target),
            usage if known is None else known[1] + usage,
        )


def _add(into: dict[str, Usage], key: str, usage: Usage) -> None:
    into[key] = into.get(key, Usage()) + usage


def _merged(a: Attribution, b: Attribution) -> Attribution:
    return Attribution(a.conversation_id, a.mailbox, a.team or b.team, a.agent or b.agent)


class _Floors:
    """The lowest weight on each day's full board (per table), as last seen by this container."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._floors: dict[str, Decimal] = {}

    def get(self, key: str) -> Decimal | None:
        with self._lock:
            return self._floors.get(key)

    def raise_to(self, key: str, floor: Decimal) -> None:
        """``key``: ``<table>/<day's partition>``. Only recent days matter: old entries are dropped."""
        with self._lock:
            if len(self._floors) > 64:
                self._floors = {}
            self._floors[key] = max(floor, self._floors.get(key, floor))


FLOORS = _Floors()


class UsageRecorder:
    def __init__(self, table: Table, *, region: str) -> None:
        self.table = table
        self.weights_prices = default_prices(region)

    def write_dimensions(self, plan: UsagePlan, *, run: Runner | None = None) -> None:
        """Every item but the day's TOTAL (which is written last, with the metering's figures).
        First each conversation's day (and board), which may hand over the usage recorded before its
        team was known; then the mailbox, team, agent and overhead lines. The writes of each phase
        are independent of each other: ``run`` may make them concurrently."""
        runner = run or _one_by_one
        day_pk = keys.usage_day_pk(plan.day, plan.shard)
        handed_over = runner(
            [
                functools.partial(self._conversation_and_board, plan.day, day_pk, attribution, usage)
                for attribution, usage in plan.conversations.values()
            ]
        )
        teams = dict(plan.teams)
        for moved in handed_over:
            if isinstance(moved, tuple):
                _add(teams, moved[0], moved[1])
        tasks: list[Task] = []
        for prefix, dimension in (
            (keys.USAGE_MAILBOX, plan.mailboxes),
            (keys.USAGE_TEAM, teams),
            (keys.USAGE_AGENT, plan.agents),
        ):
            for name, usage in dimension.items():
                fields = {"dimension": prefix[:-1], "name": name}
                tasks.append(
                    functools.partial(
                        self._add, (day_pk, f"{prefix}{name}"), plan.day, usage.attributes(), fields
                    )
                )
        if plan.overhead:
            fields = {"dimension": "OVERHEAD"}
            tasks.append(
                functools.partial(
                    self._add, (day_pk, keys.USAGE_OVERHEAD), plan.day, plan.overhead.attributes(), fields
                )
            )
        runner(tasks)

    def _conversation_and_board(
        self, day: str, day_pk: str, attribution: Attribution, usage: Usage
    ) -> tuple[str, Usage] | None:
        item = self._conversation(day, attribution, usage)
        self._board(day_pk, attribution.conversation_id, Usage.from_item(item))
        if attribution.team:
            return self._hand_over(day, attribution, item)
        return None

    def _hand_over(
        self, day: str, attribution: Attribution, item: Mapping[str, Any]
    ) -> tuple[str, Usage] | None:
        """The conversation's usage of the day from before its team was known (ingest comes before
        routing names the team), taken off its ``n_*`` attributes to be added to the team's line.
        Conditional on those figures being what we read, so a concurrent recording is never counted
        twice (it is handed over by the next recording instead)."""
        untracked = Usage.from_item(item, NO_TEAM_PREFIX)
        if not untracked:
            return None
        names = {f"#n{i}": f"{NO_TEAM_PREFIX}{q.value}" for i, (q, _) in enumerate(untracked.items())}
        values = {f":n{i}": v for i, (_, v) in enumerate(untracked.items())}
        try:
            self.table.update(
                {
                    schema.PK: keys.conversation_usage_pk(attribution.conversation_id),
                    schema.SK: keys.conversation_usage_sk(day),
                },
                Condition("REMOVE " + ", ".join(names), names, {}),
                Condition(" AND ".join(f"{n} = {n.replace('#', ':')}" for n in names), {}, values),
            )
        except ConditionFailedError:
            return None
        return str(attribution.team), untracked

    def write_total(self, plan: UsagePlan, metering: Usage) -> None:
        counters: dict[str, Decimal] = {
            **plan.total.attributes(),
            **metering.attributes(METERING_PREFIX),
            f"fn_{plan.function}_n": Decimal(1),
            f"fn_{plan.function}_gbs": plan.invocation_gb_seconds,
        }
        key = (keys.usage_day_pk(plan.day, plan.shard), keys.USAGE_TOTAL)
        self._add(key, plan.day, counters, {"dimension": "TOTAL"})

    # -- items --------------------------------------------------------------------------------------

    def _add(
        self, key: tuple[str, str], day: str, counters: Mapping[str, Decimal], fields: Mapping[str, Any]
    ) -> dict[str, Any]:
        names: dict[str, str] = {"#entity": "entity", "#day": "day"}
        values: dict[str, Any] = {":entity": fields.get("entity", USAGE_ENTITY), ":day": day}
        sets = ["#entity = :entity", "#day = if_not_exists(#day, :day)"]
        for index, (name, value) in enumerate(sorted(fields.items())):
            if name == "entity" or value is None:
                continue
            names[f"#s{index}"] = name
            values[f":s{index}"] = value
            sets.append(f"#s{index} = :s{index}")
        adds = []
        for index, (name, value) in enumerate(sorted(counters.items())):
            if value:
                names[f"#a{index}"] = name
                values[f":a{index}"] = value
                adds.append(f"#a{index} :a{index}")
        expression = "SET " + ", ".join(sets) + (" ADD " + ", ".join(adds) if adds else "")
        return self.table.update({schema.PK: key[0], schema.SK: key[1]}, Condition(expression, names, values))

    def _conversation(self, day: str, attribution: Attribution, usage: Usage) -> dict[str, Any]:
        counters = usage.attributes()
        if not attribution.team:  # kept apart too, for the team once it is known
            counters |= usage.attributes(NO_TEAM_PREFIX)
        return self._add(
            (keys.conversation_usage_pk(attribution.conversation_id), keys.conversation_usage_sk(day)),
            day,
            counters,
            {
                "entity": CONVERSATION_USAGE_ENTITY,
                "conversation_id": attribution.conversation_id,
                "mailbox": attribution.mailbox,
                "team": attribution.team,
            },
        )

    def weight(self, usage: Usage) -> Decimal:
        """Ranking weight: estimated micro-dollars at the built-in prices, to 3 decimals."""
        return (cost_of(usage, self.weights_prices) * MICRO).quantize(Decimal("0.001"))

    def _board(self, day_pk: str, conversation_id: str, day_usage: Usage) -> None:
        """``day_pk``: the day's partition this invocation writes to (each shard has its board)."""
        weight = self.weight(day_usage)
        floor_key = f"{self.table.name}/{day_pk}"
        floor = FLOORS.get(floor_key)
        if weight <= 0 or (floor is not None and weight <= floor):
            return
        key = {schema.PK: day_pk, schema.SK: keys.USAGE_TOP_CONVERSATIONS}
        entry = f"{WEIGHT_PREFIX}{conversation_id}"
        names = {"#w": entry, "#ids": "ids", "#ver": "ver", "#entity": "entity"}
        try:
            board = self.table.update(
                key,
                Condition(
                    "SET #w = :w, #entity = :entity ADD #ids :id, #ver :one",
                    names,
                    {":w": weight, ":id": {conversation_id}, ":one": 1, ":entity": BOARD_ENTITY},
                ),
                Condition(
                    "(attribute_exists(#w) AND #w < :w) OR (attribute_not_exists(#w) AND "
                    "(attribute_not_exists(#ids) OR size(#ids) < :max))",
                    {},
                    {":max": TOP_N},
                ),
            )
        except ConditionFailedError as refused:
            board = refused.item or {}
            if entry in board or len(_entries(board)) < TOP_N:
                return  # it climbed elsewhere meanwhile, or the board changed: next time
            self._replace_lowest(key, board, conversation_id, weight)
            return
        if len(_entries(board)) >= TOP_N:
            FLOORS.raise_to(floor_key, min(_entries(board).values()))

    def _replace_lowest(
        self, key: dict[str, str], board: dict[str, Any], conversation_id: str, weight: Decimal
    ) -> None:
        entries = _entries(board)
        lowest = min(entries, key=lambda cid: (entries[cid], cid))
        day = f"{self.table.name}/{key[schema.PK]}"
        if weight <= entries[lowest]:
            FLOORS.raise_to(day, entries[lowest])
            return
        remaining = {cid: w for cid, w in entries.items() if cid != lowest}
        try:
            self.table.update(
                key,
                Condition(
                    "REMOVE #old SET #w = :w, #ids = :ids ADD #ver :one",
                    {
                        "#old": f"{WEIGHT_PREFIX}{lowest}",
                        "#w": f"{WEIGHT_PREFIX}{conversation_id}",
                        "#ids": "ids",
                        "#ver": "ver",
                    },
                    {":w": weight, ":ids": {*remaining, conversation_id}, ":one": 1},
                ),
                Condition("#ver = :seen", {}, {":seen": board.get("ver", 0)}),
            )
        except ConditionFailedError:
            logger.debug("cost board changed meanwhile; ranking left as is", day=day)
            return
        FLOORS.raise_to(day, min([*remaining.values(), weight]))


def _entries(board: Mapping[str, Any]) -> dict[str, Decimal]:
    return {
        name.removeprefix(WEIGHT_PREFIX): Decimal(str(value))
        for name, value in board.items()
        if name.startswith(WEIGHT_PREFIX)
    }


def board_entries(board: Mapping[str, Any]) -> dict[str, Decimal]:
    """A TOPCONV item's conversations and their ranking weights."""
    return _entries(board)
