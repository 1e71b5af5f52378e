"""Where outbound mail goes: SESv2 SendEmail (raw) on AWS, an outbox directory in the sandbox."""

from __future__ import annotations

import itertools
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError

from mailroom.faultpoints import checkpoint
from mailroom.settings import Settings, get_settings
from mailroom.storage.local import LocalStore
from mailroom.usage import current_meter


class SendRefusedError(Exception):
    """The provider certainly did not accept the mail: nothing went out, a retry is safe."""


class SendInDoubtError(Exception):
    """The mail may have gone out (a timeout, a 5xx after sending): never resend it blindly."""


# SES error codes that are an answer *instead of* accepting the mail.
SES_REFUSALS = frozenset(
    {
        "MessageRejected",
        "MailFromDomainNotVerifiedException",
        "AccountSendingPausedException",
        "SendingPausedException",
        "ConfigurationSetDoesNotExistException",
        "ConfigurationSetSendingPausedException",
        "BadRequestException",
        "NotFoundException",
        "LimitExceededException",
        "TooManyRequestsException",
        "Throttling",
    }
)


def ses_failure(exc: Exception) -> SendRefusedError | SendInDoubtError:
    """An SES call's exception as one of ours. A 4xx or a known refusal code, or a connection that
    was never made, carried no mail; a read timeout, a dropped connection or a 5xx might have."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        reason = f"{code}: {message}" if message else code
        if code in SES_REFUSALS or (isinstance(status, int) and 400 <= status < 500):
            return SendRefusedError(f"refused by the mail provider: {reason}")
        return SendInDoubtError(f"the mail provider answered {reason}; it may have been sent")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return SendRefusedError(f"could not reach the mail provider: {exc}")
    return SendInDoubtError(f"send in doubt after {type(exc).__name__}: {exc}")


class MailSender(Protocol):
    def send(self, raw: bytes, *, message_id: str) -> str:
        """Send raw MIME; returns the provider's message id."""
        ...


class SesSender:
    def __init__(self, client: Any, configuration_set: str | None = None) -> None:
        self.client = client
        self.configuration_set = configuration_set

    def send(self, raw: bytes, *, message_id: str) -> str:
        args: dict[str, Any] = {"Content": {"Raw": {"Data": raw}}}
        if self.configuration_set:
            args["ConfigurationSetName"] = self.configuration_set
        try:
            response = self.client.send_email(**args)
        except Exception as exc:
            raise ses_failure(exc) from exc
        _meter(len(raw))
        return str(response["MessageId"])


class OutboxSender:
    """The sandbox's SES: each send becomes ``<outbox>/<message id>.eml``. Like a mail in the
    customer's inbox, a second send of one message is a second file (``<message id>-2.eml``),
    never an overwrite: a double send shows."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.store = LocalStore(directory)

    def send(self, raw: bytes, *, message_id: str) -> str:
        safe = "".join(ch if ch.isalnum() or ch in "-_.@" else "_" for ch in message_id)
        name = self._write_new(safe, raw)
        _meter(len(raw))
        checkpoint("outbox.after_write")  # the sandbox may lose SES's answer here (a send in doubt)
        return f"outbox-{name.removesuffix('.eml')}"

    def _write_new(self, stem: str, raw: bytes) -> str:
        """Write ``raw`` whole under the first free name (a hard link is atomic and never replaces)."""
        fd, tmp = tempfile.mkstemp(dir=self.store.root, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
            for copy in itertools.count(1):
                name = f"{stem}.eml" if copy == 1 else f"{stem}-{copy}.eml"
                try:
                    os.link(tmp, self.store.root / name)
                except FileExistsError:
                    continue
                return name
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            Path(tmp).unlink(missing_ok=True)

    def list(self) -> list[Path]:
        return sorted(self.store.root.glob("*.eml"), key=lambda p: p.stat().st_mtime)


def _meter(size: int) -> None:
    meter = current_meter()
    if meter is not None:
        meter.record_ses_out(size)


def sender_from_settings(settings: Settings | None = None) -> MailSender:
    settings = settings or get_settings()
    return _sender(settings.outbound_url, settings.region, settings.ses_configuration_set)


@lru_cache(maxsize=4)
def _sender(url: str, region: str, configuration_set: str | None) -> MailSender:
    parsed = urlparse(url)
    if parsed.scheme == "ses":
        # Exactly one attempt: an SDK retry after a read timeout could send the mail twice beneath
        # the reply pipeline's state machine, which treats a timeout as "in doubt", never "resend".
        single_attempt = Config(retries={"mode": "standard", "max_attempts": 1}, read_timeout=20)
        return SesSender(boto3.client("sesv2", region_name=region, config=single_attempt), configuration_set)
    if parsed.scheme == "file":
        return OutboxSender(parsed.path)
    raise ValueError(f"unsupported outbound URL {url!r}: use ses: or file:///dir")
