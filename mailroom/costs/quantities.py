"""The quantities Mailroom records per day and per dimension: what AWS bills, never money.

Each quantity has a short item attribute name (usage items stay well under 1 KB, so each atomic
counter update costs exactly one write unit). Quantities are ``Decimal``: GB-seconds and shares of a
request are fractions, and splitting them must not lose or invent anything, so every split is exact
to :data:`QUANTUM` and its parts add up to the whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

QUANTUM = Decimal("1e-12")  # the finest share recorded (a trillionth of a request or GB-second)
ZERO = Decimal(0)


class Q(StrEnum):
    """A recorded quantity; the value is its attribute name on usage items."""

    LAMBDA_GB_SECONDS = "l_gbs"  # billed duration (rounded up to 1 ms) x configured memory
    LAMBDA_REQUESTS = "l_req"
    DDB_READ_UNITS = "d_rru"  # on-demand read request units
    DDB_WRITE_UNITS = "d_wru"  # on-demand write request units
    DDB_REQUESTS = "d_req"  # not billed on demand; shown to explain the units
    SES_IN_MESSAGES = "si_msg"
    SES_IN_CHUNKS = "si_chk"  # started 256 KB chunks of incoming mail
    SES_OUT_MESSAGES = "so_msg"
    SES_OUT_BYTES = "so_b"
    S3_PUT_REQUESTS = "s3_put"  # PUT, COPY, POST, LIST tier
    S3_GET_REQUESTS = "s3_get"  # GET, HEAD tier
    S3_BYTES = "s3_b"  # bytes written (priced as their first month of storage)
    API_REQUESTS = "api_req"  # API Gateway HTTP API requests
    LOG_BYTES = "log_b"  # CloudWatch Logs ingestion


# The metering's own writes, kept apart on the day's TOTAL item (see mailroom.costs.metering).
METERING_PREFIX = "m_"
METERING_QUANTITIES = (Q.LAMBDA_GB_SECONDS, Q.DDB_READ_UNITS, Q.DDB_WRITE_UNITS, Q.DDB_REQUESTS)

# S3 operations by price tier (DeleteObject is free).
S3_PUT_TIER = frozenset({"PutObject", "CopyObject", "PostObject", "ListObjectsV2", "ListObjects"})
S3_GET_TIER = frozenset({"GetObject", "HeadObject"})


class Usage:
    """Quantities by :class:`Q` (missing ones are zero). Immutable; ``+``, ``-`` and ``split``."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[Q, Decimal | int] | None = None) -> None:
        self._values: dict[Q, Decimal] = {q: Decimal(v) for q, v in (values or {}).items() if Decimal(v) != 0}

    def __getitem__(self, quantity: Q) -> Decimal:
        return self._values.get(quantity, ZERO)

    def items(self) -> list[tuple[Q, Decimal]]:
        return [(q, self._values[q]) for q in Q if q in self._values]

    def __add__(self, other: Usage) -> Usage:
        return Usage({q: self[q] + other[q] for q in Q})

    def __sub__(self, other: Usage) -> Usage:
        return Usage({q: self[q] - other[q] for q in Q})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Usage) and self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(self.items()))

    def __bool__(self) -> bool:
        return bool(self._values)

    def __repr__(self) -> str:
        return f"Usage({ {q.value: str(v) for q, v in self.items()} })"

    def quantized(self) -> Usage:
        return Usage({q: v.quantize(QUANTUM) for q, v in self.items()})

    def split(self, weights: Sequence[Decimal | int]) -> list[Usage]:
        """Parts in proportion to ``weights`` that add up exactly to this usage."""
        columns = {q: split_exact(v, weights) for q, v in self.items()}
        return [Usage({q: parts[i] for q, parts in columns.items()}) for i in range(len(weights))]

    def attributes(self, prefix: str = "") -> dict[str, Decimal]:
        """As item attributes (non-zero quantities only)."""
        return {f"{prefix}{q.value}": v for q, v in self.items()}

    @classmethod
    def from_item(cls, item: Mapping[str, object], prefix: str = "") -> Usage:
        values: dict[Q, Decimal] = {}
        for q in Q:
            raw = item.get(f"{prefix}{q.value}")
            if raw is not None:
                values[q] = Decimal(str(raw))
        return cls(values)

    @classmethod
    def total(cls, usages: Iterable[Usage]) -> Usage:
        result = cls()
        for usage in usages:
            result = result + usage
        return result


def split_exact(total: Decimal, weights: Sequence[Decimal | int]) -> list[Decimal]:
    """``total`` in parts proportional to ``weights``, each a multiple of :data:`QUANTUM`, adding up
    to ``total`` (quantized) exactly: parts are rounded down and the remaining quanta go to the
    parts that lost the most (largest remainder)."""
    total = total.quantize(QUANTUM)
    if not weights:
        return []
    weights = [Decimal(w) for w in weights]
    whole = sum(weights, ZERO)
    if whole <= 0:
        weights, whole = [Decimal(1)] * len(weights), Decimal(len(weights))
    exact = [total * w / whole for w in weights]
    parts = [share.quantize(QUANTUM, rounding=ROUND_DOWN) for share in exact]
    left = int((total - sum(parts, ZERO)) / QUANTUM)
    step = QUANTUM if left >= 0 else -QUANTUM
    order = sorted(range(len(parts)), key=lambda i: exact[i] - parts[i], reverse=left >= 0)
    for n in range(abs(left)):
        parts[order[n % len(parts)]] += step
    return parts
