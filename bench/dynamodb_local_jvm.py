"""DynamoDB Local's CPU cost with the sandbox's JVM options against the JVM's defaults, measured in
one run: start it, create the table, then a mix of writes and queries, reading the process's CPU
time (user + system) from ``/proc`` after each phase."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mailroom.table.admin import ensure_table
from sandbox.dynamodb_local import JVM_OPTIONS, DynamoDBLocal, local_client

TABLE = "bench-jvm"
WARM_REQUESTS = 600  # about one sandbox test's worth
LONG_REQUESTS = 6_000


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _requests(client: Any, start: int, count: int) -> None:
    for n in range(start, start + count, 2):
        partition = {"S": f"P#{n % 20}"}
        client.put_item(
            TableName=TABLE, Item={"PK": partition, "SK": {"S": f"S#{n:06d}"}, "n": {"N": str(n)}}
        )
        client.query(
            TableName=TABLE,
            KeyConditionExpression="PK = :p",
            ExpressionAttributeValues={":p": partition},
            Limit=10,
        )


def _measure(jvm_options: tuple[str, ...]) -> dict[str, float]:
    with DynamoDBLocal(jvm_options=jvm_options) as ddb:
        pid = ddb.pid
        assert pid is not None
        client = local_client("dynamodb", ddb.endpoint)
        ensure_table(client, TABLE)
        started = _cpu_seconds(pid)
        _requests(client, 0, WARM_REQUESTS)
        warm = _cpu_seconds(pid)
        _requests(client, WARM_REQUESTS, LONG_REQUESTS - WARM_REQUESTS)
        long = _cpu_seconds(pid)
    return {
        "start_and_table_cpu_s": round(started, 2),
        f"after_{WARM_REQUESTS}_requests_cpu_s": round(warm, 2),
        f"after_{LONG_REQUESTS}_requests_cpu_s": round(long, 2),
    }


def run() -> dict[str, Any]:
    chosen = _measure(JVM_OPTIONS)
    defaults = _measure(())
    warm_key = f"after_{WARM_REQUESTS}_requests_cpu_s"
    long_key = f"after_{LONG_REQUESTS}_requests_cpu_s"
    return {
        "options": list(JVM_OPTIONS),
        "with_options": chosen,
        "jvm_defaults": defaults,
        "cpu_ratio_after_warm": round(chosen[warm_key] / defaults[warm_key], 2),
        "cpu_ratio_after_long": round(chosen[long_key] / defaults[long_key], 2),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
