"""The OpenAPI document as served (``GET /api/openapi.json``): Powertools' generation from the routes
(each declares its own answers, see :mod:`mailroom.api.openapi_docs`), plus what is true of every
operation: the two ways to authenticate (a bearer token, the session cookie), the 401 for neither,
and the 422 an invalid request gets, with the body :mod:`mailroom.api.errors` answers (not
Powertools' default ``HTTPValidationError``).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.models import APIKey, HTTPBearer

from mailroom.api.openapi_docs import RefusalBody
from mailroom.auth.cookies import SESSION_COOKIE

_COMPONENTS = "#/components/schemas/"
_REFUSAL = {"application/json": {"schema": {"$ref": f"{_COMPONENTS}RefusalBody"}}}
SHARED_RESPONSES = {
    "401": {"description": "Not signed in: no valid bearer token or session.", "content": _REFUSAL},
    "422": {
        "description": "Invalid request: `detail` names each problem and where it is",
        "content": _REFUSAL,
    },
}

# A path parameter holding "/" (or an encoded one) matches no route: the router's own 404.
UNROUTED = {"description": "No such route: a path parameter contains '/'.", "content": _REFUSAL}


def openapi_document(app: APIGatewayHttpResolver, *, title: str, version: str, description: str) -> str:
    generated = app.get_openapi_json_schema(
        title=title,
        version=version,
        description=description,
        security_schemes={
            "bearer": HTTPBearer(description="`mailroom token EMAIL` prints one"),
            "session": APIKey.model_validate(
                {"in": "cookie", "name": SESSION_COOKIE, "description": "The web UI's session cookie"}
            ),
        },
        security=[{"bearer": []}, {"session": []}],
    )
    document: dict[str, Any] = json.loads(generated)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("RefusalBody", RefusalBody.model_json_schema(ref_template=_COMPONENTS + "{model}"))
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.update(SHARED_RESPONSES)
            if any(parameter.get("in") == "path" for parameter in operation.get("parameters", [])):
                responses.setdefault("404", UNROUTED)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return json.dumps(document, indent=2)
