"""DynamoDB capacity units computed from item sizes, by DynamoDB's published rules.

On AWS the table reports consumed capacity (``ReturnConsumedCapacity``); DynamoDB Local's figures are
not reliable, so there the adapter computes them: a write costs one unit per started 1 KB of the item,
a strongly consistent read one unit per started 4 KB (half for eventually consistent reads), a query
is charged on the summed size of the items it returns, and transactions cost double.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096


def attribute_value_size(value: Any) -> int:  # noqa: PLR0911 - one return per DynamoDB type
    """Size in bytes of one attribute value in the low-level (typed) format."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "B":
        return len(inner)
    if kind == "N":
        return _number_size(inner)
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in inner)
    if kind == "NS":
        return sum(_number_size(n) for n in inner)
    if kind == "BS":
        return sum(len(b) for b in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + attribute_value_size(v) for k, v in inner.items())
    raise ValueError(f"unknown attribute type {kind}")


def _number_size(text: str) -> int:
    digits = Decimal(text).normalize().as_tuple().digits
    return math.ceil(len(digits) / 2) + 1


def item_size(item: dict[str, Any]) -> int:
    """Size of an item in the low-level format: attribute names plus values."""
    return sum(len(name.encode("utf-8")) + attribute_value_size(value) for name, value in item.items())


def write_units(size: int, *, transactional: bool = False) -> int:
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return units * 2 if transactional else units


def read_units(size: int, *, consistent: bool = False, transactional: bool = False) -> float:
    units = float(max(1, math.ceil(size / READ_UNIT_BYTES)))
    if transactional:
        return units * 2
    return units if consistent else units / 2
