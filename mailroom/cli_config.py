"""Where CLI commands find the table: the environment (a deployed stack), or a running sandbox."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from mailroom.settings import reset_settings_cache

SANDBOX_STATE = "sandbox.json"

# The option every command group that talks to the table takes (``data_dir: Path``).
sandbox_data_dir = click.option(
    "--data-dir",
    default=".data",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A running sandbox's data directory (ignored when MAILROOM_DYNAMODB_ENDPOINT is set).",
)


def use_sandbox_if_running(data_dir: Path) -> bool:
    """Point the settings at the sandbox in ``data_dir`` unless the environment names a table."""
    if os.environ.get("MAILROOM_DYNAMODB_ENDPOINT") or os.environ.get("MAILROOM_TABLE_NAME"):
        return False
    state_file = data_dir / SANDBOX_STATE
    if not state_file.is_file():
        return False
    state = json.loads(state_file.read_text())
    os.environ.update(
        {
            "MAILROOM_DYNAMODB_ENDPOINT": state["dynamodb_endpoint"],
            "MAILROOM_TABLE_NAME": state["table_name"],
            "MAILROOM_RAW_STORE_URL": state["raw_store_url"],
            "MAILROOM_OUTBOUND_URL": state["outbound_url"],
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
        }
    )
    reset_settings_cache()
    return True
