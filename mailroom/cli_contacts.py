"""``mailroom contacts``: data protection from the command line (export, erase a contact)."""

from __future__ import annotations

import getpass
from pathlib import Path

import click

from mailroom.cli_config import sandbox_data_dir, use_sandbox_if_running


@click.group()
@sandbox_data_dir
def contacts(data_dir: Path) -> None:
    """Contacts' data: export everything about one, or erase it (GDPR)."""
    use_sandbox_if_running(data_dir)


@contacts.command("export")
@click.argument("email")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--actor", default=None, help="Who is exporting (audit log); default: the OS user.")
def export_contact(email: str, output: Path, actor: str | None) -> None:
    """Write a zip with contact.json and the contact's raw mail and attachments."""
    from mailroom.audit.log import CONTACT_EXPORTED, contact_ref, record
    from mailroom.privacy.export import collect_contact
    from mailroom.settings import get_settings
    from mailroom.storage import open_store
    from mailroom.table.client import table_from_settings

    table = table_from_settings()
    export = collect_contact(table, open_store(get_settings().raw_store_url), email)
    if export is None:
        raise click.ClickException(f"no contact {email}")
    data = export.to_zip()
    output.write_bytes(data)
    record(
        table,
        actor=actor or f"cli:{getpass.getuser()}",
        action=CONTACT_EXPORTED,
        target=contact_ref(email),
        details={"conversations": len(export.document["conversations"]), "bytes": len(data)},
    )
    click.echo(f"{output}: {len(export.document['conversations'])} conversations, {len(export.files)} files")


@contacts.command("delete")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--actor", default=None, help="Who is erasing (audit log); default: the OS user.")
def delete_contact(email: str, yes: bool, actor: str | None) -> None:
    """Erase a contact's mail from the table and the raw store (a tombstone stays in the audit log)."""
    from mailroom.privacy.erase import erase_contact
    from mailroom.settings import get_settings
    from mailroom.storage import open_store
    from mailroom.table.client import table_from_settings

    if not yes:
        click.confirm(f"Erase everything about {email}? This cannot be undone", abort=True)
    table = table_from_settings()
    store = open_store(get_settings().raw_store_url)
    for _ in range(1000):  # each call erases a bounded number of conversations
        report = erase_contact(table, store, email, actor=actor or f"cli:{getpass.getuser()}")
        click.echo(
            f"{'erased' if report.found else 'nothing stored'}: {report.conversations} conversations, "
            f"{report.messages} messages, {report.blobs} files"
        )
        if report.complete:
            click.echo(f"tombstone: {report.contact}")
            return
    raise click.ClickException("still not complete: run the command again")


@click.group()
@sandbox_data_dir
def retention(data_dir: Path) -> None:
    """The retention policy: purge raw mail and bodies of conversations older than N days."""
    use_sandbox_if_running(data_dir)


@retention.command("set")
@click.argument("mailbox")
@click.argument("days", type=click.IntRange(min=0))
@click.option("--actor", default="cli", show_default=True, help="Who is making the change (audit log).")
def set_retention(mailbox: str, days: int, actor: str) -> None:
    """Set a mailbox's ``retention_days`` (0: keep forever), like ``mailboxes edit --retention-days``."""
    from mailroom.cli_admin import run_admin
    from mailroom.org.models import MailboxPatch
    from mailroom.org.service import OrgAdmin
    from mailroom.table.client import table_from_settings

    run_admin(
        lambda: OrgAdmin(table_from_settings(), actor=actor).update_mailbox(
            mailbox, MailboxPatch(retention_days=days or None)
        )
    )
    click.echo(f"{mailbox}: {'kept forever' if days == 0 else f'purged after {days} days'}")


@retention.command("run")
@click.option("--max-conversations", default=100, show_default=True)
def run_retention(max_conversations: int) -> None:
    """Run one purge now (the scheduled sweep runs it on every tick)."""
    from mailroom.privacy.retention import purge_expired, raw_store
    from mailroom.settings import get_settings
    from mailroom.table.client import table_from_settings

    report = purge_expired(
        table_from_settings(), raw_store(get_settings().raw_store_url), max_conversations=max_conversations
    )
    click.echo(
        f"purged {report.conversations} conversations, {report.messages} messages, {report.blobs} files"
    )
    if report.more:
        click.echo("more to purge: run again (or let the schedule go on)")
