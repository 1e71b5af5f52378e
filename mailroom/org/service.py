"""Admin operations on mailboxes, people and teams: one place for the API, the pages and the CLI.

Every change is written to the audit log (:func:`mailroom.audit.log.record`) with who made it.
Checks that need the table are reported at the field they concern (:class:`FieldError`), like
the models' own validation, so a form can show the message next to the input.

Deactivating a person: their agent item is marked inactive *first* (the assignment transaction's
taking condition requires ``active``, so routing can't give them anything from then on), then each
conversation they hold in a working status (open, pending, snoozed: the ``ByAssigneeStatus``
partitions) is unassigned through :meth:`AssignmentStore.unassign`, one transaction each with its
audit event and the ``open_count`` decrement, and so goes back to its team's queue.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mailroom.assignment.errors import VersionConflictError
from mailroom.assignment.store import AssignmentStore
from mailroom.audit.log import record
from mailroom.auth.model import Role
from mailroom.auth.permissions_store import mailbox_grants
from mailroom.canned.store import get_canned
from mailroom.domain.agent import Agent, AgentStatus, OutOfOffice
from mailroom.domain.conversation import Status
from mailroom.domain.team import Team
from mailroom.inbox import directory
from mailroom.org.models import (
    MAX_RETENTION_DAYS,
    MailboxCreate,
    MailboxOut,
    MailboxPatch,
    TeamCreate,
    TeamPatch,
    UserInvite,
    UserOut,
    UserPatch,
)
from mailroom.org.provisioning import LocalProvisioner, Provisioner
from mailroom.privacy.retention import retention_days
from mailroom.schedule.model import ALWAYS_OPEN
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Table, retry_on_conflict
from mailroom.table.expressions import set_fields

WORKING_STATUSES = (Status.OPEN, Status.PENDING, Status.SNOOZED)
_UNASSIGN_ATTEMPTS = 8
_REQUEUE_ROUNDS = 5


class OrgError(Exception):
    """A refused admin operation."""


class NotFoundError(OrgError):
    pass


class ConflictError(OrgError):
    pass


class FieldError(OrgError):
    """Input that is well formed but wrong for the table: ``problems`` is ``[(field, message)]``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))
        self.problems = problems


