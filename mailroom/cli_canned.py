"""``mailroom canned``: canned responses as YAML (list, import, export), for the sandbox or a stack."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

import click

from mailroom.cli_config import sandbox_data_dir, use_sandbox_if_running

FIELDS = ("id", "name", "subject", "body", "mailbox", "team")


@click.group()
@sandbox_data_dir
def canned(data_dir: Path) -> None:
    """Canned responses: list, import and export (YAML)."""
    use_sandbox_if_running(data_dir)


@canned.command("list")
@click.option("--sort", type=click.Choice(["usage", "name"]), default="usage", show_default=True)
def list_command(sort: str) -> None:
    """Every canned response with its use count (most used first: prune the unused)."""
    from mailroom.canned.admin import sorted_canned
    from mailroom.table.client import table_from_settings

    for item in sorted_canned(table_from_settings(), sort):
        scope = (
            f"mailbox {item.mailbox}" if item.mailbox else f"team {item.team}" if item.team else "everyone"
        )
        click.echo(f"{item.id}\t{item.usage_count}\t{scope}\t{item.name}")


@canned.command("export")
def export_command() -> None:
    """Print every canned response as YAML (``canned: [...]``), by id."""
    import yaml

    from mailroom.canned.store import list_canned
    from mailroom.table.client import table_from_settings

    items = sorted(list_canned(table_from_settings()), key=lambda item: item.id)
    data = {
        "canned": [
            {k: v for k, v in item.model_dump(include=set(FIELDS)).items() if v is not None} for item in items
        ]
    }
    sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))


@canned.command("import")
@click.argument("path", type=click.File("r"))
@click.option("--actor", default="cli", show_default=True, help="Who is changing them (audit log).")
def import_command(path: TextIO, actor: str) -> None:
    """Create or update the canned responses in a YAML file. Every template is checked first: one
    problem refuses the whole file."""
    import yaml
    from pydantic import ValidationError

    from mailroom.canned import admin
    from mailroom.canned.model import CannedResponse
    from mailroom.canned.store import get_canned
    from mailroom.table.client import table_from_settings

    name = getattr(path, "name", "canned")
    try:
        data: Any = yaml.safe_load(path.read())
    except yaml.YAMLError as exc:
        raise click.ClickException(f"{name}: not YAML: {exc}") from exc
    entries = data.get("canned") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise click.ClickException(f"{name}: expected a mapping with a 'canned' list")
    table = table_from_settings()
    problems: list[str] = []
    parsed: list[CannedResponse] = []
    for index, entry in enumerate(entries):
        where = f"canned[{index}]" + (f" ({entry.get('id')})" if isinstance(entry, dict) else "")
        try:
            item = CannedResponse.model_validate({k: v for k, v in (entry or {}).items() if k in FIELDS})
            admin.check_templates(item.subject, item.body)
            admin.check_scope(table, item)
        except ValidationError as exc:
            problems += [f"{where}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        except admin.CannedFieldError as exc:
            problems.append(f"{where}.{exc}")
        except AttributeError:
            problems.append(f"{where}: each entry is a mapping (id, name, subject, body, mailbox, team)")
        else:
            parsed.append(item)
    if problems:
        for problem in problems:
            click.echo(f"{name}: {problem}", err=True)
        raise click.ClickException(f"{len(problems)} problem(s); nothing was imported")
    for item in parsed:
        if get_canned(table, item.id) is None:
            admin.create(table, item, actor=actor)
        else:
            admin.update(table, item, actor=actor)
    click.echo(f"imported {len(parsed)} canned responses")
