"""Concurrent Lambda execution environments for the sandbox's HTTP API.

On AWS, two requests at the same moment run in two execution environments (two processes, each
with its own module state); one environment never runs two requests at once. Powertools' resolver
keeps the current event in module state, so calling one in-process handler from several server
threads would mix requests up. The sandbox therefore runs the reply function in a pool of worker
processes: each imports the handler once (a cold start), then serves one request at a time, and
the pool gives the real concurrency that races between agents need.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from mailroom.deployment import FunctionSpec
from sandbox.faults import install_from_environment
from sandbox.lambda_context import load_handler, make_context

_handler: Callable[[dict[str, Any], Any], Any] | None = None
_spec: FunctionSpec | None = None


def _start_environment(spec: FunctionSpec) -> None:
    """Runs once in each worker: the Lambda runtime's init phase."""
    global _handler, _spec  # noqa: PLW0603 -- per-process state is the point of an environment
    # Ctrl-C reaches the whole process group: the sandbox stops the pool, workers don't react.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    faults = install_from_environment()  # the sandbox's --faults reach every environment
    _handler = faults.guard(load_handler(spec)) if faults is not None else load_handler(spec)
    _spec = spec


def _invoke(event: dict[str, Any]) -> Any:
    if _handler is None or _spec is None:
        raise RuntimeError("execution environment not initialised")
    return _handler(event, make_context(_spec.name, _spec.memory_mb, _spec.timeout_s))


class LambdaPool:
    """``workers`` execution environments of one function; the environment variables are those of
    this process when the pool starts (set them first)."""

    def __init__(self, spec: FunctionSpec, workers: int) -> None:
        self.spec = spec
        self.workers = max(1, workers)
        self._executor: ProcessPoolExecutor | None = None

    def start(self) -> LambdaPool:
        self._executor = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_environment,
            initargs=(self.spec,),
        )
        # Start every environment now (cold starts at boot, not on the first clicks).
        for future in [self._executor.submit(_noop) for _ in range(self.workers)]:
            future.result()
        return self

    def handler(self, event: dict[str, Any], _context: Any = None) -> Any:
        """Same signature as a Lambda handler; runs in whichever environment is free."""
        if self._executor is None:
            raise RuntimeError("the pool is not started")
        return self._executor.submit(_invoke, event).result()

    def pids(self) -> list[int]:
        processes = getattr(self._executor, "_processes", None) or {}
        return sorted(processes)

    def stop(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


def _noop() -> None:
    return None
