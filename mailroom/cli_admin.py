"""``mailroom mailboxes|users|teams``: run the organisation from the command line.

Against a running sandbox (its ``.data`` directory) or a deployed stack (``MAILROOM_TABLE_NAME``,
``MAILROOM_REGION``, and for invitations ``MAILROOM_AUTH_MODE=cognito`` with
``MAILROOM_COGNITO_USER_POOL_ID``), like ``mailroom rules``. Changes are audited as ``--actor``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mailroom.cli_config import use_sandbox_if_running

if TYPE_CHECKING:
    from mailroom.org.service import OrgAdmin

T = TypeVar("T")
ACCESS_LEVELS = ("full", "send_as", "send_on_behalf", "read_only")

_data_dir = click.option(
    "--data-dir",
    default=".data",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A running sandbox's data directory (ignored when MAILROOM_DYNAMODB_ENDPOINT is set).",
)
_actor = click.option(
    "--actor", default="cli", show_default=True, help="Who is making the change (audit log)."
)


def _configure(data_dir: Path) -> None:
    if use_sandbox_if_running(data_dir):
        # The sandbox signs people in itself: invitations create them in the directory only.
        os.environ.setdefault("MAILROOM_AUTH_MODE", "local")
        from mailroom.settings import reset_settings_cache

        reset_settings_cache()


def _service(actor: str) -> OrgAdmin:
    from mailroom.org.provisioning import provisioner_from_settings
    from mailroom.org.service import OrgAdmin
    from mailroom.table.client import table_from_settings

    return OrgAdmin(table_from_settings(), actor=actor, provisioner=provisioner_from_settings())


def run_admin(action: Callable[[], T]) -> T:
    """Refusals as one line per field, exit status 1."""
    from pydantic import ValidationError

    from mailroom.org.provisioning import ProvisioningError
    from mailroom.org.service import FieldError, OrgError

    try:
        return action()
    except FieldError as exc:
        raise click.ClickException(
            "; ".join(f"{field}: {message}" for field, message in exc.problems)
        ) from exc
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in error['loc']) or 'input'}: "
            + str(error["msg"]).removeprefix("Value error, ")
            for error in exc.errors()
        ]
        raise click.ClickException("; ".join(problems)) from exc
    except (OrgError, ProvisioningError) as exc:
        raise click.ClickException(str(exc)) from exc


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def _access(pairs: tuple[str, ...]) -> dict[str, str]:
    """``--access sam@acme.test=full`` (``=none`` revokes)."""
    access: dict[str, str] = {}
    for pair in pairs:
        email, sep, level = pair.partition("=")
        if not sep or (level not in ACCESS_LEVELS and level != "none"):
            raise click.BadParameter(
                f"{pair!r}: use EMAIL=LEVEL, LEVEL one of {', '.join(ACCESS_LEVELS)}, none"
            )
        access[email.strip().lower()] = level
    return access


def _read_text(path: Path | None) -> str | None:
    return path.read_text() if path else None


# -- mailboxes --------------------------------------------------------------------------------------


@click.group()
@_data_dir
def mailboxes(data_dir: Path) -> None:
    """Mailboxes: list, add, edit, disable, enable."""
    _configure(data_dir)


@mailboxes.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def mailboxes_list(as_json: bool) -> None:
    """Every mailbox."""
    found = _service("cli").list_mailboxes()
    if as_json:
        _echo_json([m.model_dump(mode="json") for m in found])
        return
    for m in found:
        state = "disabled" if m.disabled else "receiving"
        aliases = f" (aliases: {', '.join(m.aliases)})" if m.aliases else ""
        click.echo(f"{m.address}\t{m.name}\tteam={m.team or '-'}\t{state}{aliases}")


def _mailbox_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--name", help="Display name."),
            click.option("--alias", "aliases", multiple=True, help="An alias address (repeat)."),
            click.option(
                "--signature-file", type=click.Path(dir_okay=False, path_type=Path), help="A template."
            ),
            click.option("--team", help="The owning team's id."),
            click.option("--sla-policy", help="One of the team's SLA policy ids."),
            click.option("--auto-ack", help="A canned response id for the automatic acknowledgement."),
            click.option(
                "--access", multiple=True, help="EMAIL=LEVEL (full, send_as, send_on_behalf, read_only)."
            ),
            click.option(
                "--retention-days",
                type=click.IntRange(min=0),
                help="Purge raw mail and bodies of conversations inactive for longer (0: keep forever).",
            ),
        ]
    ):
        func = option(func)
    return func


@mailboxes.command("add")
@click.argument("address")
@_mailbox_options
@_actor
def mailboxes_add(
    *,
    address: str,
    name: str | None,
    aliases: tuple[str, ...],
    signature_file: Path | None,
    team: str | None,
    sla_policy: str | None,
    auto_ack: str | None,
    access: tuple[str, ...],
    retention_days: int | None,
    actor: str,
) -> None:
    """Create a mailbox."""
    from mailroom.org.models import MailboxCreate

    def create() -> Any:
        request = MailboxCreate.model_validate(
            {
                "address": address,
                "name": name or "",
                "aliases": list(aliases),
                "signature": _read_text(signature_file),
                "team": team,
                "sla_policy": sla_policy,
                "auto_ack": auto_ack,
                "access": {k: v for k, v in _access(access).items() if v != "none"},
                "retention_days": retention_days or None,
            }
        )
        return _service(actor).create_mailbox(request)

    created = run_admin(create)
    click.echo(f"created {created.address}")


@mailboxes.command("edit")
@click.argument("address")
@_mailbox_options
@click.option("--clear-aliases", is_flag=True, help="Remove every alias (before adding --alias ones).")
@click.option("--enable", "enable", flag_value=True, default=None, help="Accept mail again.")
@_actor
def mailboxes_edit(
    *,
    address: str,
    name: str | None,
    aliases: tuple[str, ...],
    signature_file: Path | None,
    team: str | None,
    sla_policy: str | None,
    auto_ack: str | None,
    access: tuple[str, ...],
    retention_days: int | None,
    clear_aliases: bool,
    enable: bool | None,
    actor: str,
) -> None:
    """Change a mailbox's settings (only the options given). ``--team ''`` clears the team."""
    from mailroom.org.models import MailboxPatch

    def edit() -> Any:
        service = _service(actor)
        current = service.get_mailbox(address)
        patch: dict[str, Any] = {}
        if name is not None:
            patch["name"] = name
        if aliases or clear_aliases:
            patch["aliases"] = [*([] if clear_aliases else current.aliases), *aliases]
        if signature_file is not None:
            patch["signature"] = _read_text(signature_file)
        for field, value in (("team", team), ("sla_policy", sla_policy), ("auto_ack", auto_ack)):
            if value is not None:
                patch[field] = value
        if access:
            merged = {email: level.value for email, level in current.access.items()}
            for email, level in _access(access).items():
                if level == "none":
                    merged.pop(email, None)
                else:
                    merged[email] = level
            patch["access"] = merged
        if retention_days is not None:
            patch["retention_days"] = retention_days or None
        if enable:
            patch["disabled"] = False
        return service.update_mailbox(address, MailboxPatch.model_validate(patch))

    updated = run_admin(edit)
    click.echo(f"updated {updated.address}")


