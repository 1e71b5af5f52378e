"""``mailroom rules``: keep routing rules as code (import/export YAML) and test them (dry run)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO, TextIO

import click

from mailroom.cli_config import sandbox_data_dir, use_sandbox_if_running


@click.group()
@sandbox_data_dir
def rules(data_dir: Path) -> None:
    """Routing rules: import, export, history and dry runs."""
    use_sandbox_if_running(data_dir)


@rules.command("import")
@click.argument("path", type=click.File("r"))
@click.option("--actor", default="cli", show_default=True, help="Who is changing the rules (audit log).")
def import_rules(path: TextIO, actor: str) -> None:
    """Replace the rules with a YAML file. An invalid file is refused as a whole."""
    from mailroom.routing.rules_store import RuleSetConflictError, load_rules, save_rules
    from mailroom.rules.yaml_io import RulesError, parse_rules_yaml
    from mailroom.table.client import table_from_settings

    try:
        ruleset = parse_rules_yaml(path.read())
    except RulesError as exc:
        for problem in exc.problems:
            click.echo(
                f"{getattr(path, 'name', 'rules')}:{problem.line}: {problem.path}: {problem.reason}", err=True
            )
        raise click.ClickException(f"{len(exc.problems)} problem(s); nothing was imported") from exc
    table = table_from_settings()
    try:
        version = save_rules(table, ruleset, expected_version=load_rules(table).version, actor=actor)
    except RuleSetConflictError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"imported {len(ruleset.rules)} rules as version {version}; live within a minute")


@rules.command("export")
def export_rules() -> None:
    """Print the active rules as YAML."""
    from mailroom.routing.rules_store import load_rules
    from mailroom.rules.yaml_io import dump_rules_yaml
    from mailroom.table.client import table_from_settings

    stored = load_rules(table_from_settings())
    sys.stdout.write(f"# version {stored.version}, saved {stored.updated_at} by {stored.updated_by}\n")
    sys.stdout.write(dump_rules_yaml(stored.ruleset))


@rules.command("dry-run")
@click.option("--eml", type=click.File("rb"), help="A raw message file (.eml).")
@click.option("--mailbox", help="The mailbox the .eml arrives in (default: its first To address).")
@click.option(
    "--conversation", "conversation_id", help="A stored conversation id (its latest inbound message)."
)
@click.option("--message", "message_key", help="A stored message key within the conversation.")
def dry_run(
    eml: BinaryIO | None,
    mailbox: str | None,
    conversation_id: str | None,
    message_key: str | None,
) -> None:
    """Which rules match a message, and what would they do? Nothing is changed."""
    from mailroom.routing.dry_run import DryRunError, dry_run_raw, dry_run_stored
    from mailroom.routing.wiring import router
    from mailroom.settings import get_settings
    from mailroom.storage import open_store

    if bool(eml) == bool(conversation_id):
        raise click.UsageError("give either --eml FILE or --conversation ID")
    try:
        if eml is not None:
            decision = dry_run_raw(router(), eml.read(), mailbox=mailbox)
        else:
            store = open_store(get_settings().raw_store_url)
            decision = dry_run_stored(router(), store, str(conversation_id), message_key)
    except DryRunError as exc:
        raise click.ClickException(str(exc)) from exc
    for line in decision.explain():
        click.echo(line)


@rules.command("versions")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
def versions(limit: int) -> None:
    """List the saved versions, newest first: who saved each, when and why."""
    from mailroom.routing.rules_store import rule_history
    from mailroom.table.client import table_from_settings

    for stored in rule_history(table_from_settings(), limit):
        note = f"\t{stored.note}" if stored.note else ""
        rules_count = len(stored.ruleset.rules)
        click.echo(f"v{stored.version}\t{stored.updated_at}\t{stored.updated_by}\t{rules_count} rules{note}")


@rules.command("diff")
@click.argument("old", type=click.IntRange(0))
@click.argument("new", type=click.IntRange(0), required=False)
def diff(old: int, new: int | None) -> None:
    """A unified diff of the YAML of versions OLD and NEW (default: the active one)."""
    from mailroom.routing import rules_admin
    from mailroom.routing.rules_store import load_rules
    from mailroom.table.client import table_from_settings

    table = table_from_settings()
    target = load_rules(table).version if new is None else new
    try:
        click.echo(rules_admin.diff_versions(table, old, target), nl=False)
    except rules_admin.VersionNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc


@rules.command("restore")
@click.argument("version", type=click.IntRange(0))
@click.option("--actor", default="cli", show_default=True, help="Who is changing the rules (audit log).")
def restore(version: int, actor: str) -> None:
    """Save VERSION's rules as a new version (history only grows)."""
    from mailroom.routing import rules_admin
    from mailroom.routing.rules_store import RuleSetConflictError
    from mailroom.table.client import table_from_settings

    try:
        saved = rules_admin.restore(table_from_settings(), version, expected_version=None, actor=actor)
    except (rules_admin.VersionNotFoundError, RuleSetConflictError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"restored version {version} as version {saved}; live within a minute")
