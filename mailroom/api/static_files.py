"""Static assets. htmx comes from its npm package: `make` copies its dist file next to our own CSS
at build time (never committed), so the Lambda bundle and the sandbox serve the same bytes."""

from __future__ import annotations

from pathlib import Path

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

STATIC_DIR = Path(__file__).parent / "static"
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated


@router.get("/static/<name>", include_in_schema=False)
def static_file(name: str):  # type: ignore[no-untyped-def]  # see routes_api.get_attachment
    path = STATIC_DIR / name
    if "/" in name or name.startswith(".") or path.suffix not in CONTENT_TYPES or not path.is_file():
        raise NotFoundError(f"no static file {name}")
    return Response(
        status_code=200,
        content_type=CONTENT_TYPES[path.suffix],
        body=path.read_bytes(),
        headers={"Cache-Control": "public, max-age=86400"},
    )
