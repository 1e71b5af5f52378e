"""Inline images (``<img src="cid:...">``) of a stored message, made visible in the mail frame.

The frame is a sandboxed document without its own origin, so it can't fetch the attachment with
the agent's session; the images are embedded as ``data:`` URIs instead (the frame's CSP allows
``data:`` images and nothing remote). Only raster image types are embedded (never SVG), within a
total size budget; a reference that can't be resolved becomes an empty image, so nothing is
requested from anywhere.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

EMBEDDABLE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"})
MAX_EMBEDDED_BYTES = 8 * 1024 * 1024
EMPTY_IMAGE = "data:,"

_CID_SRC = re.compile(r"""(\bsrc\s*=\s*)(["']?)cid:([^"'\s>]+)\2""", re.IGNORECASE)


def embed_inline_images(html: str, load: Callable[[str], tuple[str, bytes] | None]) -> str:
    """Replace each ``cid:`` image source with a data URI; ``load(content_id)`` returns the
    attachment's (content type, bytes) or None. Each content id is loaded at most once."""
    cache: dict[str, str] = {}
    budget = [MAX_EMBEDDED_BYTES]

    def data_uri(content_id: str) -> str:
        if content_id not in cache:
            found = load(content_id)
            uri = EMPTY_IMAGE
            if found is not None:
                content_type, data = found
                if content_type.lower() in EMBEDDABLE_TYPES and len(data) <= budget[0]:
                    budget[0] -= len(data)
                    uri = f"data:{content_type.lower()};base64,{base64.b64encode(data).decode('ascii')}"
            cache[content_id] = uri
        return cache[content_id]

    def replace(match: re.Match[str]) -> str:
        content_id = match.group(3).strip("<>")
        return f'{match.group(1)}"{data_uri(content_id)}"'

    return _CID_SRC.sub(replace, html)
