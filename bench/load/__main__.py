"""``python -m bench.load`` (``make loadtest``): one load test run; the figures as JSON on stdout, a
summary for people on stderr. Exits 1 when an invariant does not hold."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.load.run import LoadConfig, run, summary


def parse_args(argv: list[str] | None = None) -> tuple[LoadConfig, Path | None]:
    defaults = LoadConfig()
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--emails", type=int, default=defaults.emails, help="how many mails to send")
    parser.add_argument("--senders", type=int, default=defaults.senders, help="concurrent SMTP senders")
    parser.add_argument("--agents", type=int, default=defaults.agents, help="simulated agents (API clients)")
    parser.add_argument("--agent-think", type=float, default=defaults.agent_think_s, help="seconds")
    parser.add_argument("--tight-capacity", type=int, default=defaults.tight_capacity)
    parser.add_argument("--attachments", type=int, default=defaults.attachments, help="mails with 1-4 MB")
    parser.add_argument("--rate", type=float, default=None, help="mails/s in all (default: unpaced)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--drain-timeout", type=float, default=defaults.drain_timeout_s)
    parser.add_argument(
        "--on-disk", action="store_true", help="DynamoDB Local with its SQLite file (default: in memory)"
    )
    parser.add_argument(
        "--directory-cache",
        type=float,
        default=defaults.directory_cache_seconds,
        help="seconds the directory is reused per process, as on AWS (0: read it every time)",
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="keep the sandbox's data here")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    config = LoadConfig(
        emails=args.emails,
        senders=args.senders,
        agents=args.agents,
        tight_capacity=args.tight_capacity,
        agent_think_s=args.agent_think,
        attachments=args.attachments,
        seed=args.seed,
        rate=args.rate,
        drain_timeout_s=args.drain_timeout,
        data_dir=args.data_dir,
        table_in_memory=not args.on_disk,
        directory_cache_seconds=args.directory_cache,
    )
    return config, args.json_out


def main(argv: list[str] | None = None) -> int:
    config, json_out = parse_args(argv)
    result = run(config)
    text = json.dumps(result.figures, indent=2)
    print(text)
    if json_out is not None:
        json_out.write_text(text + "\n")
    print(summary(result.figures), file=sys.stderr)
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())
