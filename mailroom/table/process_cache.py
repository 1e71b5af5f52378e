"""Reads a process (a Lambda container) may reuse for a few seconds.

The directory (mailboxes, teams) is read on every API request, every ingest and every routed
message, and it changes a few times a day. At scale its partitions are the first read hot spot
(docs/scale.md), so those paths keep the last read for ``MAILROOM_DIRECTORY_CACHE_SECONDS``: a
change made in this process is seen at once (:meth:`ProcessCache.forget`), one made in another
container within that many seconds. ``max_age_s`` 0 reads every time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from time import monotonic
from typing import Any, TypeVar, cast

T = TypeVar("T")


class ProcessCache:
    """Values by key, each reused while younger than the caller's ``max_age_s``."""

    def __init__(self, clock: Callable[[], float] = monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._values: dict[str, tuple[float, Any]] = {}

    def get(self, key: str, max_age_s: float, load: Callable[[], T]) -> T:
        """The value kept under ``key`` if younger than ``max_age_s``, else ``load()`` (kept).
        Callers must treat the value as read-only: it is shared with every later caller."""
        if max_age_s <= 0:
            return load()
        with self._lock:
            kept = self._values.get(key)
        if kept is not None and self.clock() - kept[0] < max_age_s:
            return cast(T, kept[1])
        read_at = self.clock()  # before the read: a change made during it is not hidden longer
        value = load()
        with self._lock:
            self._values[key] = (read_at, value)
        return value

    def forget(self) -> None:
        """Drop every kept value (this process changed what they were read from)."""
        with self._lock:
            self._values.clear()


# The mailbox and team directory, shared by everything in this process that reads it.
directory_cache = ProcessCache()
