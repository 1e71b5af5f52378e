"""AWS Lambda event filtering, for the sandbox's stream poller.

Lambda event source mappings filter records with EventBridge-style patterns (the rules of AWS's
Event Ruler). The sandbox applies the very patterns the CDK stack deploys
(:data:`mailroom.table.schema.STREAM_CONSUMERS`), so this module follows those rules closely:

* A pattern is a JSON object. Every key in it must match the event (AND); keys the pattern does not
  name are ignored. A nested object matches a nested object of the event.
* A leaf of the pattern is always an array. It matches when ANY of its elements matches (OR). An
  element is a literal (string, number, boolean or null; compared by JSON type and value, numbers
  numerically) or a one-key operator object:
  ``{"prefix": s}``, ``{"suffix": s}``, ``{"equals-ignore-case": s}``, ``{"exists": bool}``,
  ``{"numeric": [op, n, ...]}`` (ops ``=``, ``<``, ``<=``, ``>``, ``>=``; one equality or a range of
  at most one lower and one upper bound), ``{"anything-but": value | [values] | {"prefix"|"suffix"|
  "equals-ignore-case": ...}}``.
* When the event's value is an array, the pattern matches if any element matches.
* ``exists`` looks at leaves only, as Event Ruler does: ``{"exists": true}`` needs the field to hold
  a value (a string, number, boolean or null, or an array with one); an object is not a leaf, so
  ``{"exists": false}`` matches a field that holds an object.
  A field under a missing parent is missing too, so ``{"exists": false}`` matches it.
* Every other operator needs the field to be present; prefix, suffix and equals-ignore-case match
  strings only, numeric matches JSON numbers only (DynamoDB's ``{"N": "5"}`` is a string, as on AWS).

Patterns that Lambda would reject (a bare scalar leaf, an empty array, an unknown operator) raise
:class:`InvalidPatternError`, so a bad pattern fails in the sandbox as it would on deploy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["InvalidPatternError", "matches", "matches_any", "validate_pattern"]

_NUMERIC_OPS = ("=", "<", "<=", ">", ">=")
_LOWER_OPS = (">", ">=")
_UPPER_OPS = ("<", "<=")
_ANYTHING_BUT_OPS = ("prefix", "suffix", "equals-ignore-case")
_OPERATORS = ("prefix", "suffix", "equals-ignore-case", "exists", "numeric", "anything-but")

_MISSING: Any = object()


class InvalidPatternError(ValueError):
    """A filter pattern that Lambda would not accept."""


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """True if ``event`` matches the filter ``pattern``."""
    validate_pattern(pattern)
    return _match_object(pattern, event)


def matches_any(patterns: Iterable[Mapping[str, Any]], event: Mapping[str, Any]) -> bool:
    """True if ``event`` matches at least one pattern (a Lambda ``FilterCriteria`` list is an OR)."""
    return any(matches(pattern, event) for pattern in patterns)


def validate_pattern(pattern: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidPatternError` if Lambda would reject ``pattern``."""
    _validate_object(pattern, path="")


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def _validate_object(pattern: Any, path: str) -> None:
    if not isinstance(pattern, Mapping):
        raise InvalidPatternError(f"pattern{_where(path)} must be an object, not {type(pattern).__name__}")
    for key, value in pattern.items():
        child = f"{path}.{key}" if path else str(key)
        if isinstance(value, Mapping):
            _validate_object(value, child)
        elif isinstance(value, list):
            if not value:
                raise InvalidPatternError(f"pattern{_where(child)}: an array of values must not be empty")
            for element in value:
                _validate_element(element, child)
        else:
            raise InvalidPatternError(
                f"pattern{_where(child)} must be an object or an array, not {value!r} "
                '(leaf values are always arrays, e.g. ["INSERT"])'
            )


def _validate_element(element: Any, path: str) -> None:
    if element is None or isinstance(element, str | bool):
        return
    if isinstance(element, int | float):
        if not math.isfinite(element):
            raise InvalidPatternError(f"pattern{_where(path)}: {element!r} is not a JSON number")
        return
    if not isinstance(element, Mapping):
        raise InvalidPatternError(f"pattern{_where(path)}: {element!r} is not a literal or an operator")
    if len(element) != 1:
        raise InvalidPatternError(
            f"pattern{_where(path)}: an operator object has exactly one key: {element!r}"
        )
    ((op, arg),) = element.items()
    if op in ("prefix", "suffix", "equals-ignore-case"):
        if not isinstance(arg, str):
            raise InvalidPatternError(f"pattern{_where(path)}: {op!r} takes a string, not {arg!r}")
    elif op == "exists":
        if not isinstance(arg, bool):
            raise InvalidPatternError(f"pattern{_where(path)}: 'exists' takes true or false, not {arg!r}")
    elif op == "numeric":
        _parse_numeric(arg, path)
    elif op == "anything-but":
        _validate_anything_but(arg, path)
    else:
        known = ", ".join(_OPERATORS)
        raise InvalidPatternError(f"pattern{_where(path)}: unsupported operator {op!r} (supported: {known})")


