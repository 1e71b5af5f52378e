"""``python -m bench.load.sweep DATA_DIR``: run the scheduled queue sweep against a running sandbox
until a sweep assigns nothing more, and print ``{"sweeps": n, "assigned": m}``.

The sandbox runs the same sweep (the route function's scheduled event) every 20 seconds, 50 queued
conversations per mailbox at a time. "Once the sweep has run" (the unassigned-with-room invariant)
means: after the traffic stopped, sweeps ran until there was nothing left they could do. Running
them here, in a process of its own pointed at the sandbox's table (as the ``mailroom`` CLI is),
makes that moment definite instead of waiting out the timer. Bounded by ``--max-sweeps``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from mailroom.cli_config import use_sandbox_if_running


def sweep_until_idle(max_sweeps: int) -> tuple[int, int]:
    from mailroom.routing.service import sweep_queues
    from mailroom.routing.wiring import router

    assigned = 0
    for sweeps in range(1, max_sweeps + 1):
        done = sweep_queues(router())
        assigned += done
        if done == 0:
            return sweeps, assigned
    return max_sweeps, assigned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--max-sweeps", type=int, default=500)
    args = parser.parse_args()
    for name in [n for n in os.environ if n.startswith("MAILROOM_")]:
        del os.environ[name]  # the sandbox's state file says where its table is
    if not use_sandbox_if_running(args.data_dir):
        raise SystemExit(f"no running sandbox in {args.data_dir}")
    sweeps, assigned = sweep_until_idle(args.max_sweeps)
    print(json.dumps({"sweeps": sweeps, "assigned": assigned}))


if __name__ == "__main__":
    main()
