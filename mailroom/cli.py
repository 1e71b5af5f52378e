"""The ``mailroom`` command line."""

from __future__ import annotations

from pathlib import Path

import click

from mailroom.cli_admin import mailboxes, teams, users
from mailroom.cli_canned import canned
from mailroom.cli_contacts import contacts, retention
from mailroom.cli_rules import rules


@click.group()
@click.version_option(package_name="mailroom")
def main() -> None:
    """Mailroom: a serverless shared inbox."""


@main.command()
@click.option("--smtp-port", default=2525, show_default=True, help="SMTP port (SES receiving stand-in).")
@click.option("--http-port", default=8080, show_default=True, help="HTTP port (API Gateway stand-in).")
@click.option(
    "--data-dir",
    default=".data",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where DynamoDB Local, raw mail and the outbox live; data survives restarts.",
)
@click.option(
    "--demo/--no-demo", default=False, show_default=True, help="Seed demo mailboxes, users and mail."
)
@click.option("--domain", "domains", multiple=True, help="Accept mail for this domain (repeatable).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--api-workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 32),
    help="Concurrent execution environments (processes) of the reply function.",
)
@click.option(
    "--faults",
    envvar="MAILROOM_FAULTS",
    default="",
    metavar="SPEC",
    help="Inject faults, e.g. 'dynamodb_throttle=0.05,stream_redeliver=0.2,crash=*,seed=7' "
    "(docs/architecture.md, Fault injection).",
)
@click.option(
    "--table-in-memory",
    is_flag=True,
    help="Keep DynamoDB Local's table in memory (lost when it stops; faster: for load tests).",
)
def sandbox(
    smtp_port: int,
    http_port: int,
    data_dir: Path,
    demo: bool,
    domains: tuple[str, ...],
    host: str,
    api_workers: int,
    faults: str,
    table_in_memory: bool,
) -> None:
    """Run the whole pipeline locally: SMTP in, DynamoDB Local, the web UI."""
    from sandbox.app import Sandbox, SandboxConfig
    from sandbox.faults import parse_faults

    try:
        fault_config = parse_faults(faults) if faults.strip() else None
    except ValueError as exc:  # pydantic's ValidationError too
        raise click.BadParameter(str(exc), param_hint="--faults") from exc
    accepted = set(domains) or ({"acme.test"} if demo else set())
    app = Sandbox(
        SandboxConfig(
            data_dir=data_dir,
            smtp_port=smtp_port,
            http_port=http_port,
            host=host,
            api_workers=api_workers,
            demo=demo,
            domains=accepted,
            log=lambda line: click.echo(f"mailroom: {line}", err=True),
            faults=fault_config,
            table_in_memory=table_in_memory,
        )
    )
    try:
        app.start()
    except OSError as exc:
        app.stop()
        raise click.ClickException(
            f"could not start the sandbox: {exc}. Is another sandbox running? Stop it, or pick other ports "
            "with --smtp-port and --http-port."
        ) from exc
    except Exception:
        app.stop()
        raise
    click.echo(
        f"mailroom: ready. Open http://{host}:{app.http.port}/ and send mail to SMTP {host}:{app.smtp.port}. "
        "Ctrl-C stops.",
        err=True,
    )
    app.serve_forever()


@main.command()
@click.argument("email")
@click.option("--days", default=30, show_default=True, help="How long the token stays valid.")
@click.option(
    "--data-dir", default=".data", show_default=True, type=click.Path(file_okay=False, path_type=Path)
)
def token(email: str, days: int, data_dir: Path) -> None:
    """Print a bearer token for EMAIL that the sandbox API accepts (for scripts and tests)."""
    from mailroom.auth.permissions_store import load_principal
    from mailroom.auth.tokens import issue_token
    from mailroom.cli_config import use_sandbox_if_running
    from mailroom.table.client import table_from_settings
    from sandbox.app import SECRET_FILE

    secret_file = data_dir / SECRET_FILE
    if not use_sandbox_if_running(data_dir) or not secret_file.is_file():
        raise click.ClickException(f"no sandbox data in {data_dir}: start one with `make run` first")
    if load_principal(table_from_settings(), email) is None:
        raise click.ClickException(f"{email} is not an active user of this sandbox")
    click.echo(issue_token(secret_file.read_text().strip(), email.lower(), days * 86400, kind="api"))


@main.command("dead-letters")
@click.option(
    "--data-dir", default=".data", show_default=True, type=click.Path(file_okay=False, path_type=Path)
)
def dead_letters(data_dir: Path) -> None:
    """Show what the sandbox gave up on: stream records and ingest events that kept failing."""
    import json

    found = sorted((data_dir / "streams" / "dead-letter").glob("*/*.json")) + sorted(
        (data_dir / "dead-letter").glob("*/*.json")
    )
    if not found:
        click.echo("no dead letters")
        return
    for path in found:
        entry = json.loads(path.read_text())
        error = entry.get("error")
        message = error.get("message") if isinstance(error, dict) else str(error).strip().splitlines()[-1:]
        click.echo(f"{path.parent.name}\t{path.stem}\t{entry.get('failed_at') or entry.get('at')}\t{message}")


main.add_command(rules)
main.add_command(canned)
main.add_command(contacts)
main.add_command(retention)
main.add_command(mailboxes)
main.add_command(users)
main.add_command(teams)


if __name__ == "__main__":
    main()
