"""Static assets. htmx comes from its npm package: `make` copies its dist file next to our own CSS
at build time (never committed), so the Lambda bundle and the sandbox serve the same bytes."""

from __future__ import annotations

import hashlib
from functools import lru_cache
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


# Pages link to ``/static/<name>?v=<content hash>`` (see :func:`static_url`): such a URL never
# changes meaning, so browsers may keep it for a year; a new deployment links to a new hash.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=300"


def _path(name: str) -> Path | None:
    path = STATIC_DIR / name
    if "/" in name or name.startswith(".") or path.suffix not in CONTENT_TYPES or not path.is_file():
        return None
    return path


@lru_cache(maxsize=64)
def _version(name: str) -> str:
    path = _path(name)
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path else "missing"


def static_url(name: str) -> str:
    """The URL of a static file, fingerprinted with its content."""
    return f"/static/{name}?v={_version(name)}"


@router.get("/static/<name>", include_in_schema=False)
def static_file(name: str):  # type: ignore[no-untyped-def]  # see routes_api.get_attachment
    path = _path(name)
    if path is None:
        raise NotFoundError(f"no static file {name}")
    asked = (router.current_event.query_string_parameters or {}).get("v")
    return Response(
        status_code=200,
        content_type=CONTENT_TYPES[path.suffix],
        body=path.read_bytes(),
        headers={
            "Cache-Control": IMMUTABLE if asked == _version(name) else REVALIDATE,
            "ETag": f'"{_version(name)}"',
        },
    )
