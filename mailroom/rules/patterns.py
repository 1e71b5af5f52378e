"""Bounded regular expressions for admin-written rules.

Rules run on every inbound message, and their patterns are written by people, not reviewed by
engineers, so one careless ``(a|aa)+$`` must not be able to stall routing. Three bounds:

* at validation: a pattern longer than ``MAX_PATTERN_LENGTH`` or whose counted repeats would expand
  beyond ``MAX_EXPANSION`` (``((a{1000}){1000}){1000}`` exhausts memory while compiling) is refused;
* at search: only the first ``max_chars`` of the text are searched;
* and each search has a timeout (the ``regex`` module checks it while backtracking). A search that
  times out counts as no match and says so in its outcome: the caller reports it, never raises.

Patterns are case-insensitive, like the ``contains`` tests beside them: admins write ``refund``
and expect ``Refund`` to match. ``(?-i:...)`` turns that off within a pattern.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import lru_cache

import regex  # type: ignore[import-untyped,unused-ignore]

MAX_PATTERN_LENGTH = 1000
MAX_EXPANSION = 10_000  # atoms after multiplying out counted repeats such as {1000}
DEFAULT_TIMEOUT_SECONDS = 0.05
DEFAULT_MAX_CHARS = 64 * 1024
_FLAGS = regex.IGNORECASE | regex.VERSION0

_QUANTIFIER = re.compile(r"\{(\d*)(?:,(\d*))?\}")


class PatternError(ValueError):
    """A pattern that cannot be used: the message is meant for the admin who wrote it."""


@dataclass(frozen=True)
class PatternLimits:
    """How much one search may cost. The defaults suit a Lambda handling one message."""

    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_chars: int = DEFAULT_MAX_CHARS


DEFAULT_LIMITS = PatternLimits()


@dataclass(frozen=True)
class SearchOutcome:
    matched: bool
    timed_out: bool = False
    elapsed_seconds: float = 0.0


def check_pattern(source: str) -> str:
    """``source`` when it compiles within the bounds; otherwise PatternError saying why."""
    if not source:
        raise PatternError("an empty regular expression matches everything: write the text to look for")
    if len(source) > MAX_PATTERN_LENGTH:
        raise PatternError(
            f"regular expression is {len(source)} characters long; at most {MAX_PATTERN_LENGTH} are allowed"
        )
    expansion = estimate_expansion(source)
    if expansion > MAX_EXPANSION:
        raise PatternError(
            f"regular expression {_shorten(source)} repeats too much (about {expansion:,} steps after "
            f"expanding counted repeats such as {{1000}}; at most {MAX_EXPANSION:,})"
        )
    compile_pattern(source)
    return source


@lru_cache(maxsize=4096)
def compile_pattern(source: str) -> regex.Pattern[str]:
    """The compiled pattern, cached: a warm Lambda compiles each rule's pattern once."""
    try:
        return regex.compile(source, _FLAGS)
    except regex.error as exc:
        raise PatternError(f"invalid regular expression {_shorten(source)}: {exc}") from exc
    except (OverflowError, MemoryError, RecursionError) as exc:
        raise PatternError(f"regular expression {_shorten(source)} is too large to compile") from exc


def search(source: str, text: str, limits: PatternLimits = DEFAULT_LIMITS) -> SearchOutcome:
    """Whether ``source`` occurs in the first ``limits.max_chars`` of ``text``, within the timeout.

    ``source`` must have passed check_pattern (rule validation does that)."""
    pattern = compile_pattern(source)
    started = time.perf_counter()
    try:
        found = pattern.search(text[: limits.max_chars], timeout=limits.timeout_seconds) is not None
    except TimeoutError:
        return SearchOutcome(matched=False, timed_out=True, elapsed_seconds=time.perf_counter() - started)
    return SearchOutcome(matched=found, elapsed_seconds=time.perf_counter() - started)


def estimate_expansion(source: str) -> int:
    """Roughly how many atoms ``source`` becomes once counted repeats are multiplied out.

    A small scanner, not a parser: escapes, character classes and groups are recognised, every
    ``{m,n}`` multiplies the atom before it by its largest bound, and alternatives are added up,
    so the estimate errs on the large side."""
    stack: list[list[int]] = [[0, 0]]  # per open group: [total weight, weight of the last atom]
    index = 0
    while index < len(source):
        char = source[index]
        if char == "\\":
            index = _skip_escape(source, index)
            _add_atom(stack, 1)
        elif char == "[":
            index = _skip_class(source, index)
            _add_atom(stack, 1)
        elif char == "(":
            stack.append([0, 0])
            index += 1
        elif char == ")" and len(stack) > 1:
            inner = stack.pop()[0]
            _add_atom(stack, max(inner, 1))
            index += 1
        elif char == "{" and (quantifier := _QUANTIFIER.match(source, index)) and any(quantifier.groups()):
            _repeat_last(stack, _largest_bound(quantifier))
            index = quantifier.end()
        else:
            if char not in "*+?|":
                _add_atom(stack, 1)
            index += 1
    return sum(frame[0] for frame in stack)


def _add_atom(stack: list[list[int]], weight: int) -> None:
    frame = stack[-1]
    frame[0] += weight
    frame[1] = weight


def _repeat_last(stack: list[list[int]], times: int) -> None:
    frame = stack[-1]
    last = frame[1]
    frame[0] += last * (times - 1)
    frame[1] = last * times


def _largest_bound(quantifier: re.Match[str]) -> int:
    bounds = [int(group) for group in quantifier.groups() if group]
    return max(*bounds, 1)


def _skip_escape(source: str, index: int) -> int:
    """Past ``\\x``, including braced forms such as ``\\p{Lu}``, ``\\x{263a}`` and ``\\N{...}``."""
    end = index + 2
    if end < len(source) and source[end] == "{" and source[index + 1] in "pPNxgu":
        closing = source.find("}", end)
        return len(source) if closing < 0 else closing + 1
    return end


def _skip_class(source: str, index: int) -> int:
    """Past ``[...]``; a ``]`` first in the class (after an optional ``^``) is a literal."""
    position = index + 1
    if position < len(source) and source[position] == "^":
        position += 1
    if position < len(source) and source[position] == "]":
        position += 1
    while position < len(source) and source[position] != "]":
        position += 2 if source[position] == "\\" else 1
    return position + 1


def _shorten(source: str, limit: int = 60) -> str:
    text = source if len(source) <= limit else source[: limit - 1] + "…"
    return f"/{text}/"
