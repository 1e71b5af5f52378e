"""A day's usage items, gathered from the partitions they are spread over and added up.

Every invocation writes its lines (TOTAL, a mailbox, team and agent line or OVERHEAD, the board) to
one of the day's :data:`~mailroom.table.keys.USAGE_SHARDS` partitions, chosen at random
(:mod:`mailroom.costs.recorder`), so that no partition takes a whole day's writes
(`docs/scale.md`). Reading a day queries the day's own partition (Cost Explorer's ``ACTUAL``, and
days recorded before the counters were sharded) and each shard, at once, and merges the items by
sort key: counters add up; the top-conversations boards merge into one.

Why the merged board is exact: a conversation's weight only grows within a day, and a shard's board
keeps the heaviest conversations recorded on that shard. A conversation among the day's
:data:`~mailroom.costs.recorder.TOP_N` heaviest is at the top of the board of the shard its last
recording went to (fewer than ``TOP_N`` others on that shard can outweigh it), with its final
weight; so the union of the boards, each conversation at its highest weight, cut to the ``TOP_N``
heaviest, is the day's board.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from mailroom.costs.recorder import TOP_N, WEIGHT_PREFIX, board_entries
from mailroom.table import keys, schema
from mailroom.table.client import Table, partition

Item = dict[str, Any]
MAX_ITEMS_PER_PARTITION = 5_000


def read_day_items(table: Table, day: str) -> dict[str, Item]:
    """Every usage item of ``day`` (``yyyy-mm-dd``) by sort key, the shards added up."""
    partitions = keys.usage_day_pks(day)
    with ThreadPoolExecutor(max_workers=len(partitions), thread_name_prefix="usage-day") as pool:
        # Each query in a copy of this context: a meter around the read counts every request.
        found = list(
            pool.map(
                lambda pk: contextvars.copy_context().run(_query, table, pk),
                partitions,
            )
        )
    return merge_day_items(item for items in found for item in items)


def _query(table: Table, pk: str) -> list[Item]:
    return table.query_all(key_condition=partition(pk), max_items=MAX_ITEMS_PER_PARTITION)


def merge_day_items(items: Iterable[Mapping[str, Any]]) -> dict[str, Item]:
    """Items of the same sort key from several partitions as one: numbers add up (counters),
    anything else is kept from the first; boards merge (see the module's docstring)."""
    merged: dict[str, Item] = {}
    boards: dict[str, list[Mapping[str, Any]]] = {}
    for item in items:
        sk = str(item[schema.SK])
        if sk == keys.USAGE_TOP_CONVERSATIONS:
            boards.setdefault(sk, []).append(item)
            continue
        into = merged.setdefault(sk, {})
        for name, value in item.items():
            if name in {schema.PK, schema.SK}:
                into.setdefault(name, value)
            elif _is_number(value) and _is_number(into.get(name, 0)):
                into[name] = into.get(name, Decimal(0)) + value
            else:
                into.setdefault(name, value)
        into[schema.SK] = sk
    for sk, parts in boards.items():
        merged[sk] = merge_boards(parts)
    return merged


def merge_boards(boards: Iterable[Mapping[str, Any]]) -> Item:
    """One board from the shards' boards: each conversation at its highest weight, the heaviest
    :data:`TOP_N` kept (ties by id, as the report sorts them)."""
    weights: dict[str, Decimal] = {}
    first: Mapping[str, Any] = {}
    for board in boards:
        first = first or board
        for conversation_id, weight in board_entries(board).items():
            weights[conversation_id] = max(weight, weights.get(conversation_id, weight))
    kept = sorted(weights, key=lambda c: (-weights[c], c))[:TOP_N]
    return {
        schema.PK: first.get(schema.PK),
        schema.SK: keys.USAGE_TOP_CONVERSATIONS,
        "entity": first.get("entity"),
        "ids": set(kept),
        **{f"{WEIGHT_PREFIX}{c}": weights[c] for c in kept},
    }


def _is_number(value: object) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)
