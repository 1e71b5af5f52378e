"""The retention policy: raw mail and bodies of old conversations are purged by the scheduled job.

Setting: ``retention_days`` (a positive integer) on the mailbox's directory entry (``DIR#MAILBOX`` /
``<address>``); absent, zero or invalid means "keep forever".

Semantics: a conversation whose **last activity** is more than ``retention_days`` days ago is
purged as a whole (a conversation still in use keeps its bodies, however old its first message):

* the raw store: each message's raw mail, large body (``bodies/...``) and attachment bytes;
* each message item keeps its metadata (addresses, subject, dates, flags, verdicts, sizes,
  attachment names and hashes) but loses its ``text``/``html`` and ``body_ref``/``raw_key``, and
  gets ``purged_at``;
* the conversation item keeps its metadata and gets ``purged_at`` (its ``snippet`` is emptied),
  written only while its last activity is the one that was read;
* notes, audit events, metric rollups and cost counters stay.

A conversation that becomes active again after a purge keeps its older messages purged and is
purged again (its newer messages) once it is old in turn.

Finding old conversations without a scan: the ``ByMailbox`` index sorts a mailbox's conversations
by last activity, so "older than the cutoff" is one range query, oldest first. A per-mailbox
watermark (``RETENTION`` / ``MAILBOX#<address>``: ``through`` = the last sort key dealt with) lets
the next run start where this one stopped instead of re-reading purged conversations. Bounded:
at most ``max_conversations`` per run across mailboxes; the next run (every schedule tick) goes on.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from mailroom import clock
from mailroom.inbox.directory import list_mailboxes
from mailroom.observability import logger
from mailroom.storage.base import BlobNotFoundError, BlobStore, open_store
from mailroom.table import keys, schema
from mailroom.table.client import Condition, ConditionFailedError, Table, partition

Item = dict[str, Any]

RETENTION_ATTRIBUTE = "retention_days"
WATERMARK_PK = "RETENTION"
MAX_CONVERSATIONS_PER_RUN = 100
_LOWEST_SORT_KEY = "0"  # below every ISO timestamp


@dataclass
class PurgeReport:
    conversations: int = 0
    messages: int = 0
    blobs: int = 0
    mailboxes: dict[str, int] = field(default_factory=dict)
    more: bool = False


def retention_days(mailbox: Item) -> int | None:
    value = mailbox.get(RETENTION_ATTRIBUTE)
    try:
        days = int(value) if value is not None and not isinstance(value, bool) else 0
    except (TypeError, ValueError):
        return None
    return days if days > 0 else None


def watermark_key(mailbox: str) -> Item:
    return {schema.PK: WATERMARK_PK, schema.SK: keys.mailbox_pk(mailbox)}


def purge_expired(
    table: Table,
    store: BlobStore,
    *,
    now: datetime | None = None,
    max_conversations: int = MAX_CONVERSATIONS_PER_RUN,
) -> PurgeReport:
    """One bounded run over every mailbox with a retention policy."""
    moment = now or clock.now()
    report = PurgeReport()
    budget = max_conversations
    for mailbox in list_mailboxes(table):
        days = retention_days(mailbox)
        address = str(mailbox.get("address") or mailbox.get(schema.SK) or "").lower()
        if days is None or not address:
            continue
        if budget <= 0:
            report.more = True
            break
        purged, exhausted = _purge_mailbox(
            table,
            store,
            address,
            cutoff=clock.iso(moment - timedelta(days=days)),
            moment=moment,
            budget=budget,
            report=report,
        )
        budget -= purged
        report.more = report.more or not exhausted
        if purged:
            report.mailboxes[address] = purged
    if report.conversations:
        logger.info(
            "retention purge",
            conversations=report.conversations,
            messages=report.messages,
            blobs=report.blobs,
        )
    return report


def _purge_mailbox(
    table: Table,
    store: BlobStore,
    address: str,
    *,
    cutoff: str,
    moment: datetime,
    budget: int,
    report: PurgeReport,
) -> tuple[int, bool]:
    """Purge up to ``budget`` conversations of one mailbox; returns (how many read, all done)."""
    mark = table.get(watermark_key(address), consistent=True)
    through = str(mark["through"]) if mark and mark.get("through") else _LOWEST_SORT_KEY
    if through > cutoff:
        return 0, True
    page = table.query(
        key_condition=Condition(
            "#pk = :pk AND #sk BETWEEN :from AND :to",
            {"#pk": schema.BY_MAILBOX.pk, "#sk": schema.BY_MAILBOX.sk},
            {":pk": keys.mailbox_pk(address), ":from": through, ":to": cutoff},
        ),
        index=schema.BY_MAILBOX.name,
        forward=True,
        limit=budget,
    )
    handled = 0
    last = through
    for item in page.items:
        if item.get("entity") == "conversation" and not _already_purged(item):
            purge_conversation(
                table,
                store,
                str(item["id"]),
                last_activity_at=str(item.get("last_activity_at", "")),
                moment=moment,
                report=report,
            )
        handled += 1
        last = str(item[schema.BY_MAILBOX.sk])
    if last != through:
        table.put(
            {**watermark_key(address), "entity": "retention_mark", "through": last, "at": clock.iso(moment)}
        )
    return handled, page.last_key is None


def _already_purged(item: Item) -> bool:
    purged_at = item.get("purged_at")
    return bool(purged_at) and str(purged_at) >= str(item.get("last_activity_at", ""))


def purge_conversation(
    table: Table,
    store: BlobStore,
    conversation_id: str,
    *,
    last_activity_at: str,
    moment: datetime,
    report: PurgeReport,
) -> None:
    """Purge one conversation's bodies, raw mail and attachments (see the module)."""
    at = clock.iso(moment)
    items = table.query_all(key_condition=partition(keys.conversation_pk(conversation_id)), consistent=True)
    for item in items:
        if item.get("entity") != "message" or item.get("purged_at"):
            continue
        blobs = [str(k) for k in (item.get("raw_key"), item.get("body_ref")) if k]
        blobs += [str(a["key"]) for a in item.get("attachments") or [] if a.get("key")]
        for blob in blobs:
            with contextlib.suppress(BlobNotFoundError):
                store.delete(blob)
        try:
            table.update(
                {schema.PK: item[schema.PK], schema.SK: item[schema.SK]},
                Condition(
                    "SET #text = :empty, #purged = :at REMOVE #html, #ref, #raw",
                    {
                        "#text": "text",
                        "#purged": "purged_at",
                        "#html": "html",
                        "#ref": "body_ref",
                        "#raw": "raw_key",
                    },
                    {":empty": "", ":at": at},
                ),
                Condition("attribute_exists(#pk)", {"#pk": schema.PK}),
            )
        except ConditionFailedError:
            continue  # erased meanwhile
        report.messages += 1
        report.blobs += len(blobs)
    with contextlib.suppress(ConditionFailedError):  # new activity meanwhile: purged again once old
        table.update(
            {schema.PK: keys.conversation_pk(conversation_id), schema.SK: keys.META},
            Condition(
                "SET #purged = :at, #snippet = :empty",
                {"#purged": "purged_at", "#snippet": "snippet"},
                {":at": at, ":empty": ""},
            ),
            Condition("#last = :last", {"#last": "last_activity_at"}, {":last": last_activity_at}),
        )
    report.conversations += 1


@lru_cache(maxsize=2)
def raw_store(url: str) -> BlobStore:
    """The raw store of a URL, opened once per process (the scheduled sweep calls this each run)."""
    return open_store(url)
