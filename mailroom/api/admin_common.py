"""What the admin pages for rules and canned responses share: the admin check for pages, the
request's form, and recent conversations to test or preview against."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from mailroom.api import wiring
from mailroom.api.form_data import read_form
from mailroom.api.render import page
from mailroom.api.session import Session
from mailroom.auth import policy
from mailroom.auth.model import Principal
from mailroom.domain.conversation import Conversation
from mailroom.inbox.listing import InboxQuery, list_inbox


def form_of(router: Router) -> dict[str, str]:
    """The form of the current request, urlencoded or multipart (first value of each field)."""
    return read_form(router.current_event).first()


def query_of(router: Router) -> dict[str, str]:
    return {
        k: v for k, v in (router.current_event.query_string_parameters or {}).items() if isinstance(v, str)
    }


def is_htmx(router: Router) -> bool:
    return (router.current_event.headers or {}).get("hx-request") == "true"


def forbidden_page(session: Session, template: str, **context: Any) -> Response[str] | None:
    """None for an admin; else the page's 403 (agents and finance never see the admin pages)."""
    if policy.can_admin(session.principal):
        return None
    return page(session, template, 403, forbidden=True, **context)


def recent_conversations(principal: Principal, limit: int = 20) -> list[Conversation]:
    """The latest conversations the admin sees, newest activity first."""
    return list(list_inbox(wiring.table(), principal, InboxQuery(limit=limit)).page.items)
