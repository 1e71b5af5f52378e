"""Key builders: the only place that knows how item keys are spelled."""

from __future__ import annotations

CONV = "CONV#"
META = "META"


def conversation_pk(conversation_id: str) -> str:
    return f"{CONV}{conversation_id}"


def message_sk(received_at: str, message_key: str) -> str:
    return f"MSG#{received_at}#{message_key}"


def note_sk(created_at: str, note_id: str) -> str:
    return f"NOTE#{created_at}#{note_id}"


def event_sk(at: str, event_id: str) -> str:
    return f"EVT#{at}#{event_id}"


def presence_pk(conversation_id: str) -> str:
    """Who is on a conversation: a partition of its own, so that reading the thread never reads
    presence heartbeats and a presence poll reads only the few presence items."""
    return f"PRESENCE#{conversation_id}"


def presence_sk(agent: str) -> str:
    return f"AGENT#{agent.lower()}"


def message_id_pk(message_id: str) -> str:
    """The Message-ID index: one item per (Message-ID, mailbox), so one mail to two mailboxes
    makes one conversation in each, and a redelivery to the same mailbox is a duplicate."""
    return f"MSGID#{message_id.lower()}"


def message_id_sk(mailbox: str) -> str:
    return f"MAILBOX#{mailbox.lower()}"


def mailbox_pk(address: str) -> str:
    return f"MAILBOX#{address.lower()}"


# A mailbox's conversation counter. Counting on its directory entry made every new conversation
# rewrite that entry, and the entry carries the mailbox's access map: with a thousand people on a
# busy mailbox it is about 24 KB, 48 write units per transactional update, past the 1,000 units a
# second one item can take at a million emails a day (docs/scale.md). The count lives in a few
# small items of its own, one picked at random per conversation and added up on read.
MAILBOX_COUNTER_SHARDS = 8


def mailbox_counter_pk(address: str) -> str:
    return f"MAILBOXCOUNT#{address.lower()}"


def mailbox_counter_sk(shard: int) -> str:
    return f"N#{shard}"


def status_partition(base: str, status: str) -> str:
    """One status of a partition: ``MAILBOX#<addr>#STATUS#open``, ``AGENT#<id>#STATUS#open``, ..."""
    return f"{base}#STATUS#{status}"


def queue_pk(mailbox: str) -> str:
    """A mailbox's queue: its open conversations that nobody holds (the ``ByQueue`` index)."""
    return f"{mailbox_pk(mailbox)}#QUEUE"


def sla_pk(mailbox: str) -> str:
    """A mailbox's running first-response clocks (the ``BySlaDue`` index)."""
    return f"{mailbox_pk(mailbox)}#SLA"


def contact_pk(email: str) -> str:
    return f"CONTACT#{email.lower()}"


def agent_pk(agent_id: str) -> str:
    return f"AGENT#{agent_id.lower()}"


def team_pk(team_id: str) -> str:
    return f"TEAM#{team_id}"


def activity_sort_key(last_activity_at: str, conversation_id: str) -> str:
    """Index sort key: ISO-8601 UTC timestamps sort lexically; the id breaks ties stably."""
    return f"{last_activity_at}#{conversation_id}"


def due_sort_key(due_at: str, conversation_id: str) -> str:
    """``BySlaDue`` sort key: soonest (and overdue) first when read forwards."""
    return f"{due_at}#{conversation_id}"


def user_pk(email: str) -> str:
    """A person's own partition (their @mentions)."""
    return f"USER#{email.strip().lower()}"


MENTION_PREFIX = "MENTION#"


def mention_sk(at: str, conversation_id: str, note_id: str) -> str:
    """Newest first is a reverse query on the user's partition: ISO timestamps sort lexically."""
    return f"{MENTION_PREFIX}{at}#{conversation_id}#{note_id}"


# -- team metrics (mailroom/metrics/) -------------------------------------------------------------


def metrics_pk(mailbox: str) -> str:
    """A mailbox's metric rollups: one small counter item per scope and UTC hour."""
    return f"METRICS#{mailbox.lower()}"


