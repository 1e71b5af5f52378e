"""The local sandbox: the whole pipeline on one machine, running the same handlers as AWS.

DynamoDB Local (persistent under the data directory) stands in for DynamoDB and its stream, an SMTP
server for SES receiving, a directory for S3, an HTTP server for API Gateway. Handlers are imported
only after the environment is set, exactly as Lambda would configure them.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailroom.clock import iso, now
from mailroom.deployment import INGEST, REPLY, ROUTE, STREAM_FUNCTIONS, FunctionSpec
from mailroom.settings import reset_settings_cache
from mailroom.table import schema
from sandbox.dynamodb_local import DynamoDBLocal, local_client
from sandbox.faults import ENV_VAR as FAULTS_ENV_VAR
from sandbox.faults import FaultConfig, FaultInjector
from sandbox.lambda_context import LambdaContext, load_handler, make_context
from sandbox.streams import Consumer

TABLE_NAME = "mailroom"
# Lambda's asynchronous invocation retries a failed event twice before it goes to the on-failure
# destination; the sandbox does the same, and its "destination" is a file under the data directory.
ASYNC_ATTEMPTS = 3
SCHEDULE_SECONDS = 20.0
STATE_FILE = "sandbox.json"
SECRET_FILE = "session_secret"  # noqa: S105 - a file name, not a secret
FIRST_ADMIN = "admin@localhost"


def scheduled_event() -> dict[str, Any]:
    """An EventBridge scheduled event, as Lambda receives it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": iso(now()),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:000000000000:rule/mailroom-sweep"],
        "detail": {},
    }


@dataclass
class SandboxConfig:
    data_dir: Path
    smtp_port: int = 2525
    http_port: int = 8080
    api_workers: int = 2  # concurrent execution environments of the reply function
    host: str = "127.0.0.1"
    demo: bool = True
    domains: set[str] = field(default_factory=set)
    max_message_bytes: int = 40 * 1024 * 1024
    dynamodb_port: int | None = None
    log: Callable[[str], None] = print
    faults: FaultConfig | None = None  # fault injection (sandbox/faults.py); None: none
    # DynamoDB Local without its SQLite file: nothing survives a stop (raw mail and the outbox do,
    # but the table does not). For load tests: the figures are then the product's, not the disk's.
    table_in_memory: bool = False


def context_factory(spec: FunctionSpec) -> Callable[[], LambdaContext]:
    return lambda: make_context(spec.name, spec.memory_mb, spec.timeout_s)


Handler = Callable[[dict[str, Any], Any], Any]


def invoked_handler(spec: FunctionSpec, faults: FaultInjector | None = None) -> Handler:
    """A function's handler as the sandbox invokes it: with ``faults``, a simulated crash is a
    failed invocation (retried like one)."""
    handler = load_handler(spec)
    return faults.guard(handler) if faults is not None else handler


def stream_consumers(faults: FaultInjector | None = None) -> list[Consumer]:
    """The stream functions as the poller's consumers, wired as their event source mappings are."""
    return [
        Consumer(
            name=spec.key,
            handler=invoked_handler(spec, faults),
            patterns=spec.stream.patterns,
            batch_size=spec.stream.batch_size,
            max_retries=spec.stream.max_retries,
            context_factory=context_factory(spec),
        )
        for spec in STREAM_FUNCTIONS
        if spec.stream is not None
    ]


def sandbox_secret(data_dir: Path) -> str:
    """The sandbox's session secret: made once, kept in the data directory (mode 0600)."""
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def handler_environment(
    *, endpoint: str, store_dir: Path, outbox_dir: Path | None = None, table_name: str = TABLE_NAME
) -> dict[str, str]:
    """What the CDK stack sets on each function, with the local stand-ins' addresses."""
    outbox = outbox_dir or store_dir.parent / "outbox"
    return {
        "MAILROOM_AUTH_MODE": "local",
        "MAILROOM_SESSION_SECRET": sandbox_secret(store_dir.parent),
        "MAILROOM_COOKIE_SECURE": "false",  # plain http on 127.0.0.1
        "MAILROOM_OUTBOUND_URL": outbox.resolve().as_uri(),
        "MAILROOM_TABLE_NAME": table_name,
        "MAILROOM_DYNAMODB_ENDPOINT": endpoint,
        "MAILROOM_REGION": "us-east-1",
        "MAILROOM_RAW_STORE_URL": store_dir.resolve().as_uri(),
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "mailroom",
        "POWERTOOLS_METRICS_NAMESPACE": "Mailroom",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }


