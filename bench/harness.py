"""A throwaway environment for benchmarks: in-memory DynamoDB Local, a temporary raw store."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from mailroom.settings import reset_settings_cache
from mailroom.table.admin import ensure_table
from sandbox.app import handler_environment
from sandbox.dynamodb_local import DynamoDBLocal, local_client


@contextmanager
def bench_environment() -> Iterator[Path]:
    """DynamoDB Local in memory with a fresh table; yields the raw store directory."""
    with tempfile.TemporaryDirectory(prefix="mailroom-bench-") as tmp, DynamoDBLocal() as ddb:
        store = Path(tmp) / "store"
        saved = dict(os.environ)
        os.environ.update(handler_environment(endpoint=ddb.endpoint, store_dir=store, table_name="bench"))
        os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
        reset_containers()
        ensure_table(local_client("dynamodb", ddb.endpoint), "bench")
        try:
            yield store
        finally:
            os.environ.clear()
            os.environ.update(saved)
            reset_containers()


def reset_containers() -> None:
    """Forget what handlers cached per container (settings, tables, stores): a fresh cold start."""
    from mailroom.api import wiring as api_wiring
    from mailroom.ingest import wiring as ingest_wiring
    from mailroom.routing import wiring as routing_wiring

    reset_settings_cache()
    ingest_wiring.ingestor.cache_clear()
    routing_wiring.router.cache_clear()
    api_wiring.reset()


def now() -> datetime:
    return datetime.now(UTC)


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else 0.0


def import_seconds(module: str, runs: int = 5) -> float:
    """Median wall time of importing ``module`` in a fresh interpreter (a cold start's import phase)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ}
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)
