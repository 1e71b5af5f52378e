"""The CDK app: `npx cdk synth` (offline, environment-agnostic) and `npx cdk deploy`."""

from __future__ import annotations

import aws_cdk as cdk

from infra.stack import MailroomStack


def build_app() -> cdk.App:
    app = cdk.App()
    environment = str(app.node.try_get_context("mailroom:env") or "dev")
    if environment not in {"dev", "prod"}:
        raise ValueError(f"context mailroom:env must be dev or prod, not {environment!r}")
    MailroomStack(app, f"Mailroom-{environment}", environment=environment)
    return app


if __name__ == "__main__":
    build_app().synth()
