"""``python -m fuzz``: every fuzz target for a bounded time, then one JSON summary on stdout.

Each target runs in its own process (libFuzzer owns the process and exits on the first crash),
seeded from its seeds (written to ``.cache/fuzz/seeds/<target>``), the real-world corpus and the
inputs earlier runs found interesting (``.cache/fuzz/corpus/<target>``, which grows run by run).
A crash, a timeout or an out-of-memory input is saved under ``test-artifacts/fuzz/<target>/``;
replay one with ``python -m fuzz.run_target <target> <file>``. The exit code is 1 when any
target found something.

Options: ``--seconds N`` per target (default ``FUZZ_SECONDS`` or 60), ``--target NAME`` (repeat
for several; default all), ``--timeout S`` for one input (default 10).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from fuzz.targets import CORPUS_DIR, TARGETS

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "fuzz"
ARTIFACTS = ROOT / "test-artifacts" / "fuzz"
_STAT = re.compile(r"^stat::(\w+):\s*(\d+)", re.MULTILINE)
_PROGRESS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)", re.MULTILINE)
_FINDING = re.compile(r"^(crash|timeout|oom|leak|slow-unit)-")


def write_seeds(name: str) -> Path:
    """The target's seeds as files, named by content (rewritten each run: seeds follow the code)."""
    target = TARGETS[name]
    folder = CACHE / "seeds" / name
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.iterdir():
        stale.unlink()
    for seed in target.seeds(target.max_len):
        (folder / hashlib.sha1(seed, usedforsecurity=False).hexdigest()).write_bytes(seed)
    return folder


def run_target(name: str, *, seconds: int, timeout: int) -> dict[str, Any]:
    seeds = write_seeds(name)
    corpus = CACHE / "corpus" / name
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts = ARTIFACTS / name
    artifacts.mkdir(parents=True, exist_ok=True)
    before = set(os.listdir(artifacts))
    command = [
        sys.executable,
        "-m",
        "fuzz.run_target",
        name,
        f"-max_total_time={seconds}",
        f"-max_len={TARGETS[name].max_len}",
        f"-timeout={timeout}",
        "-rss_limit_mb=3072",
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}/",
        str(corpus),
        str(seeds),
    ]
    if name in {"parse_message", "ingest_build"} and CORPUS_DIR.is_dir():
        command.append(str(CORPUS_DIR))
    log = artifacts / "last-run.log"
    with log.open("w") as output:
        completed = subprocess.run(  # noqa: S603 - our own interpreter and module
            command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, check=False, timeout=seconds + 600
        )
    text = log.read_text(errors="replace")
    return summarize(
        name,
        text,
        exit_code=completed.returncode,
        seconds=seconds,
        findings=sorted(f for f in set(os.listdir(artifacts)) - before if _FINDING.match(f)),
        corpus_size=len(os.listdir(corpus)),
    )


def summarize(
    name: str, log: str, *, exit_code: int, seconds: int, findings: list[str], corpus_size: int
) -> dict[str, Any]:
    """The figures of one libFuzzer run, read from its final statistics and last progress line."""
    stats = {key: int(value) for key, value in _STAT.findall(log)}
    progress = _PROGRESS.findall(log)
    last = progress[-1] if progress else None
    executions = stats.get("number_of_executed_units", int(last[0]) if last else 0)
    return {
        "target": name,
        "seconds": seconds,
        "executions": executions,
        "exec_per_second": stats.get("average_exec_per_sec"),
        "coverage_edges": int(last[1]) if last else None,
        "features": int(last[2]) if last else None,
        "corpus_units": corpus_size,
        "new_units": stats.get("new_units_added"),
        "peak_rss_mb": stats.get("peak_rss_mb"),
        "findings": [str(ARTIFACTS.relative_to(ROOT) / name / finding) for finding in findings],
        "exit_code": exit_code,
        "ok": exit_code == 0 and not findings,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "60")))
    parser.add_argument("--target", action="append", choices=sorted(TARGETS), dest="targets")
    parser.add_argument("--timeout", type=int, default=10)
    options = parser.parse_args()
    results = [
        run_target(name, seconds=options.seconds, timeout=options.timeout)
        for name in options.targets or TARGETS
    ]
    summary = {"fuzz": results, "ok": all(result["ok"] for result in results)}
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    raise SystemExit(0 if summary["ok"] else 1)


if __name__ == "__main__":
    main()