def metrics_hour_sk(hour: str) -> str:
    """The mailbox-wide counters of one UTC hour (``2026-11-23T14``)."""
    return f"A#{hour}"


def metrics_agent_sk(hour: str, agent: str) -> str:
    """An agent's counters in one mailbox and hour: right after the hour's own item, so one range
    query reads a period's mailbox figures and every agent's workload together."""
    return f"A#{hour}#U#{agent.lower()}"


def metrics_team_sk(team: str, hour: str) -> str:
    return f"T#{team}#{hour}"


def metrics_tag_sk(tag: str, hour: str) -> str:
    return f"G#{tag}#{hour}"


def metric_state_pk(conversation_id: str) -> str:
    """The metrics function's small state of one conversation (clocks, team, tags, applied events).
    Its own partition: reading a thread never reads it."""
    return f"METRICSTATE#{conversation_id}"


METRIC_STATE_SK = "STATE"


NOTIFY_PREFIX = "NOTIFY#"


def notification_sk(at: str, conversation_id: str, kind: str) -> str:
    """A person's in-app notification (``USER#<email>``), newest first by a reverse query."""
    return f"{NOTIFY_PREFIX}{at}#{conversation_id}#{kind}"


def autoreply_pk(mailbox: str) -> str:
    """A mailbox's automatic-reply slots, one item per sender (RFC 3834: at most one per period)."""
    return f"AUTOREPLY#{mailbox.lower()}"


def sla_warning_pk(conversation_id: str) -> str:
    """The once-per-due-time marker of an SLA breach warning."""
    return f"SLAWARN#{conversation_id}"


# -- per-use cost (mailroom/costs/) ------------------------------------------------------------------

USAGE_TOTAL = "TOTAL"  # every quantity of the day, and the metering's own (m_*)
USAGE_OVERHEAD = "OVERHEAD"  # work nobody was named for: sweeps, rollups, listings, static files
USAGE_TOP_CONVERSATIONS = "TOPCONV"  # the day's costliest conversations (a bounded board)
USAGE_ACTUAL = "ACTUAL"  # Cost Explorer's figures for the day, when compared (AWS only)
USAGE_MAILBOX, USAGE_TEAM, USAGE_AGENT = "MAILBOX#", "TEAM#", "AGENT#"


# Every invocation adds to its day's TOTAL (and a mailbox, team or overhead line): at a million
# emails a day that is hundreds of writes a second on one day's items, more than one partition
# should take (docs/scale.md). So a day's counters are spread over USAGE_SHARDS partitions, each
# invocation writing all its lines to one of them at random, and a reader sums the shards.
USAGE_SHARDS = 8


def usage_day_pk(day: str, shard: int | None = None) -> str:
    """A day's usage (``yyyy-mm-dd``, UTC as AWS bills). ``shard`` 0 to ``USAGE_SHARDS - 1``: one
    of the partitions the day's counters are spread over; None: the day's own partition (Cost
    Explorer's figures, and the counters of days recorded before they were sharded)."""
    return f"USAGE#{day}" if shard is None else f"USAGE#{day}#{shard}"


def usage_day_pks(day: str) -> list[str]:
    """Every partition holding a day's usage: the day's own, then its shards."""
    return [usage_day_pk(day), *(usage_day_pk(day, shard) for shard in range(USAGE_SHARDS))]


def conversation_usage_pk(conversation_id: str) -> str:
    """A conversation's usage per day: its own partition (like presence), so reading the thread never
    reads it, and a conversation's cost over a period is one query."""
    return f"USAGE#CONV#{conversation_id}"


def conversation_usage_sk(day: str) -> str:
    return f"DAY#{day}"


PRICES_PK = "PRICES"  # the price table: one item per version


def price_version_sk(version: int) -> str:
    return f"V#{version:010d}"


COSTS_CONFIG_PK = "COSTS#CONFIG"  # the monthly budget, the Cost Explorer run marker
