"""Inline images (``<img src="cid:...">``) of a stored message, made visible in the mail frame.

The frame is a sandboxed document without its own origin, so it can't fetch the attachment with
the agent's session; the images are embedded as ``data:`` URIs instead (the frame's CSP allows
``data:`` images and nothing remote). Only raster image types are embedded (never SVG), within a
total size budget; a reference that can't be resolved becomes an empty image, so nothing is
requested from anywhere.

The HTML is already sanitized. Only the ``src`` of real ``<img>`` elements is rewritten, found by
an HTML parser and re-serialized with every attribute value escaped: text that merely looks like
``src=cid:`` (in another attribute, in text) is left exactly as the sanitizer wrote it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from html import escape
from urllib.parse import unquote

from mailroom.mail.html_scan import OffsetParser

EMBEDDABLE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"})
MAX_EMBEDDED_BYTES = 8 * 1024 * 1024
EMPTY_IMAGE = "data:,"


class _CidImages(OffsetParser):
    """``(start, end, attributes)`` of every ``<img>`` whose ``src`` is a ``cid:`` reference."""

    def __init__(self, html: str) -> None:
        super().__init__(html)
        self.found: list[tuple[int, int, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._image(tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._image(tag, attrs)

    def _image(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        source = dict(attrs).get("src") or ""
        if tag == "img" and source.strip().lower().startswith("cid:"):
            start = self.char_offset()
            text = self.get_starttag_text() or ""
            self.found.append((start, start + len(text), attrs))


def embed_inline_images(html: str, load: Callable[[str], tuple[str, bytes] | None]) -> str:
    """Replace each ``cid:`` image source with a data URI; ``load(content_id)`` returns the
    attachment's (content type, bytes) or None. Each content id is loaded at most once."""
    parser = _CidImages(html)
    parser.feed(html)
    parser.close()
    if not parser.found:
        return html
    cache: dict[str, str] = {}
    budget = MAX_EMBEDDED_BYTES

    def data_uri(content_id: str) -> str:
        nonlocal budget
        if content_id not in cache:
            found = load(content_id)
            if found is None and "%" in content_id:  # RFC 2392: a cid URL is %-encoded
                found = load(unquote(content_id))
            uri = EMPTY_IMAGE
            if found is not None:
                content_type, data = found
                if content_type.lower() in EMBEDDABLE_TYPES and len(data) <= budget:
                    budget -= len(data)
                    uri = f"data:{content_type.lower()};base64,{base64.b64encode(data).decode('ascii')}"
            cache[content_id] = uri
        return cache[content_id]

    out: list[str] = []
    position = 0
    for start, end, attrs in parser.found:
        rebuilt = []
        for name, value in attrs:
            written = data_uri((value or "").strip()[4:].strip().strip("<>")) if name == "src" else value
            rebuilt.append(name if written is None else f'{name}="{escape(written, quote=True)}"')
        out.append(html[position:start])
        out.append(f"<img {' '.join(rebuilt)}>")
        position = end
    out.append(html[position:])
    return "".join(out)