def _validate_anything_but(arg: Any, path: str) -> None:
    if isinstance(arg, Mapping):
        if len(arg) != 1 or next(iter(arg)) not in _ANYTHING_BUT_OPS:
            raise InvalidPatternError(
                f"pattern{_where(path)}: 'anything-but' takes a value, a list of values or one of "
                f"{{{', '.join(repr(op) for op in _ANYTHING_BUT_OPS)}: string}}, not {arg!r}"
            )
        ((op, value),) = arg.items()
        if not isinstance(value, str):
            raise InvalidPatternError(f"pattern{_where(path)}: anything-but {op!r} takes a string")
        return
    values = arg if isinstance(arg, list) else [arg]
    if not values:
        raise InvalidPatternError(f"pattern{_where(path)}: 'anything-but' needs at least one value")
    for value in values:
        if isinstance(value, Mapping | list):
            raise InvalidPatternError(f"pattern{_where(path)}: 'anything-but' values must be literals")


def _parse_numeric(arg: Any, path: str) -> list[tuple[str, float]]:
    """``[">", 0, "<=", 5]`` -> ``[(">", 0.0), ("<=", 5.0)]``, checked as Event Ruler checks it."""
    where = _where(path)
    if not isinstance(arg, list) or not arg or len(arg) % 2:
        raise InvalidPatternError(f"pattern{where}: 'numeric' takes [op, number, ...], not {arg!r}")
    conditions: list[tuple[str, float]] = []
    for op, number in zip(arg[::2], arg[1::2], strict=True):
        if op not in _NUMERIC_OPS:
            raise InvalidPatternError(f"pattern{where}: unknown numeric operator {op!r}")
        if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
            raise InvalidPatternError(f"pattern{where}: numeric operand must be a number, not {number!r}")
        conditions.append((op, float(number)))
    ops = [op for op, _ in conditions]
    if "=" in ops:
        if len(ops) != 1:
            raise InvalidPatternError(f"pattern{where}: numeric '=' cannot be combined with other operators")
    elif len(ops) > 2 or sum(op in _LOWER_OPS for op in ops) > 1 or sum(op in _UPPER_OPS for op in ops) > 1:
        raise InvalidPatternError(
            f"pattern{where}: a numeric range has at most one lower and one upper bound"
        )
    return conditions


def _where(path: str) -> str:
    return f" at {path!r}" if path else ""


# ---------------------------------------------------------------------------------------------
# Matching (the pattern is already valid)
# ---------------------------------------------------------------------------------------------


def _match_object(pattern: Mapping[str, Any], value: Any) -> bool:
    if isinstance(value, list):
        # An array of objects: the sub-pattern must match within one element.
        return any(_match_object(pattern, element) for element in value or [_MISSING])
    if not isinstance(value, Mapping):
        # Event Ruler matches flattened leaf paths: under a missing field or a leaf there is no
        # field at all, which only {"exists": false} accepts.
        value = {}
    for key, sub in pattern.items():
        field = value.get(key, _MISSING)
        if isinstance(sub, Mapping):
            if not _match_object(sub, field):
                return False
        elif not any(_match_element(element, field) for element in sub):
            return False
    return True


def _match_element(element: Any, field: Any) -> bool:
    if isinstance(element, Mapping):
        ((op, arg),) = element.items()
        if op == "exists":
            return _has_leaf(field) is bool(arg)
        return field is not _MISSING and any(_match_operator(op, arg, leaf) for leaf in _leaves(field))
    return field is not _MISSING and any(_equal(element, leaf) for leaf in _leaves(field))


def _match_operator(op: str, arg: Any, leaf: Any) -> bool:
    if op == "prefix":
        return isinstance(leaf, str) and leaf.startswith(arg)
    if op == "suffix":
        return isinstance(leaf, str) and leaf.endswith(arg)
    if op == "equals-ignore-case":
        return isinstance(leaf, str) and leaf.casefold() == str(arg).casefold()
    if op == "numeric":
        return _is_number(leaf) and all(_compare(leaf, o, n) for o, n in _parse_numeric(arg, ""))
    if op == "anything-but":
        return _anything_but(arg, leaf)
    raise AssertionError(f"unvalidated operator {op!r}")  # pragma: no cover


def _anything_but(arg: Any, leaf: Any) -> bool:
    if isinstance(arg, Mapping):
        ((op, value),) = arg.items()
        if not isinstance(leaf, str):
            return True  # a non-string neither starts nor ends with, nor equals, a string
        return not _match_operator(op, value, leaf)
    values = arg if isinstance(arg, list) else [arg]
    return not any(_equal(value, leaf) for value in values)


def _leaves(value: Any) -> list[Any]:
    """The leaf values that a field holds: itself, or the leaves inside an array (objects excluded)."""
    if isinstance(value, list):
        return [leaf for element in value for leaf in _leaves(element)]
    if isinstance(value, Mapping):
        return []
    return [value]


def _has_leaf(value: Any) -> bool:
    return value is not _MISSING and bool(_leaves(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(literal: Any, leaf: Any) -> bool:
    """JSON equality: types must agree (``true`` is not ``1``); numbers compare by value."""
    if literal is None or leaf is None:
        return literal is None and leaf is None
    if isinstance(literal, bool) or isinstance(leaf, bool):
        return isinstance(literal, bool) and isinstance(leaf, bool) and literal is leaf
    if _is_number(literal):
        return _is_number(leaf) and float(literal) == float(leaf)
    return isinstance(leaf, str) and literal == leaf


def _compare(value: float, op: str, operand: float) -> bool:
    number = float(value)
    if op == "=":
        return number == operand
    if op == "<":
        return number < operand
    if op == "<=":
        return number <= operand
    if op == ">":
        return number > operand
    return number >= operand
