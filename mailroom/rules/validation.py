"""Validate rules given as data (JSON from the API or the admin form), each problem at its field.

The YAML reader (:mod:`mailroom.rules.yaml_io`) reports lines; data has no lines, so a problem
names its path instead (``rules[2].when.any[0].subject.contains``), found by walking pydantic's
``loc`` down the data as given: steps that are not in the data (the tags of tagged unions, fields
filled in by a shorthand) are passed over, so the path is one the caller wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from mailroom.rules.model import RuleSet

Loc = tuple[int | str, ...]
_MISSING = object()


@dataclass(frozen=True)
class FieldProblem:
    path: str  # rules[2].when.subject.contains; "" for the rule set as a whole
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class RuleFieldError(ValueError):
    """The rules were refused; ``problems`` says where and why."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(problem) for problem in problems))


def validate_ruleset(data: Any) -> RuleSet:
    """``{"rules": [...]}`` as a RuleSet; raises :class:`RuleFieldError` listing every problem."""
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        raise RuleFieldError([problem(data, error) for error in exc.errors()]) from exc


def problem(data: Any, error: ErrorDetails) -> FieldProblem:
    loc: Loc = tuple(error["loc"])
    extra = (error.get("ctx") or {}).get("at")
    if isinstance(extra, tuple):
        loc = (*loc, *extra)  # our own errors name the exact key or item they are about
    path = locate(data, loc)
    if error["type"] == "missing" and loc:
        path = join(path, loc[-1])
    return FieldProblem(path, reason(error))


def locate(data: Any, loc: Loc) -> str:
    """The path in ``data`` that ``loc`` leads to, passing over steps that are not in the data."""
    node, path = data, ""
    for step in loc:
        child = _child(node, step)
        if child is not _MISSING:
            node, path = child, join(path, step)
    return path


def _child(node: Any, step: int | str) -> Any:
    if isinstance(node, dict):
        return node.get(step, _MISSING) if isinstance(step, str) else _MISSING
    if isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
        return node[step]
    return _MISSING


def reason(error: ErrorDetails) -> str:
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        return f"unknown key '{error['loc'][-1]}'"
    if error["type"] == "missing":
        return f"'{error['loc'][-1]}' is required"
    return message


def join(path: str, step: int | str) -> str:
    if isinstance(step, int):
        return f"{path}[{step}]"
    return f"{path}.{step}" if path else step
