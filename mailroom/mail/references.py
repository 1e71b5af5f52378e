"""The one rule for shortening a References chain: keep the thread's root and the newest ids.

Clients thread by the root (the first id) and by the nearest ancestors (the last ones), so a chain
longer than a limit loses its middle, never its ends (RFC 5322 3.6.4 asks for the whole chain, and
RFC 5537 3.4.4 trims the same way).
"""

from __future__ import annotations


def capped_references(ids: list[str], limit: int) -> list[str]:
    """``ids`` when they fit in ``limit``; else the first and the newest ``limit - 1``."""
    if len(ids) <= limit:
        return list(ids)
    if limit <= 1:
        return ids[:limit]
    return [ids[0], *ids[-(limit - 1) :]]
