"""The reply function's resolver: routes, validation, OpenAPI, security headers, errors."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

from mailroom.api import (
    errors,
    request_body,
    routes_actions,
    routes_admin_canned,
    routes_admin_data,
    routes_admin_org,
    routes_admin_rules,
    routes_api,
    routes_auth,
    routes_conversation,
    routes_finance,
    routes_inbox,
    routes_mentions,
    routes_notifications,
    routes_outbox,
    routes_profile,
    routes_replies,
    routes_reports,
    routes_rules,
    static_files,
)
from mailroom.api.guard import require_session
from mailroom.api.openapi_document import openapi_document
from mailroom.api.security import security_headers

OPENAPI_PATH = "/api/openapi.json"


def create_app() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)
    app.use(middlewares=[security_headers, require_session])
    errors.register(app)
    request_body.register(app)
    app.include_router(routes_auth.router)
    app.include_router(routes_api.router)
    app.include_router(routes_actions.router)
    app.include_router(routes_replies.router)
    app.include_router(routes_inbox.router)
    app.include_router(routes_conversation.router)
    app.include_router(routes_outbox.router)
    app.include_router(routes_mentions.router)
    app.include_router(routes_rules.router)
    app.include_router(routes_admin_rules.router)
    app.include_router(routes_admin_canned.router)
    app.include_router(routes_reports.router)
    app.include_router(routes_notifications.router)
    app.include_router(routes_finance.router)
    app.include_router(routes_admin_org.router)
    app.include_router(routes_profile.router)
    app.include_router(routes_admin_data.router)
    app.include_router(static_files.router)

    @app.get(OPENAPI_PATH, include_in_schema=False)
    def openapi() -> Response[str]:
        return Response(
            status_code=200,
            content_type=content_types.APPLICATION_JSON,
            body=openapi_document(
                app, title="Mailroom API", version="0.1.0", description="The shared inbox's JSON API."
            ),
        )

    return app
