"""Counting capacity units per partition key, per second, over a simulated day.

A *space* is the base table (``table``) or one global secondary index (its name). Writes to the
partitions of a single conversation (its items, its usage day, its metric state, its presence, its
Message-ID entries, a person's contact) are counted by key only for a sample of conversations
(their peaks are that conversation's own activity) and otherwise in bulk, for the totals. Writes may be
booked ahead of the clock (a reply lands minutes after the page opened); when a second is closed
its counts are folded into the peaks (per second, and the highest one-minute mean) and the day's
totals. Shared items of the base table are counted one by one too: an item can never be split
over partitions, so its own rate is the hard ceiling; and the transactions that touch one item at
once are what makes DynamoDB cancel them (``TransactionConflict``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

TABLE = "table"
SHADOW = "shadow: "  # a space booked beside the real ones for comparison, left out of every total
Key = tuple[str, str]  # (space, partition key), or (partition key, sort key) for items


@dataclass
class Peaks:
    """The highest per-second count of each key, when it happened, and the highest minute mean."""

    second: dict[Key, float] = field(default_factory=dict)
    second_at: dict[Key, int] = field(default_factory=dict)
    minute: dict[Key, float] = field(default_factory=dict)
    total: dict[Key, float] = field(default_factory=dict)

    def hottest(self, n: int, keep: Callable[[Key], bool]) -> list[tuple[Key, float]]:
        chosen = [(k, v) for k, v in self.second.items() if keep(k)]
        return sorted(chosen, key=lambda kv: (-kv[1], kv[0]))[:n]

    def keyed_total(self) -> float:
        return sum(v for k, v in self.total.items() if not k[0].startswith(SHADOW))


class Counts:
    """One measure (write units, read units, transactions) booked per second and folded."""

    def __init__(self) -> None:
        self.pending: defaultdict[int, defaultdict[Key, float]] = defaultdict(lambda: defaultdict(float))
        self.bulk: defaultdict[int, float] = defaultdict(float)  # not counted by key
        self.bulk_total = 0.0
        self.this_minute: dict[Key, float] = {}
        self.peaks = Peaks()
        self.per_second_total: list[float] = []

    def book(self, at: int, key: Key, amount: float) -> None:
        self.pending[at][key] += amount

    def close(self, at: int) -> None:
        counts: dict[Key, float] = self.pending.pop(at, {})
        peaks, minute = self.peaks, self.this_minute
        second, second_at, total = peaks.second, peaks.second_at, peaks.total
        for key, value in counts.items():
            if value > second.get(key, 0.0):
                second[key] = value
                second_at[key] = at
            total[key] = total.get(key, 0.0) + value
            minute[key] = minute.get(key, 0.0) + value
        bulk = self.bulk.pop(at, 0.0)
        self.bulk_total += bulk
        self.per_second_total.append(bulk + sum(v for k, v in counts.items() if not k[0].startswith(SHADOW)))
        if at % 60 == 59:
            best = peaks.minute
            for key, value in minute.items():
                if value / 60.0 > best.get(key, 0.0):
                    best[key] = value / 60.0
            self.this_minute = {}


class Ledger:
    """Write units by partition key (table and every index), by shared table item, transactions by
    shared item, and read units by partition key."""

    def __init__(self) -> None:
        self.writes = Counts()
        self.items = Counts()
        self.transactions = Counts()
        self.reads = Counts()
        self.merged: tuple[frozenset[str], str, str] | None = None

    def merge(self, sources: frozenset[str], *, space: str, into: str) -> None:
        """Also count the writes to the ``sources`` partitions as if they all went to ``into`` (in a
        shadow ``space``): what one partition would take instead of several."""
        self.merged = (sources, space, into)

    def write(self, at: int, space: str, pk: str, units: float, sk: str | None = None) -> None:
        """``sk`` names a shared item, counted on its own as well."""
        self.writes.pending[at][(space, pk)] += units
        if sk is not None:
            shadow = space.startswith(SHADOW)
            self.items.pending[at][(SHADOW + pk if shadow else pk, sk)] += units

    def bulk_write(self, at: int, units: float) -> None:
        """Write units to partitions not counted by key (those of an unsampled conversation)."""
        self.writes.bulk[at] += units

    def bulk_read(self, at: int, units: float) -> None:
        self.reads.bulk[at] += units

    def transacted(self, at: int, pk: str, sk: str) -> None:
        self.transactions.pending[at][(pk, sk)] += 1

    def read(self, at: int, space: str, pk: str, units: float) -> None:
        self.reads.pending[at][(space, pk)] += units

    def close(self, at: int) -> None:
        items = self.items.pending.get(at)
        if self.merged is not None and items:
            sources, space, into = self.merged
            writes = self.writes.pending[at]
            for (pk, sk), value in list(items.items()):
                if pk in sources:
                    items[(SHADOW + into, sk)] += value
                    writes[(space, into)] += value
        for counts in (self.writes, self.items, self.transactions, self.reads):
            counts.close(at)

    def day_total(self, counts: Counts) -> float:
        return counts.peaks.keyed_total() + counts.bulk_total
