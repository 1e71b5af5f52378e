"""The Mailroom stack: composes the constructs (the table first; the rest arrives with issue 5)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from infra.constructs.table import MailroomTable


class MailroomStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, environment: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        production = environment == "prod"
        self.table = MailroomTable(self, "Data", production=production).table
        Tags.of(self).add("application", "mailroom")
        Tags.of(self).add("environment", environment)
        CfnOutput(self, "TableName", value=self.table.table_name)
