"""Integration fixtures: the real ingest and reply handlers against DynamoDB Local."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mailroom.api import wiring as api_wiring
from mailroom.auth.tokens import issue_token
from mailroom.deployment import REPLY
from mailroom.inbox.directory import upsert_user
from mailroom.ingest import wiring as ingest_wiring
from mailroom.routing import wiring as routing_wiring
from mailroom.settings import get_settings
from mailroom.storage.local import LocalStore
from mailroom.table.client import Table, table_from_settings
from sandbox.apigw_events import decode_response, http_api_event
from sandbox.lambda_context import make_context
from sandbox.lambda_pool import LambdaPool
from sandbox.ses_event import build_ses_event, new_ses_message_id


def _reset_wiring() -> None:
    ingest_wiring.ingestor.cache_clear()
    routing_wiring.router.cache_clear()
    api_wiring.reset()


@pytest.fixture
def env(mailroom_env: Path) -> Iterator[Path]:
    """The handlers' environment for one fresh table; yields the raw store directory."""
    _reset_wiring()
    yield mailroom_env
    _reset_wiring()


@pytest.fixture
def table(env: Path) -> Table:
    return table_from_settings()


@pytest.fixture
def store(env: Path) -> LocalStore:
    return LocalStore(env)


@dataclass
class Delivery:
    event: dict[str, Any]
    result: dict[str, Any]

    @property
    def outcomes(self) -> list[dict[str, Any]]:
        return list(self.result["outcomes"])


Deliver = Callable[..., Delivery]


@pytest.fixture
def deliver(store: LocalStore) -> Deliver:
    """Store raw mail as the SES S3 action does, then invoke the ingest handler with SES's event."""
    from functions.ingest.handler import handler

    def _deliver(
        raw: bytes,
        recipients: list[str] | None = None,
        *,
        ses_message_id: str | None = None,
        received_at: datetime | None = None,
        verdicts: dict[str, str] | None = None,
        event: dict[str, Any] | None = None,
    ) -> Delivery:
        if event is None:
            ses_id = ses_message_id or new_ses_message_id()
            store.put(f"raw/inbound/{ses_id}", raw)
            event = build_ses_event(
                raw=raw,
                ses_message_id=ses_id,
                envelope_from="sender@example.com",
                recipients=recipients or ["support@acme.test"],
                received_at=received_at or datetime.now(UTC),
                verdicts=verdicts,
            )
        result = handler(event, make_context("mailroom-ingest", 512, 60))
        return Delivery(event=event, result=result)

    return _deliver


Api = Callable[..., tuple[int, dict[str, str], Any]]


ADMIN = "admin@acme.test"


def bearer(email: str) -> str:
    """A bearer token as `mailroom token EMAIL` prints it."""
    return issue_token(get_settings().session_secret or "", email, 3600, kind="api")


def http_event(
    method: str,
    path: str,
    query: str = "",
    body: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event (JSON content type unless ``headers`` say else)."""
    pairs = {"content-type": "application/json", **(headers or {})}
    if cookies:
        pairs["cookie"] = "; ".join(cookies)
    return http_api_event(method, path, query, body, headers=pairs)


def as_user(user: str | None, headers: dict[str, str] | None = None) -> dict[str, str]:
    return {**(headers or {}), **({"authorization": f"Bearer {bearer(user)}"} if user else {})}


@pytest.fixture
def api(env: Path, table: Table) -> Api:
    """Call the reply handler with an API Gateway HTTP API (v2) event, as ``user`` (an admin by
    default; None: no credentials). ``headers`` and ``cookies`` are added to the request.

    One call at a time: like one Lambda execution environment, the handler keeps the current
    request in module state. Races go through :func:`lambda_pool` (several processes)."""
    from functions.reply.handler import handler

    upsert_user(table, ADMIN, name="Ada Admin", role="admin")

    def _call(
        method: str,
        path: str,
        query: str = "",
        body: str | None = None,
        *,
        user: str | None = ADMIN,
        headers: dict[str, str] | None = None,
        cookies: list[str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        event = http_event(method, path, query, body, headers=as_user(user, headers), cookies=cookies)
        return decode_response(handler(event, make_context("mailroom-reply", 512, 29)))

    return _call


@pytest.fixture
def lambda_pool(env: Path) -> Iterator[LambdaPool]:
    """The reply function in several execution environments (processes), for real races through
    the handler; the environment variables of the test are inherited by every process."""
    pool = LambdaPool(REPLY, 3).start()
    try:
        yield pool
    finally:
        pool.stop()
