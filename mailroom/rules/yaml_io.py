"""Rules as YAML, for admins: parse with every problem reported at its line, dump stably.

A rules file is all or nothing: one problem refuses the whole file, because half a rule set
routes mail in ways nobody wrote. Problems carry the 1-based line in the YAML text and a path
such as ``rules[2].when.any[0].subject``, so an editor can underline the spot.

Line numbers come from the composed YAML node tree: the file is composed once (keeping each
node's position), constructed into plain data, validated by pydantic, and every validation
error's ``loc`` is walked back down the node tree to the node it is about.

YAML's own footguns are refused rather than half-supported: duplicate keys (YAML keeps the last,
silently), aliases (they can expand exponentially during validation) and deep nesting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from mailroom.rules.model import RuleSet

MAX_YAML_CHARS = 1_000_000
MAX_YAML_DEPTH = 100  # rules need about 30: conditions nest at most 12 deep

Loc = tuple[int | str, ...]


@dataclass(frozen=True)
class RuleProblem:
    line: int  # 1-based, in the YAML text
    path: str  # rules[2].when.any[0].subject; "" for the document as a whole
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.path}" if self.path else "")
        return f"{where}: {self.reason}"


class RulesError(ValueError):
    """The rules file was refused; ``problems`` says where and why, in line order."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        self.problems = sorted(problems, key=lambda problem: (problem.line, problem.path))
        super().__init__("\n".join(str(problem) for problem in self.problems))


def parse_rules_yaml(text: str) -> RuleSet:
    """The rule set in ``text``; raises RulesError listing every problem found."""
    if len(text) > MAX_YAML_CHARS:
        raise RulesError([RuleProblem(1, "", f"the file is over {MAX_YAML_CHARS:,} characters")])
    root = _compose(text)
    _refuse_duplicate_keys(root)
    data = _construct(root)
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        raise RulesError([_problem(root, error) for error in exc.errors()]) from exc


def dump_rules_yaml(ruleset: RuleSet) -> str:
    """Stable YAML for ``ruleset``: defaults left out, keys in model order, short lists inline.

    ``parse_rules_yaml(dump_rules_yaml(x)) == x`` for every valid rule set."""
    data = _inline_small_mappings(ruleset.model_dump(mode="json", exclude_defaults=True))
    return yaml.dump(
        data, Dumper=_RulesDumper, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False
    )


# --- reading ------------------------------------------------------------------------------------


def _rules_loader() -> type[Any]:
    """SafeLoader (libyaml's when available: ten times faster) with YAML 1.2's plain scalars.

    Only true/false are booleans and ~/null is null; everything else stays text. Under YAML 1.1
    ``name: Off`` is False, ``add_tags: [no]`` is [False] and ``equals: 1.10`` is 1.1, while rule
    authors mean the text they typed. Numbers still validate where a number is expected
    (``version: 3``), because pydantic reads "3" as 3 there."""
    base = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    loader: type[Any] = type("RulesLoader", (base,), {"yaml_implicit_resolvers": {}})
    loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    loader.add_implicit_resolver(
        "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
    )
    return loader


_RulesLoader = _rules_loader()


def _compose(text: str) -> yaml.Node:
    try:
        _check_events(text)
        root = yaml.compose(text, Loader=_RulesLoader)
    except yaml.MarkedYAMLError as exc:
        raise RulesError([_syntax_problem(exc)]) from exc
    except yaml.YAMLError as exc:
        raise RulesError([RuleProblem(1, "", f"YAML error: {exc}")]) from exc
    if root is None:
        raise RulesError([RuleProblem(1, "", "the file is empty: to remove every rule, write 'rules: []'")])
    return root


def _check_events(text: str) -> None:
    """Refuse, before any node is built, what would make building them dangerous.

    Aliases (``*name``) are refused where they are used: shared nodes can expand exponentially
    when validated (a "billion laughs"), and rules are short enough to write out. Deep nesting is
    refused because composing it recurses: libyaml's composer crashes the process on a few
    thousand levels. The event stream itself is flat, so checking it here is safe."""
    depth = 0
    for event in yaml.parse(text, Loader=_RulesLoader):
        if isinstance(event, yaml.AliasEvent):
            reason = f"aliases (*{event.anchor}) are not supported: repeat the text"
            raise RulesError([RuleProblem(_line(event.start_mark), "", reason)])
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                reason = f"the YAML nests more than {MAX_YAML_DEPTH} levels deep"
                raise RulesError([RuleProblem(_line(event.start_mark), "", reason)])
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _syntax_problem(exc: yaml.MarkedYAMLError) -> RuleProblem:
    problem = exc.problem or "invalid YAML"
    context = f" ({exc.context})" if exc.context else ""
    return RuleProblem(
        _line(exc.problem_mark or exc.context_mark), "", f"YAML syntax error: {problem}{context}"
    )


def _line(mark: Any) -> int:
    """1-based line of a PyYAML mark (0-based, and absent on some events)."""
    return int(mark.line) + 1 if mark is not None else 1


