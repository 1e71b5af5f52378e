"""Routing rules over the API: the dry run ("which rules match this message, and what would they do")."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, ForbiddenError, NotFoundError
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel, Field, model_validator

from mailroom.api import wiring
from mailroom.api.guard import current_session
from mailroom.api.openapi_docs import answers
from mailroom.auth import policy
from mailroom.routing.dry_run import DryRunError, dry_run_raw, dry_run_stored
from mailroom.routing.wiring import router as routing
from mailroom.rules.model import Decision

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated


class DryRunRequest(BaseModel):
    conversation_id: str | None = Field(default=None, pattern=r"^c[0-9a-z]{6,32}$")
    message_key: str | None = Field(default=None, pattern=r"^m[0-9a-z]{6,32}$")
    eml: str | None = Field(default=None, max_length=5_000_000, description="A raw message, as text.")
    mailbox: str | None = Field(default=None, max_length=320)

    @model_validator(mode="after")
    def _one_source(self) -> DryRunRequest:
        if (self.eml is None) == (self.conversation_id is None):
            raise ValueError("give either conversation_id (and optionally message_key) or eml")
        return self


class MatchedRuleOut(BaseModel):
    rule_id: str
    rule_name: str
    actions: list[str]


class DryRunResponse(BaseModel):
    matched: list[MatchedRuleOut]
    tags: list[str]
    team: str | None
    priority: str | None
    sla_policy: str | None
    assign_to: str | None
    required_skills: list[str]
    auto_reply: str | None
    spam: bool
    sources: dict[str, str]
    explain: list[str]
    warnings: list[str]

    @classmethod
    def of(cls, decision: Decision) -> DryRunResponse:
        return cls(
            matched=[
                MatchedRuleOut(
                    rule_id=m.rule_id, rule_name=m.rule_name, actions=[a.describe() for a in m.actions]
                )
                for m in decision.matched
            ],
            tags=decision.tags,
            team=decision.team,
            priority=decision.priority,
            sla_policy=decision.sla_policy,
            assign_to=decision.assign_to,
            required_skills=decision.required_skills,
            auto_reply=decision.auto_reply,
            spam=decision.spam,
            sources=decision.sources,
            explain=decision.explain(),
            warnings=decision.warnings,
        )


@router.post(
    "/api/rules/dry-run",
    summary="Which rules match a message, and what would they do",
    responses=answers(
        {
            400: "The raw email names no mailbox to arrive in",
            403: "Admins only",
            404: "No such conversation or message",
        }
    ),
)
def dry_run(request: Annotated[DryRunRequest, Body()]) -> DryRunResponse:
    principal = current_session(router.context).principal
    if not policy.can_admin(principal):
        raise ForbiddenError("only admins can test routing rules")
    try:
        if request.eml is not None:
            decision = dry_run_raw(
                routing(), request.eml.encode("utf-8", "surrogateescape"), mailbox=request.mailbox
            )
        else:
            decision = dry_run_stored(
                routing(), wiring.store(), str(request.conversation_id), request.message_key
            )
    except DryRunError as exc:
        if request.conversation_id:
            raise NotFoundError(str(exc)) from exc
        raise BadRequestError(str(exc)) from exc
    return DryRunResponse.of(decision)
