"""How a route's answers are described in the OpenAPI document.

Powertools documents the route's return model only when a route gives no ``responses``; once it
gives some, it documents exactly those, and fills the route's return model into each one that has
no content of its own. :func:`answers` therefore lists the success status (which gets the return
model) and describes every refusal with :class:`RefusalBody`, the shape :mod:`mailroom.api.errors`
answers with.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field


class RefusalBody(BaseModel):
    """A refusal: what went wrong in words, and for invalid input each problem at its field."""

    model_config = ConfigDict(extra="allow")

    message: str
    detail: list[dict[str, Any]] | None = Field(
        default=None, description="422: one entry per problem, `loc` naming the field."
    )


def answers(
    refusals: dict[int, str],
    *,
    success: int = 200,
    description: str = "Done",
    content: dict[str, Any] | None = None,
) -> dict[int, OpenAPIResponse]:
    """The ``responses`` of a route: ``success`` with its return model (or ``content``, for a body
    that is not JSON: ``{"text/csv": {"schema": {"type": "string"}}}``), each refusal with its text
    and :class:`RefusalBody`."""
    ok = OpenAPIResponse(description=description)
    if content is not None:
        ok["content"] = content
    documented: dict[int, OpenAPIResponse] = {success: ok}
    for status, text in refusals.items():
        documented[status] = {"description": text, "content": {"application/json": {"model": RefusalBody}}}
    return documented