def _set_disabled(address: str, actor: str, *, disabled: bool) -> None:
    run_admin(lambda: _service(actor).set_mailbox_disabled(address, disabled))
    if disabled:
        click.echo(f"disabled {address.lower()}: new mail to it (and its aliases) is refused")
    else:
        click.echo(f"enabled {address.lower()}: it accepts mail again")


@mailboxes.command("disable")
@click.argument("address")
@_actor
def mailboxes_disable(address: str, actor: str) -> None:
    """Refuse new mail to a mailbox (its conversations stay)."""
    _set_disabled(address, actor, disabled=True)


@mailboxes.command("enable")
@click.argument("address")
@_actor
def mailboxes_enable(address: str, actor: str) -> None:
    """Accept mail to a disabled mailbox again."""
    _set_disabled(address, actor, disabled=False)


# -- users ------------------------------------------------------------------------------------------


@click.group()
@_data_dir
def users(data_dir: Path) -> None:
    """People: list, invite, set-role, deactivate, activate."""
    _configure(data_dir)


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def users_list(as_json: bool) -> None:
    """Every user."""
    found = _service("cli").list_users()
    if as_json:
        _echo_json([u.model_dump(mode="json") for u in found])
        return
    for u in found:
        state = u.status.value if u.active else "deactivated"
        click.echo(f"{u.email}\t{u.name}\t{u.role.value}\tteams={','.join(u.teams) or '-'}\t{state}")


