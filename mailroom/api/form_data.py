"""A submitted form, whichever way the browser encoded it: ``application/x-www-form-urlencoded``, or
``multipart/form-data`` when it carries a file (the rules import's upload).

Multipart bodies are read by python-multipart (the streaming parser Starlette uses): linear in the
body, bounded in size, fields and headers, with files kept in memory. The standard library's MIME
parser is not used here: it slows down superlinearly with the number of parts, and any signed-in
caller can send a body. A body that is too large or malformed reads as an empty form: every field
the route needs is then missing, and it says so (the CSRF check, first of all, refuses it).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent
from python_multipart import create_form_parser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import Field, File

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
MAX_FORM_BYTES = 2_000_000  # above the largest rules file (1 MB) with its form around it
MAX_FORM_FIELDS = 200

_LIMITS = {
    "MAX_BODY_SIZE": MAX_FORM_BYTES,
    "MAX_MEMORY_FILE_SIZE": MAX_FORM_BYTES,  # never spill to a temporary file
}


@dataclass(frozen=True)
class Upload:
    filename: str
    content: bytes

    def text(self) -> str | None:
        """The file as UTF-8 text (a byte order mark dropped); None when it is not."""
        try:
            return self.content.decode("utf-8-sig")
        except UnicodeDecodeError:
            return None


@dataclass(frozen=True)
class FormData:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)

    def first(self) -> dict[str, str]:
        """The first value of each field."""
        return {name: values[0] for name, values in self.fields.items() if values}


def raw_body(event: BaseProxyEvent) -> bytes:
    body = event.body or ""
    if not event.is_base64_encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=False)
    except (binascii.Error, ValueError):
        return b""


def content_type_of(event: BaseProxyEvent) -> str:
    return str(event.headers.get("content-type") or event.headers.get("Content-Type") or "")


def read_form(event: BaseProxyEvent) -> FormData:
    """The request's form (no form at all: empty)."""
    content_type = content_type_of(event)
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == URLENCODED:
        return FormData(fields=parse_qs(event.decoded_body or "", keep_blank_values=True))
    if kind == MULTIPART:
        return parse_multipart(content_type, raw_body(event))
    return FormData()


def parse_multipart(content_type: str, body: bytes) -> FormData:
    """Fields and files of a ``multipart/form-data`` body (a file input left empty is no file)."""
    if len(body) > MAX_FORM_BYTES:
        return FormData()
    fields: dict[str, list[str]] = {}
    files: dict[str, Upload] = {}

    def on_field(found: Field) -> None:
        if sum(map(len, fields.values())) >= MAX_FORM_FIELDS:
            raise FormParserError(f"more than {MAX_FORM_FIELDS} fields")
        if found.field_name:
            value = (found.value or b"").decode("utf-8", errors="replace")
            fields.setdefault(found.field_name.decode("utf-8", errors="replace"), []).append(value)

    def on_file(found: File) -> None:
        stream = found.file_object
        stream.seek(0)
        content = stream.read()
        name = (found.field_name or b"").decode("utf-8", errors="replace")
        filename = (found.file_name or b"").decode("utf-8", errors="replace")
        if name and (filename or content):
            files.setdefault(name, Upload(filename, content))

    try:
        parser = create_form_parser(
            {"Content-Type": content_type.encode("latin-1")}, on_field, on_file, _LIMITS
        )
        parser.write(body)
        parser.finalize()
    except (FormParserError, ValueError, UnicodeEncodeError):
        return FormData()
    return FormData(fields=fields, files=files)
