"""Synthesizing the CDK app for the infrastructure tests, with bundling skipped.

``aws:cdk:bundling-stacks = []`` makes CDK skip bundling (it stages the source path as a placeholder);
:meth:`PipLocalBundling.try_bundle` is replaced by a recorder for the duration, so a test can check
that pip never ran. Each synthesis runs cdk-nag (a finding neither fixed nor acknowledged raises) and
writes the template to a temporary directory, which the tests read as JSON and through
``aws_cdk.assertions.Template``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# Before jsii starts node: this machine's node 20 is past its end of life for jsii (still works).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from aws_cdk.assertions import Template

from infra.app import build_app
from infra.bundling import PipLocalBundling
from infra.config import MailroomConfig, load_config

NO_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}


@dataclass
class Synthesized:
    config: MailroomConfig
    outdir: Path
    template_path: Path
    data: dict[str, Any]
    template: Template
    bundle_calls: list[str] = field(default_factory=list)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.data["Resources"]
        return resources

    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == cfn_type}

    def one(self, cfn_type: str) -> dict[str, Any]:
        found = self.of_type(cfn_type)
        assert len(found) == 1, f"expected one {cfn_type}, found {sorted(found)}"
        return next(iter(found.values()))

    def logical_id(self, cfn_type: str, contains: str) -> str:
        matches = [k for k in self.of_type(cfn_type) if contains in k]
        assert len(matches) == 1, f"{cfn_type} with {contains!r} in its id: {matches}"
        return matches[0]

    def function(self, key: str) -> dict[str, Any]:
        """The Lambda function of ``mailroom/deployment.py``'s ``key`` (by its deployed name)."""
        for resource in self.of_type("AWS::Lambda::Function").values():
            if resource["Properties"].get("FunctionName") == f"mailroom-{key}-{self.config.environment}":
                return resource
        raise AssertionError(f"no function {key}")

    def function_id(self, key: str) -> str:
        name = f"mailroom-{key}-{self.config.environment}"
        return next(
            k
            for k, v in self.of_type("AWS::Lambda::Function").items()
            if v["Properties"].get("FunctionName") == name
        )

    def role_statements(self, key: str) -> list[dict[str, Any]]:
        """Every statement of the policies attached to function ``key``'s role."""
        role_id = self.function(key)["Properties"]["Role"]["Fn::GetAtt"][0]
        statements: list[dict[str, Any]] = []
        for policy in self.of_type("AWS::IAM::Policy").values():
            if {"Ref": role_id} in policy["Properties"]["Roles"]:
                statements += policy["Properties"]["PolicyDocument"]["Statement"]
        return statements


def synthesize(environment: str, outdir: Path) -> Synthesized:
    calls: list[str] = []

    def record(self: PipLocalBundling, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        calls.append(output_dir)
        raise AssertionError("bundling ran although aws:cdk:bundling-stacks is []")

    context = {**NO_BUNDLING, "mailroom:env": environment}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PipLocalBundling, "try_bundle", record)
        app = build_app(context, outdir=str(outdir))
        app.synth()  # cdk-nag runs here: unacknowledged findings raise
    config = load_config({"mailroom:env": environment})
    path = outdir / f"{config.stack_name}.template.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return Synthesized(
        config=config,
        outdir=outdir,
        template_path=path,
        data=data,
        template=Template.from_json(data),
        bundle_calls=calls,
    )
