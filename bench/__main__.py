"""`python -m bench`: every benchmark, printed as one JSON document."""

from __future__ import annotations

import json
import sys

from bench import (
    costs,
    dynamodb_local_jvm,
    hostile,
    inbox,
    ingest,
    routing,
    sandbox_latency,
    scale_sim,
    workspace,
)


def main() -> None:
    # Handlers log to stdout (as on Lambda); keep stdout for the figures alone.
    figures = sys.stdout
    sys.stdout = sys.stderr
    try:
        results = {
            "ingest": ingest.run(),
            "routing": routing.run(),
            "hostile_input": hostile.run(),
            "inbox": inbox.run(),
            "workspace": workspace.run(),
            "sandbox_latency": sandbox_latency.run(),
            "costs": costs.run(),
            "scale": scale_sim.run(),
            "dynamodb_local_jvm": dynamodb_local_jvm.run(),
        }
    finally:
        sys.stdout = figures
    json.dump(results, figures, indent=2)
    figures.write("\n")


if __name__ == "__main__":
    main()
