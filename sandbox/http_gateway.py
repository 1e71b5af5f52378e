"""The sandbox's stand-in for the API Gateway HTTP API: each request becomes a payload 2.0 event.

What it copies from API Gateway, because handlers that pass here must pass on AWS:

* the ``Cookie`` header moves to ``cookies`` and leaves ``headers``; repeated headers and query
  parameters are joined with commas; ``rawPath`` is percent-decoded, ``rawQueryString`` is not;
* the body arrives as text only for ``text/*``, ``application/json``, ``application/xml`` and
  ``application/javascript``; everything else (including a missing content type and, as on AWS,
  ``application/x-www-form-urlencoded``) arrives base64-encoded with ``isBase64Encoded`` true;
* a response without ``statusCode`` is taken as a 200 JSON document; a handler exception or a
  malformed response becomes ``500 {"message": "Internal Server Error"}``; bodies over 10 MB get 413.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from sandbox.apigw_events import http_api_event

log = logging.getLogger("mailroom.sandbox.http")

MAX_BODY_BYTES = 10 * 1024 * 1024
# A body declared too large is read and dropped up to this size (so the client sees the 413
# rather than a reset connection); beyond it the connection is simply closed.
_DRAIN_LIMIT = 64 * 1024 * 1024

Handler = Callable[[dict[str, Any], Any], Any]


class _PayloadTooLargeError(Exception):
    def __init__(self, *, drained: bool) -> None:
        super().__init__("request body over 10 MB")
        self.drained = drained


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], gateway: HttpGateway) -> None:
        super().__init__(address, _RequestHandler)
        self.gateway = gateway


class HttpGateway:
    def __init__(self, *, host: str, port: int, handler: Handler, context_factory: Callable[[], Any]) -> None:
        self.handler = handler
        self.context_factory = context_factory
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="http-gateway",
            daemon=True,
        )
        self._thread.start()
        log.info("http listening", extra={"host": self.host, "port": self.port})

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def invoke(self, event: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        """Run the handler on one event and turn its result into status, headers and body."""
        try:
            result = self.handler(event, self.context_factory())
            return _http_response(result)
        except Exception:
            log.exception(
                "handler failed",
                extra={"method": event["requestContext"]["http"]["method"], "path": event["rawPath"]},
            )
            body = json.dumps({"message": "Internal Server Error"}).encode()
            return 500, [("content-type", "application/json")], body


def _http_response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    if not isinstance(result, dict) or "statusCode" not in result:
        # API Gateway's format 2.0 inference: any other JSON is a 200 JSON document.
        return 200, [("content-type", "application/json")], json.dumps(result).encode()
    status = int(result["statusCode"])
    if not 100 <= status <= 599:
        raise ValueError(f"invalid statusCode {status}")
    headers = [(str(name), str(value)) for name, value in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers += [(str(name), str(value)) for value in values]
    headers += [("set-cookie", str(cookie)) for cookie in result.get("cookies") or []]
    body = result.get("body") or ""
    if not isinstance(body, str):
        raise TypeError(f"response body must be a string, not {type(body).__name__}")
    if result.get("isBase64Encoded"):
        return status, headers, base64.b64decode(body, validate=True)
    return status, headers, body.encode()


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return "mailroom-sandbox"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def _handle(self) -> None:
        started = time.monotonic()
        assert isinstance(self.server, _Server)
        gateway = self.server.gateway
        try:
            body = self._read_body()
        except _PayloadTooLargeError as exc:
            status, headers = 413, [("content-type", "application/json")]
            if not exc.drained:
                self.close_connection = True
                headers.append(("connection", "close"))
            payload = json.dumps({"message": "Request Entity Too Large"}).encode()
        except ValueError:  # a malformed Content-Length or chunk size
            self.close_connection = True
            status, headers = 400, [("content-type", "application/json"), ("connection", "close")]
            payload = json.dumps({"message": "Bad Request"}).encode()
        else:
            event = self._event(body, gateway)
            status, headers, payload = gateway.invoke(event)
            headers.append(("apigw-requestid", event["requestContext"]["requestId"]))
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        fields = {"method": self.command, "path": urlsplit(self.path).path, "status": status}
        log.info("http request", extra={**fields, "duration_ms": duration_ms})
        self.send_response(status)
        for name, value in headers:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > MAX_BODY_BYTES:
            drained = length <= _DRAIN_LIMIT
            while drained and length > 0:
                chunk = self.rfile.read(min(length, 1 << 16))
                drained, length = bool(chunk), length - len(chunk)
            raise _PayloadTooLargeError(drained=drained)
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise _PayloadTooLargeError(drained=False)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _event(self, body: bytes, gateway: HttpGateway) -> dict[str, Any]:
        url = urlsplit(self.path)
        headers = [(name, value) for name, value in self.headers.items()]
        if not any(name.lower() == "host" for name, _ in headers):
            headers.append(("host", f"{gateway.host}:{gateway.port}"))
        return http_api_event(
            self.command,
            unquote(url.path),
            url.query,
            body,
            headers=headers,
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )
