"""A request body that is not UTF-8 text is an invalid request (422), not a server error.

Powertools reads every route's body as UTF-8 text when it validates the route's input (before any
middleware of ours runs), so an undecodable body raises ``UnicodeDecodeError`` there. The handler
registered by :func:`register` answers those with the usual invalid-request body; a
``UnicodeDecodeError`` that has nothing to do with the body stays what it is, a bug (500)."""

from __future__ import annotations

import base64
import binascii

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from mailroom.api.errors import invalid_request

NOT_TEXT = {"loc": ("body",), "type": "json_invalid", "msg": "the body is not UTF-8 text"}


def body_is_text(body: str | None, *, base64_encoded: bool) -> bool:
    if not body or not base64_encoded:
        return True
    try:
        base64.b64decode(body).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return True


def register(app: APIGatewayHttpResolver) -> None:
    @app.exception_handler(UnicodeDecodeError)  # type: ignore[untyped-decorator]
    def _undecodable(exc: UnicodeDecodeError) -> Response[str]:
        event = app.current_event
        if body_is_text(event.body, base64_encoded=bool(event.is_base64_encoded)):
            raise exc  # not about the body: a bug
        return invalid_request(RequestValidationError([NOT_TEXT]))
