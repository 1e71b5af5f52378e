"""Fault injection for the sandbox and the fault tests: what goes wrong on AWS, on demand.

``MAILROOM_FAULTS`` (or ``mailroom sandbox --faults``) names the faults, as ``key=value`` pairs
separated by commas, or as JSON (:class:`FaultConfig` lists them)::

    mailroom sandbox --faults 'dynamodb_throttle=0.05,dynamodb_lost_response=0.02,stream_redeliver=0.3,seed=7'
    mailroom sandbox --faults 'crash=ingest.after_commit|route.after_rules'   # or crash=* for every point

* DynamoDB faults are answers botocore receives instead of DynamoDB's (a ``before-send`` hook on
  the product's table client): throttling and internal errors before the request ran, and
  internal errors *after* it ran (the write is applied, the answer lost). botocore's own retry
  policy then does what it does on AWS, and whatever escapes it reaches the product's handling:
  a failed invocation retried, a partial batch failure, the stream poller's retries.
* Crash points are the calls of :func:`mailroom.faultpoints.checkpoint` between two writes
  (:func:`fault_points` finds them all in the source). An armed point raises :class:`SimulatedCrash`
  the first ``crash_each`` times it is reached in a process: a ``BaseException``, so no ``except
  Exception`` in the product can catch it, as nothing catches a function being killed. The sandbox
  wraps its handlers with :meth:`FaultInjector.guard`, turning a crash into a failed invocation
  that is retried like one (Lambda's asynchronous retries, the stream's, a 500 from the API).
* ``stream_redeliver``: the stream poller delivers that fraction of the batches a second time.
* ``ses_in_doubt``: the outbox keeps that fraction of the mails it writes and then raises
  :class:`~mailroom.outbound.sender.SendInDoubtError`: SES took the mail, its answer was lost.

Decisions come from a random generator seeded with ``seed``, one per fault kind: the same calls
in the same order meet the same faults. Nothing here is imported by a deployed function.
"""

from __future__ import annotations

import ast
import json
import os
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from difflib import get_close_matches
from functools import cache
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.httpsession import URLLib3Session
from pydantic import BaseModel, ConfigDict, Field, field_validator

from mailroom import faultpoints
from mailroom.outbound.sender import SendInDoubtError

__all__ = [
    "ENV_VAR",
    "FaultConfig",
    "FaultInjector",
    "SimulatedCrash",
    "fault_points",
    "install_from_environment",
    "parse_faults",
]

ENV_VAR = "MAILROOM_FAULTS"
ALL_POINTS = "*"
OUTBOX_POINT = "outbox.after_write"
_PACKAGE = Path(__file__).resolve().parents[1] / "mailroom"
_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})
Handler = Callable[[dict[str, Any], Any], Any]