@users.command("invite")
@click.argument("email")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["admin", "agent", "finance"]), default="agent", show_default=True)
@click.option("--team", "teams", multiple=True, help="A team id (repeat).")
@click.option("--skill", "skills", multiple=True, help="A skill (repeat).")
@click.option("--capacity", type=int, default=10, show_default=True)
@_actor
def users_invite(
    *,
    email: str,
    name: str,
    role: str,
    teams: tuple[str, ...],
    skills: tuple[str, ...],
    capacity: int,
    actor: str,
) -> None:
    """Invite someone (on AWS Cognito emails them a temporary password)."""
    from mailroom.org.models import UserInvite

    def invite() -> Any:
        request = UserInvite.model_validate(
            {
                "email": email,
                "name": name,
                "role": role,
                "teams": list(teams),
                "skills": list(skills),
                "capacity": capacity,
            }
        )
        return _service(actor).invite_user(request)

    user = run_admin(invite)
    click.echo(f"invited {user.email} as {user.role.value}")


@users.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(["admin", "agent", "finance"]))
@_actor
def users_set_role(email: str, role: str, actor: str) -> None:
    """Change someone's role."""
    from mailroom.org.models import UserPatch

    user = run_admin(lambda: _service(actor).update_user(email, UserPatch.model_validate({"role": role})))
    click.echo(f"{user.email} is now {user.role.value}")


@users.command("deactivate")
@click.argument("email")
@_actor
def users_deactivate(email: str, actor: str) -> None:
    """Deactivate someone; their open conversations go back to their team's queue."""
    user, requeued = run_admin(lambda: _service(actor).deactivate_user(email))
    click.echo(f"deactivated {user.email}; {len(requeued)} conversation(s) back in the queue")
    for conversation_id in requeued:
        click.echo(f"  {conversation_id}")


@users.command("activate")
@click.argument("email")
@_actor
def users_activate(email: str, actor: str) -> None:
    """Reactivate someone who was deactivated: they can sign in and get work again."""
    user = run_admin(lambda: _service(actor).activate_user(email))
    click.echo(f"reactivated {user.email}")


# -- teams ------------------------------------------------------------------------------------------


@click.group()
@_data_dir
def teams(data_dir: Path) -> None:
    """Teams: list, add, edit."""
    _configure(data_dir)


@teams.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def teams_list(as_json: bool) -> None:
    """Every team."""
    found = _service("cli").list_teams()
    if as_json:
        _echo_json([t.model_dump(mode="json") for t in found])
        return
    for t in found:
        click.echo(f"{t.id}\t{t.name}\t{t.strategy.value}\tmembers={','.join(t.members) or '-'}")


def _team_file(path: Path | None) -> dict[str, Any]:
    """``--from-json FILE``: calendar, SLA policies and the rest as the API takes them."""
    if path is None:
        return {}
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise click.BadParameter("the file must hold a JSON object")
    return data


@teams.command("add")
@click.argument("team_id")
@click.option("--name", required=True)
@click.option(
    "--strategy", type=click.Choice(["manual", "round_robin", "least_loaded", "skills"]), default="manual"
)
@click.option("--member", "members", multiple=True, help="An agent's email (repeat).")
@click.option("--from-json", type=click.Path(dir_okay=False, path_type=Path), help="More settings (JSON).")
@_actor
def teams_add(
    *, team_id: str, name: str, strategy: str, members: tuple[str, ...], from_json: Path | None, actor: str
) -> None:
    """Create a team."""
    from mailroom.org.models import TeamCreate

    def create() -> Any:
        fields = {**_team_file(from_json), "id": team_id, "name": name, "strategy": strategy}
        if members:
            fields["members"] = list(members)
        return _service(actor).create_team(TeamCreate.model_validate(fields))

    team = run_admin(create)
    click.echo(f"created team {team.id}")


@teams.command("edit")
@click.argument("team_id")
@click.option("--name")
@click.option("--strategy", type=click.Choice(["manual", "round_robin", "least_loaded", "skills"]))
@click.option("--member", "members", multiple=True, help="The members (repeat; replaces the list).")
@click.option("--from-json", type=click.Path(dir_okay=False, path_type=Path), help="More settings (JSON).")
@_actor
def teams_edit(
    *,
    team_id: str,
    name: str | None,
    strategy: str | None,
    members: tuple[str, ...],
    from_json: Path | None,
    actor: str,
) -> None:
    """Change a team's settings (only the options given)."""
    from mailroom.org.models import TeamPatch

    def edit() -> Any:
        fields = _team_file(from_json)
        for field, value in (("name", name), ("strategy", strategy)):
            if value is not None:
                fields[field] = value
        if members:
            fields["members"] = list(members)
        return _service(actor).update_team(team_id, TeamPatch.model_validate(fields))

    team = run_admin(edit)
    click.echo(f"updated team {team.id}")