class Sandbox:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.data_dir = config.data_dir.resolve()
        self.store_dir = self.data_dir / "store"
        self.outbox_dir = self.data_dir / "outbox"
        self.dead_letter_dir = self.data_dir / "dead-letter"
        self._stopped = threading.Event()
        self._parts: list[Any] = []
        self.dynamodb: DynamoDBLocal | None = None
        self.smtp: Any = None
        self.http: Any = None
        self.poller: Any = None
        self.faults: FaultInjector | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.dynamodb = DynamoDBLocal(
            port=self.config.dynamodb_port,
            db_path=None if self.config.table_in_memory else self.data_dir / "dynamodb",
        ).start()
        self._parts.append(self.dynamodb)
        os.environ.update(
            handler_environment(
                endpoint=self.dynamodb.endpoint, store_dir=self.store_dir, outbox_dir=self.outbox_dir
            )
        )
        reset_settings_cache()

        from mailroom.table.admin import ensure_indexes, ensure_table

        client = local_client("dynamodb", self.dynamodb.endpoint)
        created = ensure_table(client, TABLE_NAME)
        self.config.log(
            f"DynamoDB Local on {self.dynamodb.endpoint} (table {'created' if created else 'found'})"
        )
        added = [] if created else ensure_indexes(client, TABLE_NAME)
        if added:  # a data directory from an older version: fill the new indexes
            from mailroom.table.client import table_from_settings
            from mailroom.table.migrate import rederive_index_attributes

            rewritten = rederive_index_attributes(table_from_settings())
            self.config.log(f"added indexes {', '.join(added)}; rewrote {rewritten} conversations")
        if self.config.demo:
            self._seed_directory()
        self._ensure_an_admin()
        self._install_faults()
        self._start_stream_poller()
        self._start_smtp()
        self._start_http()
        self._start_schedule()
        self._write_state()
        if self.config.demo:
            threading.Thread(target=self._send_demo_once, name="demo-mail", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        for part in reversed(self._parts):
            try:
                part.stop()
            except Exception:
                self.config.log(f"error while stopping {type(part).__name__}: {traceback.format_exc()}")
        self._parts.clear()

    def serve_forever(self) -> None:
        """Run until SIGINT or SIGTERM, then stop every part (no child process is left behind)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self._stopped.set())
        try:
            self._stopped.wait()
        finally:
            self.stop()

    # -- parts ----------------------------------------------------------------------------------

    def _install_faults(self) -> None:
        """Fault injection: in this process, and (through the environment) in the API workers."""
        if self.config.faults is None:
            os.environ.pop(FAULTS_ENV_VAR, None)
            return
        from mailroom.table.client import table_from_settings

        os.environ[FAULTS_ENV_VAR] = self.config.faults.as_text()
        self.faults = FaultInjector(self.config.faults).install(table_from_settings().client)
        self.config.log(f"injecting faults: {self.config.faults.as_text()}")

    def _handler(self, spec: FunctionSpec) -> Handler:
        """A function's handler as the sandbox invokes it (a simulated crash fails the invocation)."""
        return invoked_handler(spec, self.faults)

    def _start_stream_poller(self) -> None:
        from sandbox.streams import StreamPoller

        assert self.dynamodb is not None
        consumers = stream_consumers(self.faults)
        self.poller = StreamPoller(
            endpoint=self.dynamodb.endpoint,
            table_name=TABLE_NAME,
            consumers=consumers,
            state_dir=self.data_dir / "streams",
            redeliver=self.faults.redeliver if self.faults is not None else None,
        )
        self.poller.start()
        self._parts.append(self.poller)

    def _start_smtp(self) -> None:
        from mailroom.settings import get_settings
        from mailroom.storage.local import LocalStore
        from sandbox.smtp import SmtpReceiver

        self.smtp = SmtpReceiver(
            host=self.config.host,
            port=self.config.smtp_port,
            accept_domains=self.accepted_domains,
            store=LocalStore(self.store_dir),
            raw_prefix=get_settings().raw_inbound_prefix,
            deliver=self.deliver_to_ingest,
            max_message_bytes=self.config.max_message_bytes,
            refuse_recipient=self.recipient_refusal,
        )
        self.smtp.start()
        self._parts.append(self.smtp)
        self.config.log(
            f"SMTP on {self.config.host}:{self.smtp.port} for {', '.join(sorted(self.accepted_domains()))}"
        )

    def _start_http(self) -> None:
        from sandbox.http_gateway import HttpGateway
        from sandbox.lambda_pool import LambdaPool

        pool = LambdaPool(REPLY, self.config.api_workers).start()
        self._parts.append(pool)

        def handler(event: dict[str, Any], context: Any) -> Any:
            try:
                return pool.handler(event, context)
            finally:
                if self.poller is not None:
                    self.poller.wake()  # the request may have written what the stream carries

        self.http = HttpGateway(
            host=self.config.host,
            port=self.config.http_port,
            handler=handler,
            context_factory=context_factory(REPLY),
        )
        self.http.start()
        self._parts.append(self.http)
        self.config.log(f"Web UI and API on http://{self.config.host}:{self.http.port}/")

    def _start_schedule(self) -> None:
        """EventBridge's stand-in: the scheduled sweep every ``SCHEDULE_SECONDS``."""
        route = self._handler(ROUTE)

        def tick() -> None:
            while not self._stopped.wait(SCHEDULE_SECONDS):
                try:
                    route(scheduled_event(), context_factory(ROUTE)())
                except Exception:
                    self.config.log(f"scheduled sweep failed: {traceback.format_exc()}")

        threading.Thread(target=tick, name="schedule", daemon=True).start()

    def _write_state(self) -> None:
        """Where the running sandbox's parts are, for ``mailroom`` CLI commands."""
        assert self.dynamodb is not None
        state = {
            "dynamodb_endpoint": self.dynamodb.endpoint,
            "table_name": TABLE_NAME,
            "raw_store_url": self.store_dir.as_uri(),
            "outbound_url": self.outbox_dir.as_uri(),
            "http": f"http://{self.config.host}:{self.http.port}",
            "smtp": f"{self.config.host}:{self.smtp.port}",
            "pid": os.getpid(),
        }
        (self.data_dir / STATE_FILE).write_text(json.dumps(state, indent=2))

    # -- behaviour ------------------------------------------------------------------------------

    def accepted_domains(self) -> set[str]:
        """The configured domains plus the domains of every mailbox in the directory (read live)."""
        from mailroom.api import wiring
        from mailroom.inbox.directory import list_mailboxes

        domains = {d.lower() for d in self.config.domains}
        try:
            for m in list_mailboxes(wiring.table()):
                domains |= {str(a).rpartition("@")[2] for a in [m["address"], *(m.get("aliases") or [])]}
        except Exception:
            self.config.log("could not read the mailbox directory; using the configured domains only")
        return domains

    def recipient_refusal(self, address: str) -> str | None:
        """Why the mailbox directory refuses mail to ``address`` (a disabled mailbox, or the alias
        of one), read live so that disabling takes effect at once; None to accept."""
        from mailroom.api import wiring
        from mailroom.inbox.directory import list_mailboxes
        from mailroom.ingest.recipients import mailbox_routes, refusal_reason

        return refusal_reason(address, mailbox_routes(list_mailboxes(wiring.table())))

    def deliver_to_ingest(self, event: dict[str, Any]) -> None:
        """Invoke ingest as SES does (Event): retried, then recorded in the dead-letter directory."""
        ingest_handler = self._handler(INGEST)
        error = ""
        for _attempt in range(ASYNC_ATTEMPTS):
            try:
                ingest_handler(event, context_factory(INGEST)())
                if self.poller is not None:
                    self.poller.wake()  # route and metrics have a new conversation to read
                return
            except Exception:
                error = traceback.format_exc()
        ses_id = event["Records"][0]["ses"]["mail"]["messageId"]
        target = self.dead_letter_dir / "ingest" / f"{ses_id}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({"event": event, "error": error, "at": iso(now())}, indent=2))
        self.config.log(f"ingest failed {ASYNC_ATTEMPTS} times for {ses_id}; event kept in {target}")

    def _ensure_an_admin(self) -> None:
        """An empty sandbox still needs someone to sign in and set it up."""
        from mailroom.api import wiring
        from mailroom.inbox.directory import list_users, upsert_user

        table = wiring.table()
        if not any(user.get("role") == "admin" for user in list_users(table)):
            upsert_user(table, FIRST_ADMIN, name="Sandbox Admin", role="admin")
            self.config.log(f"created the first admin, {FIRST_ADMIN}: sign in as them to set things up")

    def _seed_directory(self) -> None:
        from mailroom.api import wiring
        from sandbox.demo_setup import seed_demo_organisation

        seed_demo_organisation(wiring.table())

    def _send_demo_once(self) -> None:
        from mailroom.api import wiring
        from sandbox.demo import send_demo_mail

        marker = {schema.PK: "SANDBOX", schema.SK: "DEMO_MAIL"}
        table = wiring.table()
        if table.get(marker):
            return
        try:
            count = send_demo_mail(self.config.host, self.smtp.port)
        except OSError as exc:
            self.config.log(f"could not send the demo mail: {exc}")
            return
        table.put({**marker, "entity": "sandbox", "sent_at": iso(now()), "count": count})
        self.config.log(f"sent {count} demo messages through SMTP")
        self._answer_demo_mail()

    def _answer_demo_mail(self) -> None:
        """A few demo replies, so the team report has response times from the first start."""
        from mailroom.api import wiring
        from mailroom.settings import get_settings
        from sandbox.demo_setup import answer_demo_mail

        try:
            answered = answer_demo_mail(wiring.table(), wiring.sender(), get_settings())
        except Exception:
            self.config.log(f"could not answer the demo mail: {traceback.format_exc()}")
            return
        self.config.log(f"answered {answered} demo conversations")