def _refuse_duplicate_keys(root: yaml.Node) -> None:
    """YAML keeps the last of two equal keys without a word; a rules file must not lose a line."""
    problems: list[RuleProblem] = []
    pending: list[tuple[yaml.Node, str]] = [(root, "")]
    while pending:
        node, path = pending.pop()
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                child = _join(path, key)
                if key in keys:
                    problems.append(_at(key_node, child, f"duplicate key '{key}' in the same mapping"))
                keys.add(key)
                pending.append((value_node, child))
        elif isinstance(node, yaml.SequenceNode):
            pending.extend((item, _join(path, index)) for index, item in enumerate(node.value))
    if problems:
        raise RulesError(problems)


def _construct(root: yaml.Node) -> Any:
    """Plain Python data from the checked node tree, with YAML's safe types."""
    loader = _RulesLoader("")
    try:
        return loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:  # e.g. a malformed timestamp or an unhashable key
        raise RulesError([_syntax_problem(exc)]) from exc
    finally:
        loader.dispose()


# --- mapping validation errors back to lines ----------------------------------------------------


def _problem(root: yaml.Node, error: ErrorDetails) -> RuleProblem:
    loc: Loc = tuple(error["loc"])
    context = error.get("ctx") or {}
    extra = context.get("at")
    if isinstance(extra, tuple):
        loc = (*loc, *extra)  # our own errors name the exact key or item they are about
    node, path = _locate(root, loc)
    if error["type"] == "missing":
        path = _join(path, loc[-1])
    return _at(node, path, _reason(error))


def _locate(root: yaml.Node, loc: Loc) -> tuple[yaml.Node, str]:
    """The node that ``loc`` leads to (a mapping entry's key, so its line is the key's), and its path.

    A loc also holds steps that are not in the document: the tags of tagged unions (a condition
    ``{subject: ...}`` appears as ``subject, subject``), fields filled in by a shorthand, and keys
    that are missing. Steps that do not exist under the current node are passed over."""
    node, marker, path = root, root, ""
    for step in loc:
        found = _child(node, step)
        if found is not None:
            marker, node = found
            path = _join(path, step)
    return marker, path


def _child(node: yaml.Node, step: int | str) -> tuple[yaml.Node, yaml.Node] | None:
    """``(marker, child)``: for a mapping entry the marker is its key node, else the child itself."""
    if isinstance(node, yaml.MappingNode):
        return next(((key, value) for key, value in node.value if str(key.value) == str(step)), None)
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        item: yaml.Node = node.value[step]
        return item, item
    return None


def _reason(error: ErrorDetails) -> str:
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        return f"unknown key '{error['loc'][-1]}'"
    if error["type"] == "missing":
        return f"'{error['loc'][-1]}' is required"
    return message


def _at(node: yaml.Node, path: str, reason: str) -> RuleProblem:
    return RuleProblem(_line(node.start_mark), path, reason)


def _join(path: str, step: int | str) -> str:
    if isinstance(step, int):
        return f"{path}[{step}]"
    return f"{path}.{step}" if path else step


# --- writing ------------------------------------------------------------------------------------


class _Flow(dict[str, Any]):
    """A small mapping written inline: ``subject: {contains: invoice}``."""


def _inline_small_mappings(data: Any) -> Any:
    """Mark mappings of plain values that sit under a key for inline output; list items stay block
    mappings, so conditions and actions read ``- set_team: billing`` as people write them."""
    if isinstance(data, list):
        return [_inline_small_mappings(item) for item in data]
    if isinstance(data, dict):
        return {
            key: _Flow(value) if _is_small(value) else _inline_small_mappings(value)
            for key, value in data.items()
        }
    return data


def _is_small(value: Any) -> bool:
    def plain(item: Any) -> bool:
        return isinstance(item, bool | int | float) or (isinstance(item, str) and "\n" not in item)

    return isinstance(value, dict) and all(
        plain(item) or (isinstance(item, list) and all(map(plain, item))) for item in value.values()
    )


class _RulesDumper(yaml.SafeDumper):
    """Block style with indented lists, short lists and small mappings inline."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_list(dumper: yaml.SafeDumper, values: list[Any]) -> yaml.Node:
    inline = all(isinstance(value, str | int | float | bool) for value in values)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", values, flow_style=inline)


def _represent_flow(dumper: yaml.SafeDumper, values: _Flow) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", dict(values), flow_style=True)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    """Multi-line text as a block, and text with control characters or Unicode line breaks
    double-quoted with escapes (PyYAML writes those raw in other styles, where YAML reads them
    as line breaks); everything else as PyYAML quotes it."""
    if any(char in _LINE_BREAKS or (not char.isprintable() and char != "\n") for char in value):
        style: str | None = '"'
    else:
        style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_LINE_BREAKS = frozenset("\x85\u2028\u2029")


_RulesDumper.add_representer(list, _represent_list)
_RulesDumper.add_representer(_Flow, _represent_flow)
_RulesDumper.add_representer(str, _represent_str)