@cache
def fault_points() -> tuple[str, ...]:
    """Every name passed to ``checkpoint("...")`` in the ``mailroom`` package, sorted."""
    names: set[str] = set()
    for path in sorted(_PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if "checkpoint(" not in source:
            continue
        for node in ast.walk(ast.parse(source, filename=str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name | ast.Attribute)
                and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) == "checkpoint"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names.add(node.args[0].value)
    return tuple(sorted(names))


class FaultConfig(BaseModel):
    """Which faults to inject, and how often (fractions of the calls, batches or sends)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    dynamodb_throttle: float = Field(0.0, ge=0, le=1, description="ProvisionedThroughputExceeded, not run")
    dynamodb_error: float = Field(0.0, ge=0, le=1, description="InternalServerError, not run")
    dynamodb_lost_response: float = Field(
        0.0, ge=0, le=1, description="writes, first attempt: run, then InternalServerError (answer lost)"
    )
    dynamodb_operations: frozenset[str] = Field(
        frozenset(), description="only these operations (e.g. UpdateItem|TransactWriteItems); empty: all"
    )
    dynamodb_max: int | None = Field(None, ge=0, description="at most this many DynamoDB faults per process")
    stream_redeliver: float = Field(0.0, ge=0, le=1, description="stream batches delivered twice")
    ses_in_doubt: float = Field(0.0, ge=0, le=1, description="outbox sends written, then in doubt")
    crash: frozenset[str] = Field(frozenset(), description="crash points to arm, or * for all")
    crash_each: int = Field(1, ge=1, le=1000, description="crashes per armed point and process")

    @field_validator("dynamodb_operations", mode="before")
    @classmethod
    def _operations(cls, value: Any) -> Any:
        return frozenset(filter(None, value.split("|"))) if isinstance(value, str) else value

    @field_validator("crash", mode="before")
    @classmethod
    def _points(cls, value: Any) -> Any:
        names = value.split("|") if isinstance(value, str) else value
        if not isinstance(names, list | tuple | set | frozenset):
            return names
        cleaned = {str(name).strip() for name in names if str(name).strip()}
        known = set(fault_points())
        for name in cleaned - {ALL_POINTS}:
            if name not in known:
                hint = get_close_matches(name, sorted(known), n=1)
                suggestion = f" (did you mean {hint[0]}?)" if hint else ""
                raise ValueError(f"no crash point {name!r}{suggestion}; known: {', '.join(sorted(known))}")
        return frozenset(cleaned)

    @property
    def dynamodb(self) -> bool:
        return bool(self.dynamodb_throttle or self.dynamodb_error or self.dynamodb_lost_response)

    def armed(self, point: str) -> bool:
        return ALL_POINTS in self.crash or point in self.crash

    def as_text(self) -> str:
        """The JSON form, for ``MAILROOM_FAULTS`` in the processes the sandbox starts."""
        return self.model_dump_json(exclude_defaults=True)


def parse_faults(text: str) -> FaultConfig:
    """``key=value,key=value`` (lists separated by ``|``) or a JSON object. Raises ValueError."""
    text = text.strip()
    if text.startswith("{"):
        return FaultConfig.model_validate_json(text)
    pairs: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"fault {part!r} is not key=value")
        pairs[name.strip()] = value.strip()
    return FaultConfig.model_validate(pairs)


class SimulatedCrash(BaseException):
    """The function died at ``point`` (raised by an armed crash point)."""

    def __init__(self, point: str) -> None:
        super().__init__(f"sandbox fault: the function crashed at {point}")
        self.point = point


class _Body:
    """Just enough of a urllib3 response for :class:`AWSResponse` to read."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self) -> Iterator[bytes]:
        yield self._data


def _error_response(request: AWSPreparedRequest, status: int, code: str, message: str) -> AWSResponse:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message})
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "sandbox-fault"}
    return AWSResponse(request.url, status, headers, _Body(body.encode()))


