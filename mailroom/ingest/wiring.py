"""Builds the ingest service from settings (once per Lambda container)."""

from __future__ import annotations

from functools import lru_cache

from mailroom.ingest.repository import IngestRepository
from mailroom.ingest.service import Ingestor
from mailroom.settings import get_settings
from mailroom.storage import open_store
from mailroom.table.client import table_from_settings


@lru_cache(maxsize=1)
def ingestor() -> Ingestor:
    settings = get_settings()
    return Ingestor(
        repository=IngestRepository(table_from_settings(settings)),
        store=open_store(settings.raw_store_url),
        settings=settings,
    )
