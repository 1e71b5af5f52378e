"""Refusals as HTTP answers: one mapping from domain errors to status codes and JSON bodies.

Routes raise domain errors (or :class:`ApiError`); the handlers registered by :func:`register`
turn them into ``{"message": ..., **details}`` with the right status, so a refusal has the same
shape everywhere and the page routes can reuse :func:`describe` to show it in a form.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import ValidationError

from mailroom.actions.model import (
    ActionError,
    ConversationMergedError,
    InvalidActionError,
    NotPermittedError,
    StaleVersionError,
)
from mailroom.api.schemas import ConversationSummary
from mailroom.assignment.errors import (
    AgentUnavailableError,
    AlreadyAssignedError,
    AssignmentError,
    ConversationNotFoundError,
    UnknownAgentError,
    UnknownTeamError,
    VersionConflictError,
)
from mailroom.auth import policy
from mailroom.outbound.compose import HeaderInjectionError
from mailroom.replies.model import (
    IdempotencyKeyReusedError,
    InvalidRecipientError,
    NoRecipientError,
    NotAssigneeError,
    ReplyNotFoundError,
    ReplyNotPermittedError,
    ReplyStateError,
    StaleReplyError,
)


class ApiError(Exception):
    """A refusal with its status code and optional structured details."""

    def __init__(self, status: int, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


# Refusals whose message is the exception's own, by status code (first match wins).
_BY_TYPE: tuple[tuple[type[Exception], int], ...] = (
    (UnknownAgentError, 422),
    (UnknownTeamError, 422),
    (AgentUnavailableError, 409),  # at capacity, or deactivated
    (NotPermittedError, 403),
    (InvalidActionError, 422),
    (ActionError, 409),
    (AssignmentError, 409),
    (ReplyStateError, 409),
    (HeaderInjectionError, 400),
    (InvalidRecipientError, 422),
    (NoRecipientError, 422),
    (IdempotencyKeyReusedError, 422),
    (ReplyNotPermittedError, 403),
    (policy.ForbiddenError, 403),
)
# Never say more than "not found": what exists in a mailbox you can't see must not leak.
_NOT_FOUND = (ConversationNotFoundError, ReplyNotFoundError, policy.NotVisibleError)


def describe(exc: Exception) -> ApiError | None:
    """The HTTP refusal for a domain error, or None for one that is a bug (a 500)."""
    error: ApiError | None = None
    if isinstance(exc, ApiError):
        error = exc
    elif isinstance(exc, StaleReplyError):
        error = ApiError(
            409,
            "The conversation changed since you opened it. Your draft is kept: "
            "read what changed, then send again.",
            changes=exc.changes,
            seen_version=exc.seen_version,
            current_version=exc.current_version,
        )
    elif isinstance(exc, StaleVersionError):
        error = ApiError(
            409,
            str(exc),
            conversation=ConversationSummary.of(exc.current).model_dump(mode="json"),
            changes=exc.changes,
        )
    elif isinstance(exc, ConversationMergedError):
        error = ApiError(409, str(exc), merged_into=exc.merged_into)
    elif isinstance(exc, NotAssigneeError):
        error = ApiError(
            409, f"{exc.holder} is handling this conversation: only they can reply.", holder=exc.holder
        )
    elif isinstance(exc, AlreadyAssignedError):
        error = ApiError(409, f"{exc.holder} already has this conversation.", holder=exc.holder)
    elif isinstance(exc, VersionConflictError):
        error = ApiError(409, "The conversation kept changing; reload it and try again.")
    elif isinstance(exc, ValidationError):  # only for input checked past the route's own validation
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'request'}: {error['msg']}"
            for error in exc.errors()
        )
        error = ApiError(422, f"Invalid request: {problems}")
    elif isinstance(exc, ConversationNotFoundError):
        error = ApiError(404, f"no conversation {exc.conversation_id}")
    elif isinstance(exc, _NOT_FOUND):
        error = ApiError(404, "Not found.")
    else:
        status = next((code for kind, code in _BY_TYPE if isinstance(exc, kind)), None)
        error = ApiError(status, str(exc)) if status is not None else None
    return error


def json_response(error: ApiError) -> Response[str]:
    return Response(
        status_code=error.status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"message": error.message, **error.details}, default=str),
    )


_HANDLED: list[type[Exception]] = [
    ApiError,
    StaleReplyError,
    StaleVersionError,
    ConversationMergedError,
    NotAssigneeError,
    AlreadyAssignedError,
    VersionConflictError,
    *_NOT_FOUND,
    *(kind for kind, _ in _BY_TYPE),
]


def _error_text(error: dict[str, Any]) -> str:
    # Our validators' own words ("Value error, a note needs some text") or pydantic's; never the input.
    return str(error.get("msg") or error.get("type") or "invalid").removeprefix("Value error, ")


def _describe_error(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ())[1:])
    return f"{where}: {_error_text(error)}" if where else _error_text(error)


def invalid_request(exc: RequestValidationError) -> Response[str]:
    """422 saying what is wrong, in words, with where (``detail``); the rejected input is never
    echoed back (it may be huge, or hostile)."""
    errors = exc.errors()
    body = {
        "message": "Invalid request: " + ("; ".join(_describe_error(error) for error in errors) or "invalid"),
        "detail": [
            {"loc": error["loc"], "type": error["type"], "msg": _error_text(error)} for error in errors
        ],
    }
    return Response(status_code=422, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def register(app: APIGatewayHttpResolver) -> None:
    @app.exception_handler(_HANDLED)  # type: ignore[untyped-decorator]
    def _refusal(exc: Exception) -> Response[str]:
        error = describe(exc)
        if error is None:  # unreachable for the listed types; keep it a 500 rather than guess
            raise exc
        return json_response(error)

    app.exception_handler(RequestValidationError)(invalid_request)