@dataclass
class FaultInjector:
    """One process's faults. ``fired`` counts what was injected (``dynamodb_throttle``,
    ``crash:<point>``, ...), so a test can check that the fault it wanted happened."""

    config: FaultConfig
    fired: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _clients: list[Any] = field(default_factory=list)
    _http: URLLib3Session | None = None
    _rngs: dict[str, random.Random] = field(default_factory=dict)

    def _chance(self, kind: str, fraction: float, *, stream: str = "") -> bool:
        """One seeded draw for ``kind`` (from its own sequence per ``stream``: a consumer's draws do
        not depend on how its thread interleaves with others); counts it as fired when it hits."""
        if fraction <= 0:
            return False
        with self._lock:
            name = f"{kind}:{stream}" if stream else kind
            rng = self._rngs.setdefault(name, random.Random(f"{self.config.seed}:{name}"))  # noqa: S311
            hit = rng.random() < fraction
            if hit:
                self.fired[kind] += 1
        return hit

    # -- installing ---------------------------------------------------------------------------------

    def install(self, dynamodb_client: Any | None = None) -> FaultInjector:
        """Arm the crash points and the outbox of this process and, when DynamoDB faults are asked
        for, hook ``dynamodb_client`` (the product's table client). Undo with :meth:`uninstall`."""
        faultpoints.arm(self.at_point)
        if dynamodb_client is not None and self.config.dynamodb:
            dynamodb_client.meta.events.register_first(
                "before-send.dynamodb", self._before_send, unique_id=f"mailroom-faults-{id(self)}"
            )
            self._clients.append(dynamodb_client)
        return self

    def uninstall(self) -> None:
        faultpoints.arm(None)
        for client in self._clients:
            client.meta.events.unregister("before-send.dynamodb", unique_id=f"mailroom-faults-{id(self)}")
        self._clients.clear()

    @contextmanager
    def installed(self, dynamodb_client: Any | None = None) -> Iterator[FaultInjector]:
        self.install(dynamodb_client)
        try:
            yield self
        finally:
            self.uninstall()

    # -- the faults ---------------------------------------------------------------------------------

    def _before_send(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse | None:
        operation = event_name.rpartition(".")[2]
        wanted = self.config.dynamodb_operations
        if wanted and operation not in wanted:
            return None
        if self.config.dynamodb_max is not None and self._dynamodb_faults() >= self.config.dynamodb_max:
            return None
        if self._chance("dynamodb_throttle", self.config.dynamodb_throttle):
            return _error_response(
                request, 400, "ProvisionedThroughputExceededException", "sandbox fault: throttled"
            )
        if self._chance("dynamodb_error", self.config.dynamodb_error):
            return _error_response(request, 500, "InternalServerError", "sandbox fault: internal error")
        # The SDK numbers its attempts in this header ("attempt=1; max=5"): only a first attempt's
        # answer is lost, so its retry meets the write already done.
        first = "attempt=1;" in f"{request.headers.get('amz-sdk-request', 'attempt=1')};"
        lost = self.config.dynamodb_lost_response
        if operation in _WRITES and first and self._chance("dynamodb_lost_response", lost):
            with self._lock:
                self._http = self._http or URLLib3Session()
            real = self._http.send(request)
            _ = real.content  # the write is done; its answer is dropped
            return _error_response(
                request, 500, "InternalServerError", "sandbox fault: the answer to a write was lost"
            )
        return None

    def _dynamodb_faults(self) -> int:
        with self._lock:
            return sum(n for kind, n in self.fired.items() if kind.startswith("dynamodb_"))

    def at_point(self, name: str) -> None:
        """The hook of :func:`mailroom.faultpoints.checkpoint`."""
        if name == OUTBOX_POINT and self._chance("ses_in_doubt", self.config.ses_in_doubt):
            raise SendInDoubtError("sandbox fault: SES took the mail, and its answer was lost")
        if not self.config.armed(name):
            return
        with self._lock:
            if self.fired[f"crash:{name}"] >= self.config.crash_each:
                return
            self.fired[f"crash:{name}"] += 1
        raise SimulatedCrash(name)

    def redeliver(self, consumer: str) -> bool:
        """Whether the stream poller delivers the batch it just delivered to ``consumer`` again."""
        return self._chance("stream_redeliver", self.config.stream_redeliver, stream=consumer)

    def guard(self, handler: Handler) -> Handler:
        """``handler`` as the sandbox invokes it: a crash is a failed invocation, as on Lambda."""

        def guarded(event: dict[str, Any], context: Any) -> Any:
            try:
                return handler(event, context)
            except SimulatedCrash as crash:
                raise RuntimeError(str(crash)) from crash

        return guarded


def install_from_environment() -> FaultInjector | None:
    """The faults ``MAILROOM_FAULTS`` names, installed in this process on the product's table
    client (the sandbox's API workers call this at start); None when it names none."""
    text = os.environ.get(ENV_VAR, "").strip()
    if not text:
        return None
    from mailroom.table.client import table_from_settings

    return FaultInjector(parse_faults(text)).install(table_from_settings().client)