def _check(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise FieldError(problems)


class OrgAdmin:
    def __init__(self, table: Table, *, actor: str, provisioner: Provisioner | None = None) -> None:
        self.table = table
        self.actor = actor
        self.provisioner: Provisioner = provisioner or LocalProvisioner()
        self.agents = AssignmentStore(table)

    def _audit(self, action: str, target: str, details: dict[str, Any]) -> None:
        record(self.table, actor=self.actor, action=action, target=target, details=details)

    # -- mailboxes ---------------------------------------------------------------------------------

    def list_mailboxes(self) -> list[MailboxOut]:
        items = directory.list_mailboxes(self.table)
        counts = directory.conversation_counts(self.table, [_address(item) for item in items])
        return [_mailbox_out(item, counts) for item in items]

    def get_mailbox(self, address: str) -> MailboxOut:
        item = directory.get_mailbox(self.table, address)
        if item is None:
            raise NotFoundError(f"no mailbox {address}")
        return _mailbox_out(item, directory.conversation_counts(self.table, [_address(item)]))

    def create_mailbox(self, request: MailboxCreate) -> MailboxOut:
        if directory.get_mailbox(self.table, request.address) is not None:
            raise FieldError([("address", f"{request.address} already exists")])
        self._save_mailbox(request, previous=None)
        self._audit("mailbox.create", request.address, _changes(None, request.model_dump(mode="json")))
        return self.get_mailbox(request.address)

    def update_mailbox(self, address: str, patch: MailboxPatch) -> MailboxOut:
        current = self.get_mailbox(address)
        given = patch.model_dump(mode="json", exclude_unset=True)
        merged = MailboxCreate.model_validate(
            {**current.model_dump(mode="json", include=set(MailboxCreate.model_fields)), **given}
        )
        self._save_mailbox(merged, previous=current)
        before = current.model_dump(mode="json", include=set(given))
        self._audit("mailbox.update", current.address, _changes(before, merged.model_dump(mode="json")))
        return self.get_mailbox(address)

    def set_mailbox_disabled(self, address: str, disabled: bool) -> MailboxOut:
        return self.update_mailbox(address, MailboxPatch(disabled=disabled))

    def _save_mailbox(self, request: MailboxCreate, *, previous: MailboxOut | None) -> None:
        problems: list[tuple[str, str]] = []
        taken = self._addresses_in_use(exclude=request.address)
        for alias in request.aliases:
            if alias == request.address:
                problems.append(("aliases", f"{alias} is the mailbox's own address"))
            elif alias in taken:
                problems.append(("aliases", f"{alias} is already used by {taken[alias]}"))
        if request.address in taken:
            problems.append(("address", f"{request.address} is an alias of {taken[request.address]}"))
        team = self.agents.get_team(request.team) if request.team else None
        if request.team and team is None:
            problems.append(("team", f"no team {request.team!r}"))
        if request.sla_policy:
            if team is None:
                problems.append(("sla_policy", "choose the owning team first: policies belong to a team"))
            elif team.sla_policy(request.sla_policy) is None:
                ids = ", ".join(p.id for p in team.sla_policies) or "none"
                problems.append(
                    ("sla_policy", f"team {team.id} has no policy {request.sla_policy!r} ({ids})")
                )
        if request.auto_ack and get_canned(self.table, request.auto_ack) is None:
            problems.append(("auto_ack", f"no canned response {request.auto_ack!r}"))
        unknown = self._unknown_users(request.access)
        if unknown:
            problems.append(("access", f"not a user: {', '.join(unknown)}"))
        _check(problems)
        fields = request.model_dump(mode="json", exclude={"address"})
        directory.upsert_mailbox(self.table, request.address, **fields)

    def _addresses_in_use(self, *, exclude: str) -> dict[str, str]:
        """Every mailbox address and alias except ``exclude``'s, mapped to the mailbox using it."""
        used: dict[str, str] = {}
        for item in directory.list_mailboxes(self.table):
            address = str(item.get("address") or item[schema.SK]).lower()
            if address == exclude:
                continue
            used[address] = address
            for alias in item.get("aliases") or []:
                used[str(alias).lower()] = address
        return used

    def _unknown_users(self, emails: Iterable[str]) -> list[str]:
        known = {
            str(user.get("email") or user[schema.SK]).lower() for user in directory.list_users(self.table)
        }
        return sorted(set(emails) - known)

    # -- people ------------------------------------------------------------------------------------

    def list_users(self) -> list[UserOut]:
        users = directory.list_users(self.table)
        emails = [str(user.get("email") or user[schema.SK]) for user in users]
        agents = {agent.id: agent for agent in self.agents.get_agents(emails, consistent=False)}
        return [_user_out(user, agents.get(email.lower())) for user, email in zip(users, emails, strict=True)]

    def get_user(self, email: str) -> UserOut:
        user = directory.get_user(self.table, email)
        if user is None:
            raise NotFoundError(f"no user {email}")
        return _user_out(user, self.agents.get_agent(email))

    def invite_user(self, request: UserInvite) -> UserOut:
        if directory.get_user(self.table, request.email) is not None:
            raise FieldError([("email", f"{request.email} is already a user")])
        self._check_user(request.email, request.teams, request.out_of_office)
        self.provisioner.invite(request.email, name=request.name, role=request.role.value)
        directory.upsert_user(self.table, request.email, name=request.name, role=request.role.value)
        self._set_user_active(request.email, True)
        agent = Agent(
            id=request.email,
            name=request.name,
            role=request.role.value,
            teams=request.teams,
            skills=request.skills,
            capacity=request.capacity,
            schedule=request.schedule,
            out_of_office=request.out_of_office,
        )
        self.agents.put_agent(agent)
        self._sync_memberships(request.email, old=[], new=request.teams)
        self._audit("user.invite", request.email, _changes(None, request.model_dump(mode="json")))
        return self.get_user(request.email)

    def update_user(self, email: str, patch: UserPatch) -> UserOut:
        current = self.get_user(email)
        given = patch.model_dump(mode="json", exclude_unset=True)
        teams = (
            sorted({t.strip().lower() for t in patch.teams if t.strip()}) if patch.teams is not None else None
        )
        skills = patch.skills if patch.skills is not None else current.skills
        self._check_user(current.email, teams or [], patch.out_of_office or [])
        role = patch.role or current.role
        if role is not current.role:
            self.provisioner.change_role(current.email, old_role=current.role.value, role=role.value)
        name = patch.name or current.name
        directory.upsert_user(self.table, current.email, name=name, role=role.value)
        existing = self.agents.get_agent(current.email)
        base = existing or Agent(id=current.email)
        schedule = None if patch.clear_schedule else (patch.schedule or base.schedule)
        agent = base.model_copy(
            update={
                "name": name,
                "role": role.value,
                "teams": teams if teams is not None else base.teams,
                "skills": Agent(id=current.email, skills=skills).skills,
                "capacity": patch.capacity if patch.capacity is not None else base.capacity,
                "schedule": schedule,
                "out_of_office": patch.out_of_office
                if patch.out_of_office is not None
                else base.out_of_office,
                "status": patch.status or base.status,
            }
        )
        self.agents.put_agent(agent)
        if teams is not None:
            self._sync_memberships(current.email, old=current.teams, new=teams)
        before = current.model_dump(mode="json", include=set(given))
        self._audit("user.update", current.email, _changes(before, given))
        return self.get_user(current.email)

    def set_own_presence(
        self, email: str, *, status: AgentStatus | None, out_of_office: list[OutOfOffice] | None
    ) -> UserOut:
        """An agent's own status and absences (the profile page): nothing else of theirs changes."""
        current = self.get_user(email)
        if out_of_office is not None:
            self._check_user(current.email, [], out_of_office)
        agent = self.agents.get_agent(current.email) or Agent(id=current.email, name=current.name)
        update: dict[str, Any] = {}
        if status is not None:
            update["status"] = status
        if out_of_office is not None:
            update["out_of_office"] = out_of_office
        self.agents.put_agent(agent.model_copy(update=update))
        self._audit(
            "user.presence",
            current.email,
            {
                "status": status.value if status else None,
                "out_of_office": [p.model_dump(mode="json") for p in out_of_office]
                if out_of_office is not None
                else None,
            },
        )
        return self.get_user(current.email)

    def deactivate_user(self, email: str) -> tuple[UserOut, list[str]]:
        """Mark them inactive (directory and agent), disable their sign-in, and put every
        conversation they hold in a working status back in its team's queue."""
        current = self.get_user(email)
        if current.email == self.actor.lower():
            raise FieldError([("email", "you can't deactivate yourself")])
        if current.role is Role.ADMIN and not any(
            u.role is Role.ADMIN and u.active and u.email != current.email for u in self.list_users()
        ):
            raise FieldError([("email", "the last active admin can't be deactivated")])
        agent = self.agents.get_agent(current.email)
        if agent is not None:
            self.agents.put_agent(agent.model_copy(update={"active": False}))  # first: no new work
        self._set_user_active(current.email, False)
        self.provisioner.set_enabled(current.email, False)
        requeued = self.requeue_conversations(current.email)
        self._audit("user.deactivate", current.email, {"requeued": requeued})
        return self.get_user(current.email), requeued

    def activate_user(self, email: str) -> UserOut:
        current = self.get_user(email)
        agent = self.agents.get_agent(current.email)
        if agent is not None:
            self.agents.put_agent(agent.model_copy(update={"active": True}))
        self._set_user_active(current.email, True)
        self.provisioner.set_enabled(current.email, True)
        self._audit("user.activate", current.email, {})
        return self.get_user(current.email)

    def requeue_conversations(self, agent_id: str) -> list[str]:
        """Unassign every conversation ``agent_id`` holds in a working status. The index is
        eventually consistent, so it is read again until a round finds nothing left to move; each
        conversation is re-read (consistently) before it is unassigned."""
        agent_id = agent_id.lower()
        moved: list[str] = []
        for _ in range(_REQUEUE_ROUNDS):
            moved_now = [
                cid for cid in self._held_conversation_ids(agent_id) if self._unassign(cid, agent_id)
            ]
            moved += moved_now
            if not moved_now:
                break
        return moved

    def _held_conversation_ids(self, agent_id: str) -> list[str]:
        ids: list[str] = []
        for status in WORKING_STATUSES:
            pk = keys.status_partition(keys.agent_pk(agent_id), status.value)
            items = self.table.query_all(
                key_condition=Condition("#pk = :pk", {"#pk": schema.BY_ASSIGNEE_STATUS.pk}, {":pk": pk}),
                index=schema.BY_ASSIGNEE_STATUS.name,
            )
            ids += [str(item["id"]) for item in items if item.get("id")]
        return list(dict.fromkeys(ids))

    def _unassign(self, conversation_id: str, agent_id: str) -> bool:
        for attempt in range(_UNASSIGN_ATTEMPTS):
            conv = self.agents.get_conversation(conversation_id)
            if conv is None or (conv.assignee or "").lower() != agent_id:
                return False
            try:
                self.agents.unassign(conv, actor=self.actor, reason="assignee deactivated")
                return True
            except VersionConflictError:
                retry_on_conflict(attempt)
        raise RuntimeError(f"could not requeue {conversation_id}: it kept changing")

    def _set_user_active(self, email: str, active: bool) -> None:
        self.table.update(
            {schema.PK: directory.DIRECTORY_USERS, schema.SK: email.lower()},
            set_fields("user", {"active": active}),
        )

    def _check_user(self, email: str, teams: list[str], out_of_office: list[OutOfOffice]) -> None:
        problems: list[tuple[str, str]] = []
        known_teams = {team.id for team in self.agents.list_teams()}
        missing = sorted(set(teams) - known_teams)
        if missing:
            problems.append(("teams", f"no such team: {', '.join(missing)}"))
        replacements = sorted({p.replacement for p in out_of_office if p.replacement})
        if email.lower() in replacements:
            problems.append(("out_of_office", "the replacement must be someone else"))
        unknown = self._unknown_users(r for r in replacements if r != email.lower())
        if unknown:
            problems.append(("out_of_office", f"replacement is not a user: {', '.join(unknown)}"))
        _check(problems)

    def _sync_memberships(self, email: str, *, old: list[str], new: list[str]) -> None:
        """Team items list their members (routing reads them): keep them in step with the agent's teams."""
        for team_id in sorted(set(old) ^ set(new)):
            team = self.agents.get_team(team_id)
            if team is None:
                continue
            members = set(team.members)
            if team_id in new:
                members.add(email.lower())
            else:
                members.discard(email.lower())
            self.agents.put_team(team.model_copy(update={"members": sorted(members)}))

    # -- teams -------------------------------------------------------------------------------------

    def list_teams(self) -> list[Team]:
        return self.agents.list_teams()

    def get_team(self, team_id: str) -> Team:
        team = self.agents.get_team(team_id)
        if team is None:
            raise NotFoundError(f"no team {team_id}")
        return team

    def create_team(self, request: TeamCreate) -> Team:
        if self.agents.get_team(request.id) is not None:
            raise FieldError([("id", f"team {request.id} already exists")])
        team = _team(request.id, request.model_dump(mode="json", exclude={"id"}))
        self._save_team(team, previous_members=[])
        self._audit("team.create", team.id, _changes(None, team.model_dump(mode="json")))
        return self.get_team(team.id)

    def update_team(self, team_id: str, patch: TeamPatch) -> Team:
        current = self.get_team(team_id)
        given = patch.model_dump(mode="json", exclude_unset=True)
        team = _team(current.id, {**current.model_dump(mode="json", exclude={"id"}), **given})
        self._save_team(team, previous_members=current.members)
        before = current.model_dump(mode="json", include=set(given))
        self._audit(
            "team.update", team.id, _changes(before, team.model_dump(mode="json", include=set(given)))
        )
        return self.get_team(team.id)

    def _save_team(self, team: Team, *, previous_members: list[str]) -> None:
        unknown = self._unknown_users(team.members)
        _check([("members", f"not a user: {', '.join(unknown)}")] if unknown else [])
        self.agents.put_team(team)
        users = {u.email: u for u in self.list_users()}
        for email in sorted(set(previous_members) ^ set(team.members)):
            agent = self.agents.get_agent(email)
            if agent is None:
                user = users.get(email)
                agent = Agent(
                    id=email, name=user.name if user else "", role=user.role.value if user else "agent"
                )
            teams = set(agent.teams)
            if email in team.members:
                teams.add(team.id)
            else:
                teams.discard(team.id)
            self.agents.put_agent(agent.model_copy(update={"teams": sorted(teams)}))


def _team(team_id: str, fields: dict[str, Any]) -> Team:
    """A team from settings; a team without a calendar is always open. Team-level validation
    (a default SLA that is one of its policies) surfaces at its field."""
    if fields.get("calendar") is None:
        fields["calendar"] = ALWAYS_OPEN.model_dump(mode="json")
    default = fields.get("default_sla")
    policies = [p["id"] if isinstance(p, dict) else p.id for p in fields.get("sla_policies") or []]
    if default and default not in policies:
        raise FieldError(
            [
                (
                    "default_sla",
                    f"{default!r} is not one of the team's policies ({', '.join(policies) or 'none'})",
                )
            ]
        )
    if len(policies) != len(set(policies)):
        raise FieldError([("sla_policies", "policy ids must be unique")])
    return Team.model_validate({"id": team_id, **fields})


def _address(item: dict[str, Any]) -> str:
    return str(item.get("address") or item[schema.SK])


def _mailbox_out(item: dict[str, Any], counts: dict[str, int]) -> MailboxOut:
    """``counts``: conversations on the mailboxes' counter items; the entry's own count (its
    registration, and what was counted there before the counters) is added."""
    return MailboxOut(
        address=_address(item),
        name=str(item.get("name") or ""),
        aliases=[str(a) for a in item.get("aliases") or []],
        signature=item.get("signature") if isinstance(item.get("signature"), str) else None,
        team=item.get("team") or None,
        sla_policy=item.get("sla_policy") or None,
        auto_ack=item.get("auto_ack") or None,
        access=mailbox_grants(item),
        disabled=bool(item.get("disabled", False)),
        retention_days=_retention(item),
        conversation_count=int(item.get("conversation_count") or 0) + counts.get(_address(item).lower(), 0),
        created_at=item.get("created_at"),
    )


def _retention(item: dict[str, Any]) -> int | None:
    days = retention_days(item)
    return min(days, MAX_RETENTION_DAYS) if days else None  # set by hand past the form's bound


def _user_out(user: dict[str, Any], agent: Agent | None) -> UserOut:
    email = str(user.get("email") or user[schema.SK]).lower()
    try:
        role = Role(str(user.get("role")))
    except ValueError:
        role = Role.AGENT
    agent = agent or Agent(id=email, name=str(user.get("name") or ""))
    return UserOut(
        email=email,
        name=str(user.get("name") or ""),
        role=role,
        active=user.get("active") is not False,
        teams=agent.teams,
        skills=agent.skills,
        capacity=agent.capacity,
        status=agent.status,
        schedule=agent.schedule,
        out_of_office=agent.out_of_office,
        open_count=agent.open_count,
    )


def _changes(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Any]:
    """What an audit entry says changed: ``{field: {"from": ..., "to": ...}}`` (signatures and
    other long text are recorded by length only)."""
    changes: dict[str, Any] = {}
    for name, value in after.items():
        old = (before or {}).get(name)
        if before is not None and name not in before:
            continue
        if old != value:
            changes[name] = {"from": _short(old), "to": _short(value)}
    return changes


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 200:
        return f"<{len(value)} characters>"
    if isinstance(value, float):
        return str(value)
    return value
