"""``python -m fuzz.run_target NAME [libFuzzer flags] [corpus dirs or input files]``: one target under
atheris. Given files rather than directories, libFuzzer runs each once: that replays a crash.

Only ``mailroom`` (and the sandbox's SES event builder) is instrumented for coverage: the targets
are imported inside ``atheris.instrument_imports``, after the stdlib and the libraries are loaded
uninstrumented, which keeps executions fast.
"""

from __future__ import annotations

import sys
from typing import Any

INSTRUMENTED = ("mailroom", "sandbox.ses_event")


def main(argv: list[str]) -> None:
    import email.parser  # noqa: F401

    import atheris

    # Libraries the targets use, imported first so that they stay uninstrumented.
    import boto3.dynamodb.types  # noqa: F401
    import nh3  # noqa: F401
    import pydantic  # noqa: F401
    import yaml  # noqa: F401

    if len(argv) < 2:
        raise SystemExit("usage: python -m fuzz.run_target NAME [libFuzzer arguments]")
    name = argv[1]
    instrument: Any = atheris.instrument_imports(include=list(INSTRUMENTED))
    with instrument:
        from fuzz.targets import TARGETS
    if name not in TARGETS:
        raise SystemExit(f"unknown target {name!r}: one of {', '.join(TARGETS)}")
    target = TARGETS[name]
    atheris.Setup([argv[0], *argv[2:]], target.run)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
