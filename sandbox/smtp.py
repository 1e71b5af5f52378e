"""The sandbox's stand-in for SES inbound: an SMTP server that does what the receipt rule does.

For each accepted mail it stores the raw MIME under ``raw_prefix + <ses message id>`` (the S3
action), builds the SES receipt event and hands it to ``deliver`` (the Lambda action), and only
then answers ``250``. Recipients outside the accepted domains are refused at ``RCPT``, as SES
refuses mail that no receipt rule matches, and so are the addresses of disabled mailboxes
(``refuse_recipient``: ``550 5.2.1`` with the reason).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, AnyStr

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailroom.storage import BlobStore
from sandbox.ses_event import build_ses_event, new_ses_message_id

log = logging.getLogger("mailroom.sandbox.smtp")


def size_reply(limit: int) -> str:
    return f"552 5.3.4 Message size exceeds fixed limit of {limit} bytes"


class _SMTP(SMTP):
    """aiosmtpd enforces the SIZE limit itself (at MAIL and during DATA) with its own wording."""

    size_limit_reply = ""

    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str) and status.startswith("552 Error:"):
            await super().push(self.size_limit_reply)
            return
        await super().push(status)


class _Controller(Controller):
    def factory(self) -> _SMTP:
        smtp = _SMTP(self.handler, **self.SMTP_kwargs)
        smtp.size_limit_reply = size_reply(self.SMTP_kwargs["data_size_limit"])
        return smtp

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        # Bind first, so that port 0 (any free port) is resolved before the controller connects.
        sock = socket.create_server((self.hostname, self.port))
        self.port = sock.getsockname()[1]
        return self.loop.create_server(self._factory_invoker, sock=sock, ssl=self.ssl_context)


class _Handler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        return await self.receiver._check_recipient(envelope, address, options)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return await self.receiver._receive(envelope)


class SmtpReceiver:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        accept_domains: Callable[[], set[str]],
        store: BlobStore,
        raw_prefix: str,
        deliver: Callable[[dict[str, Any]], None],
        max_message_bytes: int,
        workers: int = 8,
        refuse_recipient: Callable[[str], str | None] | None = None,
    ) -> None:
        self._accept_domains = accept_domains
        # Why a recipient in an accepted domain is refused (a disabled mailbox), or None.
        self._refuse_recipient = refuse_recipient
        self._store = store
        self._raw_prefix = raw_prefix
        self._deliver = deliver
        self._max_bytes = max_message_bytes
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._controller = _Controller(
            _Handler(self),
            hostname=host,
            port=port,
            server_hostname="mailroom-sandbox",
            data_size_limit=max_message_bytes,
            enable_SMTPUTF8=True,
        )

    @property
    def host(self) -> str:
        return str(self._controller.hostname)

    @property
    def port(self) -> int:
        """The listening port (the one picked when the receiver was created with port 0)."""
        return int(self._controller.port)

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="smtp-deliver")
        self._controller.start()
        log.info("smtp listening", extra={"host": self.host, "port": self.port})

    def stop(self) -> None:
        """Stop listening and wait for deliveries in progress. A receiver starts only once."""
        if self._pool is None:
            return
        self._controller.stop()
        self._pool.shutdown(wait=True)
        self._pool = None

    async def _run(self, func: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, func, *args)

    async def _check_recipient(self, envelope: Envelope, address: str, options: list[str]) -> str:
        try:
            domains = {domain.lower() for domain in await self._run(self._accept_domains)}
        except Exception:
            log.exception("accepted domains unavailable", extra={"recipient": address})
            return "451 4.3.0 Temporary failure looking up the recipient; try again later"
        if address.rpartition("@")[2].lower() not in domains:
            accepted = ", ".join(sorted(domains)) or "no domain yet"
            log.info("recipient refused", extra={"recipient": address, "mail_from": envelope.mail_from})
            return f"550 5.1.1 <{address}>: this server only accepts mail for {accepted}"
        if self._refuse_recipient is not None:
            try:
                reason = await self._run(self._refuse_recipient, address)
            except Exception:
                log.exception("mailbox directory unavailable", extra={"recipient": address})
                return "451 4.3.0 Temporary failure looking up the recipient; try again later"
            if reason:
                log.info("recipient refused", extra={"recipient": address, "reason": reason})
                return f"550 5.2.1 <{address}>: {reason}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 Ok"

    async def _receive(self, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if len(raw) > self._max_bytes:
            return size_reply(self._max_bytes)
        ses_id = new_ses_message_id()
        received_at = datetime.now(UTC)
        mail_from = "" if envelope.mail_from in (None, "<>") else str(envelope.mail_from)
        recipients = list(envelope.rcpt_tos)
        fields = {"ses_message_id": ses_id, "mail_from": mail_from, "recipients": recipients}
        try:
            await self._run(self._store.put, self._raw_prefix + ses_id, raw)
        except Exception:
            log.exception("raw mail not stored", extra=fields)
            return "451 4.3.0 Temporary failure storing the message; try again later"
        log.info("mail received", extra={**fields, "size_bytes": len(raw)})
        await self._run(self._build_and_deliver, raw, ses_id, mail_from, recipients, received_at)
        return f"250 2.0.0 Ok: queued as {ses_id}"

    def _build_and_deliver(
        self, raw: bytes, ses_id: str, mail_from: str, recipients: list[str], received_at: datetime
    ) -> None:
        try:
            event = build_ses_event(
                raw=raw,
                ses_message_id=ses_id,
                envelope_from=mail_from,
                recipients=recipients,
                received_at=received_at,
            )
            self._deliver(event)
        except Exception:
            # The raw mail is stored, as SES would have stored it: a failing ingest is not the
            # sender's problem, so the sender still gets its 250.
            log.exception("delivery failed", extra={"ses_message_id": ses_id})
