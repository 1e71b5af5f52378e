"""cdk-nag found nothing unacknowledged, and cfn-lint finds no error in either template.

cfn-lint's only warning is W3005, allowed and explained: CDK gives every function an explicit
``DependsOn`` on its role and the role's default policy (so the policy exists before the first
invocation) although ``Role`` already references the role, and the S3 auto-delete and
AwsCustomResource providers do the same. It is harmless and not ours to change.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.infra.synth import Synthesized

ALLOWED_WARNINGS = {"W3005"}
CFN_LINT = Path(sys.executable).with_name("cfn-lint")


def test_cdk_nag_reports_nothing(synthesized: Synthesized) -> None:
    report = json.loads((synthesized.outdir / "validation-report.json").read_text(encoding="utf-8"))
    violations = [
        (v["ruleName"], c["constructPath"])
        for plugin in report["pluginReports"]
        for v in plugin["violations"]
        for c in v["violatingConstructs"]
    ]
    assert violations == []


def test_cfn_lint_finds_no_errors(synthesized: Synthesized) -> None:
    result = subprocess.run(
        [
            str(CFN_LINT),
            "--format",
            "json",
            "--regions",
            "us-east-1",
            "eu-west-1",
            "--",
            str(synthesized.template_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    # Exit status bits: 2 errors, 4 warnings, 8 informational; 1 is a crash.
    assert result.returncode & ~(4 | 8) == 0, result.stderr or result.stdout
    findings = json.loads(result.stdout or "[]")
    unexpected = [
        f"{f['Rule']['Id']} {f['Message']}"
        for f in findings
        if f["Level"] == "Error" or f["Rule"]["Id"] not in ALLOWED_WARNINGS
    ]
    assert unexpected == []
