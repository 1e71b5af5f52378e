"""The sandbox's outbox as a page for developers: every mail the product "sent", with its
threading headers, and the raw .eml. On AWS mail goes out through SES and this page says so."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from mailroom.api.guard import current_session
from mailroom.api.render import page
from mailroom.auth import policy
from mailroom.outbound.outbox import entry_path, list_outbox, read_entry
from mailroom.settings import get_settings

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated


def _directory() -> Path | None:
    url = get_settings().outbound_url
    return Path(url.removeprefix("file://")) if url.startswith("file://") else None


def _page(template: str, status_code: int = 200, **context: object) -> Response[str]:
    return page(current_session(router.context), template, status_code, **context)


@router.get("/outbox", include_in_schema=False)
def outbox_page() -> Response[str]:
    principal = current_session(router.context).principal
    directory = _directory()
    entries = [
        (entry, datetime.fromtimestamp(entry.sent_at, UTC).isoformat())
        for entry in (list_outbox(directory) if directory else [])
        if policy.can_read_bodies(principal, entry.from_address)
    ]
    return _page("outbox.html", entries=entries, sandbox=directory is not None, active="outbox")


@router.get("/outbox/<name>", include_in_schema=False)
def outbox_raw(name: str) -> Response[str]:
    principal = current_session(router.context).principal
    directory = _directory()
    path = entry_path(directory, name) if directory else None
    if path is None or not policy.can_read_bodies(principal, read_entry(path).from_address):
        return _page("not_found.html", status_code=404, what="message", ident=name)
    return Response(
        status_code=200,
        content_type="text/plain; charset=utf-8",
        body=path.read_bytes().decode("utf-8", "replace"),
        headers={"Content-Disposition": f'inline; filename="{path.name}"'},
    )
