"""Builds the router from settings (once per Lambda container)."""

from __future__ import annotations

from functools import lru_cache

from mailroom.outbound.sender import sender_from_settings
from mailroom.routing.rules_store import RuleCache
from mailroom.routing.service import Router
from mailroom.settings import get_settings
from mailroom.table.client import table_from_settings


@lru_cache(maxsize=1)
def router() -> Router:
    settings = get_settings()
    table = table_from_settings(settings)
    return Router(
        table=table,
        rules=RuleCache(table, ttl=settings.rules_cache_seconds),
        sender=sender_from_settings(settings),
        settings=settings,
    )
