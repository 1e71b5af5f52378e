"""The synthetic day of the scale simulation: volumes, the diurnal curve, staffing, randomness.

Every assumption is a field of :class:`Scenario`, so `docs/scale.md` can state them and a run can
change them (`python -m bench.scale_sim --help`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from itertools import accumulate

SECONDS_PER_DAY = 86_400
SPREAD_HOURS = 2.5  # width (standard deviation) of the day's traffic hump


@dataclass(frozen=True)
class Scenario:
    emails_per_day: int = 1_000_000
    agents: int = 1_000
    mailboxes: int = 50
    busiest_share: float = 0.60  # support@ takes this share of all inbound mail
    teams: int = 20  # of agents / teams members each
    busiest_teams: int = 8  # rules spread support@'s mail over this many teams
    tags: int = 10  # rules tag each conversation with one of these (Zipf-weighted)
    peak_to_mean: float = 3.0  # the busiest hour's rate over the day's mean rate
    peak_hour_utc: float = 15.0
    burst_factor: float = 2.0  # a burst inside the peak hour runs at this multiple of the curve
    burst_seconds: int = 300
    new_conversation_share: float = 0.6  # the rest are follow-ups in existing conversations
    machine_share: float = 0.25  # auto-replies, bounces, bulk: routed and tagged, never assigned
    auto_ack: bool = True  # support@ acknowledges new conversations from people (RFC 3834)
    peak_staffing: float = 0.6  # share of the agents on shift in the peak hour
    replies_per_agent_hour: float = 20.0
    close_on_reply: float = 0.6  # replies that also close the conversation
    page_share: float = 0.9  # share of an agent's time with a conversation page open (heartbeats)
    inbox_tab_share: float = 0.5  # on-shift agents with an inbox tab polling
    stream_shards: int = 24  # DynamoDB stream shards (about one per table partition)
    # The API and ingest reuse a container's listing of the mailbox directory this long
    # (MAILROOM_DIRECTORY_CACHE_SECONDS in infra/config.py); warm containers each function keeps at
    # peak (more than its peak concurrency: more containers, more listings).
    directory_cache_seconds: float = 5.0
    api_containers: int = 60
    ingest_containers: int = 30
    seed: int = 20261123

    @property
    def busiest_mailbox(self) -> str:
        return "support@acme.test"

    def mailbox_names(self) -> list[str]:
        return [self.busiest_mailbox, *(f"box{n:02d}@acme.test" for n in range(1, self.mailboxes))]

    def mailbox_weights(self) -> list[float]:
        """support@ takes ``busiest_share``; the others share the rest by Zipf's law."""
        rest = [1.0 / n for n in range(1, self.mailboxes)]
        scale = (1.0 - self.busiest_share) / sum(rest) if rest else 0.0
        return [self.busiest_share, *(w * scale for w in rest)]


def zipf_weights(n: int) -> list[float]:
    return [1.0 / k for k in range(1, n + 1)]


@dataclass(frozen=True)
class Curve:
    """Expected inbound emails in each second of the day, and agents on shift."""

    rate: list[float]  # emails per second, by second of the day
    staffing: list[float]  # share of agents on shift, by second
    burst_start: int

    @property
    def mean(self) -> float:
        return sum(self.rate) / len(self.rate)

    def hourly(self) -> list[float]:
        """Mean rate of each hour."""
        return [sum(self.rate[h * 3600 : (h + 1) * 3600]) / 3600 for h in range(24)]


def diurnal(scenario: Scenario) -> Curve:
    """A floor plus one Gaussian hump around the peak hour, scaled so that the busiest hour runs at
    ``peak_to_mean`` times the mean; then a burst window inside the peak hour; then rescaled so the
    day holds ``emails_per_day``."""
    hump = [_hump(s, scenario.peak_hour_utc) for s in range(SECONDS_PER_DAY)]
    hump_mean = sum(hump) / len(hump)
    # (floor + 1) / (floor + hump_mean) = peak_to_mean, for the top of the hump.
    target = scenario.peak_to_mean
    floor = max(0.0, (1.0 - target * hump_mean) / (target - 1.0)) if target > 1 else 1.0
    shape = [floor + h for h in hump]
    top = max(shape)
    staffing = [min(1.0, scenario.peak_staffing * v / top) for v in shape]
    burst_start = int(scenario.peak_hour_utc * 3600) - scenario.burst_seconds // 2
    for s in range(burst_start, burst_start + scenario.burst_seconds):
        shape[s % SECONDS_PER_DAY] *= scenario.burst_factor
    scale = scenario.emails_per_day / sum(shape)
    return Curve(rate=[v * scale for v in shape], staffing=staffing, burst_start=burst_start)


def _hump(second: int, peak_hour: float) -> float:
    hours = second / 3600.0
    distance = min(abs(hours - peak_hour), 24.0 - abs(hours - peak_hour))
    return math.exp(-(distance**2) / (2 * SPREAD_HOURS**2))


class Dice:
    """The simulation's randomness (seeded: a run is repeatable)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def poisson(self, mean: float) -> int:
        if mean <= 0:
            return 0
        if mean > 30:  # normal approximation, close enough for counts this large
            return max(0, round(self.rng.gauss(mean, math.sqrt(mean))))
        limit, k, product = math.exp(-mean), 0, self.rng.random()
        while product > limit:
            k += 1
            product *= self.rng.random()
        return k

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def below(self, n: int) -> int:
        return int(self.rng.random() * n)

    def weighted(self, cumulative: list[float]) -> int:
        """An index drawn by weight, from the weights' running sums."""
        point = self.rng.random() * cumulative[-1]
        low, high = 0, len(cumulative) - 1
        while low < high:
            middle = (low + high) // 2
            if cumulative[middle] < point:
                low = middle + 1
            else:
                high = middle
        return low


def cumulative(weights: list[float]) -> list[float]:
    return list(accumulate(weights))
