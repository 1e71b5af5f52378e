"""Fixtures shared by every test: one DynamoDB Local per session, a fresh table per test.

* ``ddb_local`` (session): an in-memory DynamoDB Local on a free port, stopped when the session ends.
  Starting Java takes a few seconds, so the whole session shares this one server.
* ``ddb_endpoint`` / ``ddb_client`` (session): its URL and a boto3 DynamoDB client for it.
* ``table_name`` (function): a uniquely named table made from the schema, deleted after the test,
  so tests never see each other's items or stream records.
* ``mailroom_env`` (function): the ``MAILROOM_*`` and AWS environment that the handlers read, pointing
  at that table and at a per-test raw store directory (which it yields).

DynamoDB Local must be installed (``make setup``); without it the first test that needs it fails
with a message saying so, rather than being skipped.

Hypothesis profiles (``HYPOTHESIS_PROFILE``): ``dev`` (the default), ``ci`` (chosen when ``CI`` is set:
the same examples every run, so a submission never lands or fails by chance), ``quick`` (10 examples
where a test does not set its own count, for iterating) and ``thorough`` (1,000, for a long local
run). Tests that are slow per example scale their counts from the profile's ``max_examples``.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import settings as hypothesis_settings

from mailroom import settings
from mailroom.table.admin import ensure_table
from sandbox.dynamodb_local import DynamoDBLocal, local_client

hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.register_profile("ci", deadline=None, derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("quick", deadline=None, max_examples=10)
hypothesis_settings.register_profile("thorough", deadline=None, max_examples=1000)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


@pytest.fixture(scope="session")
def ddb_local() -> Iterator[DynamoDBLocal]:
    # In memory, free port, jar from MAILROOM_DYNAMODB_LOCAL_DIR or .cache/. This one serves a whole
    # worker's session (tens of thousands of requests, every test's table): the JVM's optimising
    # compiler pays off here, unlike in the short-lived sandboxes (sandbox/dynamodb_local.py).
    server = DynamoDBLocal(jvm_options=())
    server.start()
    try:
        yield server
    finally:
        server.stop()  # stops only the process it started


@pytest.fixture(scope="session")
def ddb_endpoint(ddb_local: DynamoDBLocal) -> str:
    return ddb_local.endpoint


@pytest.fixture(scope="session")
def ddb_client(ddb_endpoint: str) -> Any:
    return local_client("dynamodb", ddb_endpoint)


@pytest.fixture
def table_name(request: pytest.FixtureRequest, ddb_client: Any) -> Iterator[str]:
    # Readable in DynamoDB Local's logs, unique across the session, within the 255-character limit.
    test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)[:60]
    name = f"t-{test}-{uuid.uuid4().hex[:8]}"
    ensure_table(ddb_client, name)
    yield name
    try:
        ddb_client.delete_table(TableName=name)
    except ClientError as exc:  # the test may have deleted it itself
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise


@pytest.fixture
def mailroom_env(
    monkeypatch: pytest.MonkeyPatch, ddb_endpoint: str, table_name: str, tmp_path: Path
) -> Iterator[Path]:
    store = tmp_path / "store"
    store.mkdir()
    environment = {
        "MAILROOM_TABLE_NAME": table_name,
        "MAILROOM_DYNAMODB_ENDPOINT": ddb_endpoint,
        "MAILROOM_REGION": "us-east-1",
        "MAILROOM_RAW_STORE_URL": f"file://{store}",
        "MAILROOM_OUTBOUND_URL": f"file://{tmp_path / 'outbox'}",
        "MAILROOM_AUTH_MODE": "local",
        "MAILROOM_SESSION_SECRET": "test-secret-" + "x" * 40,
        "MAILROOM_COOKIE_SECURE": "false",
        # Dummy credentials: DynamoDB Local accepts any; never let a test find real ones.
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Mailroom",
        "POWERTOOLS_SERVICE_NAME": "mailroom",
    }
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    settings.reset_settings_cache()  # settings are cached per process: re-read the new environment
    yield store
    settings.reset_settings_cache()  # monkeypatch restores the environment after this; forget ours
