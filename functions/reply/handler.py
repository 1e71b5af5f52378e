"""Lambda entry point behind the API Gateway HTTP API: the agent UI and the JSON API."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from mailroom.api.app import create_app
from mailroom.costs.metering import REPLY, metered_invocation
from mailroom.observability import logger, tracer

app = create_app()


@metered_invocation(REPLY)
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
