"""Dependencies of the reply function, built once per Lambda container."""

from __future__ import annotations

from functools import lru_cache

from mailroom.outbound.sender import MailSender, sender_from_settings
from mailroom.replies.service import ReplyService
from mailroom.settings import get_settings
from mailroom.storage import BlobStore, open_store
from mailroom.table.client import Table, table_from_settings


@lru_cache(maxsize=1)
def table() -> Table:
    return table_from_settings(get_settings())


@lru_cache(maxsize=1)
def store() -> BlobStore:
    return open_store(get_settings().raw_store_url)


@lru_cache(maxsize=1)
def sender() -> MailSender:
    return sender_from_settings(get_settings())


@lru_cache(maxsize=1)
def replies() -> ReplyService:
    return ReplyService(table(), sender(), get_settings(), store=store())


def reset() -> None:
    for cached in (table, store, sender, replies):
        cached.cache_clear()
