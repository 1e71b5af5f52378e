"""API Gateway HTTP API (payload format 2.0) events, built as API Gateway builds them.

One builder for everything that invokes the reply function without API Gateway in front: the
sandbox's HTTP stand-in, the tests and the benchmarks. What it copies from API Gateway:

* ``cookies`` holds the cookies (never the ``Cookie`` header); repeated headers and query
  parameters are joined with commas; ``rawPath`` is percent-decoded, ``rawQueryString`` is not;
* the body arrives as text only for ``text/*``, ``application/json``, ``application/xml`` and
  ``application/javascript``; anything else (a missing content type and, as on AWS,
  ``application/x-www-form-urlencoded`` included) arrives base64-encoded with ``isBase64Encoded``.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

ACCOUNT_ID = "000000000000"
API_ID = "sandbox"
TEXT_TYPES = frozenset({"application/json", "application/xml", "application/javascript"})
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def join_values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


def is_text(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";")[0].strip().lower()
    return media_type.startswith("text/") or media_type in TEXT_TYPES


def request_time(now: datetime) -> str:
    """API Gateway's ``requestContext.time`` (``09/Apr/2026:12:34:56 +0000``), whatever the locale."""
    return f"{now:%d}/{_MONTHS[now.month - 1]}/{now:%Y:%H:%M:%S} +0000"


def http_api_event(
    method: str,
    path: str,
    query: str = "",
    body: bytes | str | None = None,
    *,
    headers: Iterable[tuple[str, str]] | dict[str, str] = (),
    source_ip: str = "127.0.0.1",
    protocol: str = "HTTP/1.1",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The event for one request. ``headers`` may repeat names; a ``Cookie`` header becomes
    ``cookies``. Names are lower-cased, as API Gateway delivers them."""
    now = now or datetime.now(UTC)
    pairs = [
        (name.lower(), value) for name, value in (headers.items() if isinstance(headers, dict) else headers)
    ]
    cookies = [
        cookie.strip()
        for name, value in pairs
        if name == "cookie"
        for cookie in value.split(";")
        if cookie.strip()
    ]
    joined = join_values((name, value) for name, value in pairs if name != "cookie")
    joined.setdefault("host", "127.0.0.1")
    host = joined["host"]
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": joined,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": host,
            "domainPrefix": host.split(":")[0].split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": protocol,
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": base64.b64encode(secrets.token_bytes(10)).decode(),
            "routeKey": "$default",
            "stage": "$default",
            "time": request_time(now),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    parameters = join_values(parse_qsl(query, keep_blank_values=True))
    if parameters:
        event["queryStringParameters"] = parameters
    if body:
        raw = body.encode("utf-8") if isinstance(body, str) else body
        try:
            text = raw.decode("utf-8") if is_text(joined.get("content-type")) else None
        except UnicodeDecodeError:
            text = None
        if text is None:
            event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
        else:
            event["body"] = text
    return event


def decode_response(response: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    """(status, headers, body) of a handler's answer: JSON parsed, base64 decoded, text as text."""
    raw_body = response.get("body") or ""
    headers: dict[str, str] = response.get("headers", {})
    if response.get("isBase64Encoded"):
        return response["statusCode"], headers, base64.b64decode(raw_body)
    is_json = headers.get("Content-Type", "").startswith("application/json") and raw_body
    return response["statusCode"], headers, json.loads(raw_body) if is_json else raw_body
