"""The CDK app: ``make synth`` / ``npx cdk synth`` (offline, environment-agnostic) and ``npx cdk deploy``.

The configuration comes from ``infra/config.<env>.json`` and ``-c mailroom:<field>=...`` (see
``infra/config.py``); the stack is ``Mailroom-<env>``. cdk-nag's AWS Solutions checks run on every
synthesis: a finding that is neither fixed nor acknowledged (with its reason, next to the resource)
fails the synthesis.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import PROJECT_ROOT, ConfigError, MailroomConfig, load_config
from infra.stack import MailroomStack


def cdk_json_context() -> dict[str, Any]:
    """cdk.json's context (feature flags, defaults): the CLI passes it, a direct run needs it too."""
    context: dict[str, Any] = json.loads((PROJECT_ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]
    return context


def build_app(context: Mapping[str, Any] | None = None, *, outdir: str | None = None) -> cdk.App:
    """The app with its one stack. ``context`` adds to cdk.json's; the CLI's ``-c`` wins over both."""
    app = cdk.App(context={**cdk_json_context(), **(context or {})}, outdir=outdir)
    config = _config(app)
    env = cdk.Environment(account=config.account, region=config.region) if config.account else None
    MailroomStack(app, config.stack_name, config=config, env=env)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def _config(app: cdk.App) -> MailroomConfig:
    keys = ("mailroom:env", "mailroom:configFile", *(f"mailroom:{f}" for f in MailroomConfig.model_fields))
    context = {key: value for key in keys if (value := app.node.try_get_context(key)) is not None}
    return load_config(context)


def main() -> None:
    try:
        app = build_app()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    app.synth()


if __name__ == "__main__":
    main()
