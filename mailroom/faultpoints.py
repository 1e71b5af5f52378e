"""Named points between two writes, where the sandbox and the fault tests inject failures.

Product code calls :func:`checkpoint` at each point (``ingest.after_commit``, ...). Nothing arms a
hook in a deployed function, so there every call is one ``is None`` test. The sandbox's fault
injection (``sandbox/faults.py``) arms one: it may raise there, standing for the function dying
between two writes (or, at ``outbox.after_write``, for SES accepting a mail whose answer is lost).
The tests find every point by reading the calls in the source, so a new one is tested as soon as
it is written.
"""

from __future__ import annotations

from collections.abc import Callable

Hook = Callable[[str], None]

_hook: Hook | None = None


def checkpoint(name: str) -> None:
    """Mark a point between two writes; the armed hook (if any) may raise here."""
    if _hook is not None:
        _hook(name)


def arm(hook: Hook | None) -> None:
    """Install ``hook`` for every later :func:`checkpoint` in this process (None disarms)."""
    global _hook  # noqa: PLW0603 - one hook per process, like the faults it stands for
    _hook = hook
