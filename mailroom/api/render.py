"""Jinja2 for the agent UI: autoescaped templates packaged with the code."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from mailroom.api.static_files import static_url
from mailroom.clock import parse_iso
from mailroom.domain.event import describe
from mailroom.mail.model import MessageFlag


def ago(value: str | None, now: datetime | None = None) -> str:
    """``5m``, ``3h``, ``2d``: how long ago an ISO timestamp was (``<1m`` under a minute)."""
    if not value:
        return ""
    seconds = int(((now or datetime.now(UTC)) - parse_iso(value)).total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return "<1m"


FLAG_LABELS = {
    MessageFlag.PARSE_FAILED.value: "unreadable",
    MessageFlag.AUTO_REPLY.value: "auto-reply",
    MessageFlag.BULK.value: "bulk",
    MessageFlag.BOUNCE.value: "bounce",
    MessageFlag.SPAM.value: "spam",
    MessageFlag.VIRUS.value: "virus",
    MessageFlag.QUARANTINED.value: "quarantined",
    MessageFlag.AUTH_FAILED.value: "auth failed",
}


def sla_badge(conversation: Any, now: datetime | None = None) -> Markup:
    """First-response SLA state while the customer waits: due in N, or overdue by N."""
    due = getattr(conversation, "first_response_due", None)
    if not due or not getattr(conversation, "waiting_since", None):
        return Markup("")
    left = (parse_iso(due) - (now or datetime.now(UTC))).total_seconds()
    if left < 0:
        return Markup('<span class="sla sla-breached">overdue {}</span>').format(ago(due, now))
    state = "sla-soon" if left < 3600 else "sla-ok"
    minutes = int(left // 60)
    label = f"{minutes // 60}h {minutes % 60}m" if minutes >= 60 else f"{minutes}m"
    return Markup('<span class="sla {}">due in {}</span>').format(state, label)


def when(value: str | None) -> str:
    """``2026-11-20 09:30 UTC`` from an ISO timestamp."""
    return f"{value[:16].replace('T', ' ')} UTC" if value else ""


_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9._%+-]+(?:@[A-Za-z0-9.-]+\.[A-Za-z]{2,})?)")


def with_mentions(text: str) -> Markup:
    """A note's text, escaped, with its @mentions marked."""
    result = Markup("")
    position = 0
    for match in _MENTION.finditer(text):
        result += escape(text[position : match.start()])
        result += Markup('<span class="mention">{}</span>').format(match.group(0))
        position = match.end()
    return result + escape(text[position:])


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("mailroom.api", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ago"] = ago
    env.filters["when"] = when
    env.filters["describe"] = describe
    env.filters["with_mentions"] = with_mentions
    env.globals["flag_labels"] = FLAG_LABELS
    env.globals["sla_badge"] = sla_badge
    env.globals["static_url"] = static_url
    return env


def render(template: str, status_code: int = 200, **context: Any) -> Response[str]:
    body = environment().get_template(template).render(**context)
    return Response(status_code=status_code, content_type="text/html; charset=utf-8", body=body)


def page(session: Any, template: str, status_code: int = 200, **context: Any) -> Response[str]:
    """A page for the signed-in person: their session and CSRF token go to the template (forms and
    htmx requests need the token)."""
    return render(template, status_code=status_code, session=session, csrf=session.csrf(), **context)
