"""Conversation actions over the table: read, decide (:mod:`mailroom.actions.model`), write.

Every method takes the conversation id and an optional ``seen_version``:

* with it, the action applies only to that version; otherwise :class:`StaleVersionError` (409)
  with the conversation as it is now and what changed;
* without it, the action applies to the latest state: a write that loses a race with another one
  re-reads and decides again, a bounded number of times.

Assignment goes through :class:`~mailroom.assignment.store.AssignmentStore` (one transaction with
the agents' load counters, capacity checked on the agent item). The other writes are the
conversation at the version read, the counters its status/assignee change implies and the audit
events, in one transaction (:mod:`mailroom.actions.writes`).

Refusals: :class:`~mailroom.assignment.errors.ConversationNotFoundError`,
:class:`~mailroom.assignment.errors.AlreadyAssignedError` (``holder``),
:class:`~mailroom.assignment.errors.AgentAtCapacityError` / ``AgentInactiveError`` /
``UnknownAgentError``, :class:`~mailroom.assignment.errors.UnknownTeamError`,
:class:`~mailroom.assignment.errors.VersionConflictError` (still racing after the retries), and
those of :mod:`mailroom.actions.model` (``InvalidActionError``, ``NotPermittedError``,
``StaleVersionError``, ``ConversationMergedError``, ``MergeRefusedError``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from mailroom import clock
from mailroom.actions import writes
from mailroom.actions.merge import Merger, MergeResult
from mailroom.actions.model import (
    SYSTEM,
    Actor,
    Change,
    InvalidActionError,
    NotPermittedError,
    StatusRequest,
    check_can_change,
    normalize_tag,
    plan_status_change,
    plan_tag,
    plan_transfer,
    plan_wake,
)
from mailroom.assignment.errors import UnknownTeamError, VersionConflictError
from mailroom.assignment.store import AssignmentStore
from mailroom.auth import policy
from mailroom.auth.permissions_store import load_principal
from mailroom.domain.conversation import Conversation, Status
from mailroom.inbox.directory import list_mailboxes
from mailroom.observability import logger
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Table, retry_on_conflict

# Snoozed conversations woken per mailbox and sweep (the rest wait for the next sweep).
WAKE_PER_MAILBOX = 500


class ConversationActions:
    def __init__(self, table: Table, *, now: Callable[[], datetime] = clock.now) -> None:
        self.table = table
        self.now = now
        self.assignments = AssignmentStore(table, now=now)

    # -- reads ------------------------------------------------------------------------------------

    def get(self, conversation_id: str) -> Conversation:
        """The conversation now (a consistent read); raises ``ConversationNotFoundError``."""
        return writes.read_conversation(self.table, conversation_id)

    # -- assignment -------------------------------------------------------------------------------

    def claim(self, conversation_id: str, actor: Actor, *, seen_version: int | None = None) -> Conversation:
        """``actor`` takes the conversation if nobody holds it (idempotent for the holder), within
        their capacity. ``AlreadyAssignedError`` names whoever has it."""
        check_can_change(self.get(conversation_id))
        try:
            return self.assignments.claim(conversation_id, actor.email, seen_version=seen_version)
        except VersionConflictError:
            raise self._stale_or(conversation_id, seen_version) from None

    def assign(
        self,
        conversation_id: str,
        agent_id: str,
        actor: Actor,
        *,
        seen_version: int | None = None,
        force: bool = False,
    ) -> Conversation:
        """Give the conversation to ``agent_id`` (reassigning it if someone has it). The agent must
        be a user who may work in the mailbox and, unless an admin forces it, have room."""
        if force and not actor.is_admin:
            raise NotPermittedError("only admins can assign past an agent's capacity (force)")
        agent_id = agent_id.strip().lower()

        def step(conv: Conversation) -> Conversation:
            check_can_change(conv)
            self._check_may_work(agent_id, conv.mailbox)
            return self.assignments.assign(
                conv,
                agent_id,
                actor=actor.email,
                reason=f"assigned by {actor.email}" + (" (over capacity)" if force else ""),
                strategy="manual",
                only_if_unassigned=False,
                respect_capacity=not force,
            )

        return self._apply(conversation_id, seen_version, step)

    def unassign(
        self, conversation_id: str, actor: Actor, *, seen_version: int | None = None
    ) -> Conversation:
        def step(conv: Conversation) -> Conversation:
            check_can_change(conv)
            return self.assignments.unassign(conv, actor=actor.email, reason=f"unassigned by {actor.email}")

        return self._apply(conversation_id, seen_version, step)

    def transfer(
        self, conversation_id: str, team_id: str, actor: Actor, *, seen_version: int | None = None
    ) -> Conversation:
        """Move to another team; an assignee who is not a member of it is unassigned."""
        team = self.assignments.get_team(team_id)
        if team is None:
            raise UnknownTeamError(team_id)
        return self._apply(
            conversation_id, seen_version, lambda conv: self._write(conv, plan_transfer(conv, team), actor)
        )

    # -- tags and status --------------------------------------------------------------------------

    def tag(
        self, conversation_id: str, tag: str, actor: Actor, *, seen_version: int | None = None
    ) -> Conversation:
        normalized = _tag(tag)
        return self._apply(
            conversation_id,
            seen_version,
            lambda conv: self._write(conv, plan_tag(conv, normalized, add=True), actor),
        )

    def untag(
        self, conversation_id: str, tag: str, actor: Actor, *, seen_version: int | None = None
    ) -> Conversation:
        normalized = _tag(tag)
        return self._apply(
            conversation_id,
            seen_version,
            lambda conv: self._write(conv, plan_tag(conv, normalized, add=False), actor),
        )

    def set_status(self, conversation_id: str, request: StatusRequest, actor: Actor) -> Conversation:
        """Open, pending, snoozed until ``request.snooze_until`` (in the future), or closed."""
        return self._apply(
            conversation_id,
            request.seen_version,
            lambda conv: self._write(conv, plan_status_change(conv, request, self.now()), actor),
        )

    # -- snooze wake-up (the scheduled sweep) -----------------------------------------------------

    def wake_due(self, *, per_mailbox: int = WAKE_PER_MAILBOX) -> list[str]:
        """Open every snoozed conversation whose time has come; returns their ids.

        No scan: for each mailbox of the directory, one query on the ``ByMailboxStatus`` partition
        ``MAILBOX#<address>#STATUS#snoozed`` (only snoozed conversations are in it), filtered on
        ``snoozed_until <= now``. Each is re-read consistently and written at its version, so a
        conversation reopened by mail or by an agent meanwhile is left alone.
        """
        now = self.now()
        woken: list[str] = []
        for entry in list_mailboxes(self.table):
            address = str(entry.get("address") or entry[schema.SK])
            due = self.table.query_all(
                key_condition=Condition(
                    "#pk = :pk",
                    {"#pk": schema.BY_MAILBOX_STATUS.pk},
                    {":pk": f"{keys.mailbox_pk(address)}#STATUS#{Status.SNOOZED.value}"},
                ),
                index=schema.BY_MAILBOX_STATUS.name,
                filter_=Condition(
                    "attribute_not_exists(#until) OR #until <= :now",
                    {"#until": "snoozed_until"},
                    {":now": clock.iso(now)},
                ),
                max_items=per_mailbox,
            )
            for item in due:
                conversation_id = str(item["id"])
                try:
                    if self._wake(conversation_id, now):
                        woken.append(conversation_id)
                except Exception:  # one bad conversation must not stop the sweep
                    logger.exception("could not wake a snoozed conversation", conversation_id=conversation_id)
        if woken:
            logger.info("woke snoozed conversations", count=len(woken))
        return woken

    def _wake(self, conversation_id: str, now: datetime) -> bool:
        for attempt in range(writes.MAX_ATTEMPTS):
            conv = self.get(conversation_id)
            change = plan_wake(conv, now)
            if change is None:
                return False
            try:
                self._commit(conv, change, SYSTEM)
                return True
            except VersionConflictError:
                retry_on_conflict(attempt)
        return False

    # -- merge ------------------------------------------------------------------------------------

    def merge(
        self, conversation_id: str, into: str, actor: Actor, *, seen_version: int | None = None
    ) -> MergeResult:
        """Merge ``conversation_id`` into ``into`` (see :mod:`mailroom.actions.merge`). Calling it
        again after a failure finishes the merge without duplicating anything."""
        return Merger(self.table, now=self.now).merge(
            conversation_id, into, actor=actor.email, seen_version=seen_version
        )

    # -- helpers ----------------------------------------------------------------------------------

    def _apply(
        self, conversation_id: str, seen_version: int | None, step: Callable[[Conversation], Conversation]
    ) -> Conversation:
        """Read, check ``seen_version``, run ``step``; on a lost race, re-read and run it again
        (only without ``seen_version``: with one, the answer is the 409 with the current state)."""
        for attempt in range(writes.MAX_ATTEMPTS):
            conv = self.get(conversation_id)
            if seen_version is not None and conv.version != seen_version:
                raise writes.stale_error(self.table, conv, seen_version)
            try:
                return step(conv)
            except VersionConflictError:
                if seen_version is not None:
                    raise self._stale_or(conversation_id, seen_version) from None
                retry_on_conflict(attempt)
        raise VersionConflictError(conversation_id, seen_version or 0)

    def _stale_or(self, conversation_id: str, seen_version: int | None) -> Exception:
        """The 409 for a request at ``seen_version`` that lost to a concurrent write."""
        current = self.get(conversation_id)
        if seen_version is None or current.version == seen_version:
            return VersionConflictError(conversation_id, seen_version or current.version, current.version)
        return writes.stale_error(self.table, current, seen_version)

    def _write(self, conv: Conversation, change: Change | None, actor: Actor) -> Conversation:
        if change is None:
            return conv  # nothing to change: no write, no event
        self._commit(conv, change, actor)
        return change.conversation

    def _commit(self, conv: Conversation, change: Change, actor: Actor) -> None:
        at = clock.iso(self.now())
        writes.commit(self.table, conv, writes.change_actions(conv, change, actor=actor.email, at=at))

    def _check_may_work(self, agent_id: str, mailbox: str) -> None:
        principal = load_principal(self.table, agent_id)
        if principal is None or not policy.can_act(principal, mailbox):
            raise InvalidActionError(f"{agent_id} can't work on conversations in {mailbox}")


def _tag(value: str) -> str:
    try:
        return normalize_tag(value)
    except ValueError as exc:
        raise InvalidActionError(str(exc)) from exc
