"""The sandbox's API Gateway stand-in, driven with real HTTP requests."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.http_gateway import MAX_BODY_BYTES, HttpGateway
from sandbox.lambda_context import LambdaContext, make_context

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


class Recorder:
    """The fake Lambda handler: echoes the event, or misbehaves on a few paths."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.contexts: list[LambdaContext] = []

    def __call__(self, event: dict[str, Any], context: LambdaContext) -> Any:
        self.events.append(event)
        self.contexts.append(context)
        path = event["rawPath"]
        if path == "/boom":
            raise RuntimeError("handler exploded")
        if path == "/image":
            body = base64.b64encode(PNG).decode()
            return {
                "statusCode": 200,
                "headers": {"content-type": "image/png"},
                "body": body,
                "isBase64Encoded": True,
            }
        if path == "/login":
            return {
                "statusCode": 303,
                "headers": {"location": "/inbox"},
                "multiValueHeaders": {"x-trace": ["a", "b"]},
                "cookies": ["session=abc; Path=/; HttpOnly", "csrf=xyz; Path=/"],
            }
        if path == "/inferred":
            return {"ok": True, "items": [1, 2]}
        if path == "/string":
            return "hello"
        if path == "/malformed":
            return {"statusCode": 200, "body": {"not": "a string"}}
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(event)}


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def gateway(recorder: Recorder) -> Iterator[HttpGateway]:
    gateway = HttpGateway(
        host="127.0.0.1",
        port=0,
        handler=recorder,
        context_factory=lambda: make_context("mailroom-api", 512, 29),
    )
    gateway.start()
    yield gateway
    gateway.stop()


Response = tuple[int, http.client.HTTPMessage, bytes]


def request(
    gateway: HttpGateway,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    try:
        connection.putrequest(method, path)
        for name, value in headers or []:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def echoed(response: Response) -> dict[str, Any]:
    status, _, body = response
    assert status == 200
    event: dict[str, Any] = json.loads(body)
    return event


def test_port_zero_picks_a_free_port(gateway: HttpGateway) -> None:
    assert gateway.port > 0
    assert gateway.host == "127.0.0.1"


def test_get_request_becomes_a_payload_v2_event(gateway: HttpGateway) -> None:
    before = int(time.time() * 1000)
    event = echoed(
        request(
            gateway,
            "GET",
            "/conversations/a%20b?status=open&tag=x&tag=y&q=caf%C3%A9",
            headers=[("User-Agent", "pytest")],
        )
    )

    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/conversations/a b"  # API Gateway HTTP APIs decode the path
    assert event["rawQueryString"] == "status=open&tag=x&tag=y&q=caf%C3%A9"
    assert event["queryStringParameters"] == {"status": "open", "tag": "x,y", "q": "café"}
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    assert "cookies" not in event
    context = event["requestContext"]
    assert context["http"] == {
        "method": "GET",
        "path": "/conversations/a b",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "pytest",
    }
    assert context["routeKey"] == "$default"
    assert context["stage"] == "$default"
    assert context["accountId"] == "000000000000"
    assert context["apiId"]
    assert context["domainName"] == f"127.0.0.1:{gateway.port}"
    assert context["domainPrefix"] == "127"
    assert before <= context["timeEpoch"] <= int(time.time() * 1000)
    assert len(context["requestId"]) == 16
    day, month, rest = context["time"].split("/")
    assert len(day) == 2
    assert month in {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
    assert rest.endswith(" +0000")


def test_headers_are_lower_cased_and_repeated_ones_joined(gateway: HttpGateway) -> None:
    event = echoed(
        request(
            gateway,
            "GET",
            "/",
            headers=[
                ("X-Forwarded-For", "10.0.0.1"),
                ("X-Forwarded-For", "10.0.0.2"),
                ("Accept", "text/html"),
            ],
        )
    )

    assert event["headers"]["x-forwarded-for"] == "10.0.0.1,10.0.0.2"
    assert event["headers"]["accept"] == "text/html"
    assert all(name == name.lower() for name in event["headers"])
    assert "queryStringParameters" not in event


def test_cookies_move_from_the_header_to_the_cookie_list(gateway: HttpGateway) -> None:
    event = echoed(
        request(gateway, "GET", "/", headers=[("Cookie", "session=abc; theme=dark"), ("Cookie", "x=1")])
    )

    assert event["cookies"] == ["session=abc", "theme=dark", "x=1"]
    assert "cookie" not in event["headers"]


def test_json_body_arrives_as_text(gateway: HttpGateway) -> None:
    body = json.dumps({"text": "Grüße"}, ensure_ascii=False).encode()
    event = echoed(
        request(gateway, "POST", "/api", body, [("Content-Type", "application/json; charset=utf-8")])
    )

    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"text": "Grüße"}


def test_binary_body_arrives_base64_encoded(gateway: HttpGateway) -> None:
    body = bytes(range(256)) * 10
    event = echoed(request(gateway, "PUT", "/upload", body, [("Content-Type", "application/octet-stream")]))

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"to=a%40example.com&body=hi"),  # base64 on AWS too
        ("multipart/form-data; boundary=xyz", b"--xyz\r\n\r\nhello\r\n--xyz--\r\n"),
        ("text/plain", b"not utf-8: \xff\xfe"),
        (None, b"no content type"),
    ],
)
def test_other_bodies_arrive_base64_encoded(
    gateway: HttpGateway, content_type: str | None, body: bytes
) -> None:
    headers = [("Content-Type", content_type)] if content_type else []
    event = echoed(request(gateway, "POST", "/form", body, headers))

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_chunked_body_is_reassembled(gateway: HttpGateway) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    try:
        connection.request(
            "POST",
            "/chunked",
            body=iter([b"hello ", b"chunked ", b"world"]),
            headers={"Content-Type": "text/plain"},
            encode_chunked=True,
        )
        event = json.loads(connection.getresponse().read())
    finally:
        connection.close()

    assert event["body"] == "hello chunked world"


def test_base64_response_is_decoded(gateway: HttpGateway) -> None:
    status, headers, body = request(gateway, "GET", "/image")

    assert status == 200
    assert headers["Content-Type"] == "image/png"
    assert body == PNG
    assert headers["apigw-requestid"]


def test_cookies_and_multi_value_headers_become_separate_headers(gateway: HttpGateway) -> None:
    status, headers, body = request(gateway, "POST", "/login", b"")

    assert status == 303
    assert headers["Location"] == "/inbox"
    assert headers.get_all("Set-Cookie") == ["session=abc; Path=/; HttpOnly", "csrf=xyz; Path=/"]
    assert headers.get_all("X-Trace") == ["a", "b"]
    assert body == b""


def test_response_without_status_code_is_a_json_200(gateway: HttpGateway) -> None:
    status, headers, body = request(gateway, "GET", "/inferred")
    assert (status, headers["Content-Type"], json.loads(body)) == (
        200,
        "application/json",
        {"ok": True, "items": [1, 2]},
    )

    status, headers, body = request(gateway, "GET", "/string")
    assert (status, headers["Content-Type"], body) == (200, "application/json", b'"hello"')


def test_head_request_has_no_body(gateway: HttpGateway) -> None:
    status, headers, body = request(gateway, "HEAD", "/anything")

    assert status == 200
    assert int(headers["Content-Length"]) > 0
    assert body == b""


def test_handler_exception_is_a_500_and_is_logged(
    gateway: HttpGateway, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="mailroom.sandbox.http"):
        status, headers, body = request(gateway, "GET", "/boom")

    assert status == 500
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"message": "Internal Server Error"}
    failures = [record for record in caplog.records if record.exc_info]
    assert len(failures) == 1
    assert "handler exploded" in caplog.text
    assert getattr(failures[0], "path", None) == "/boom"


def test_malformed_response_is_a_500(gateway: HttpGateway) -> None:
    status, _, body = request(gateway, "GET", "/malformed")

    assert status == 500
    assert json.loads(body) == {"message": "Internal Server Error"}


def test_body_over_10_mb_is_refused_without_calling_the_handler(
    gateway: HttpGateway, recorder: Recorder
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=60)
    try:
        connection.request(
            "POST", "/upload", body=b"x" * (MAX_BODY_BYTES + 1), headers={"Content-Type": "text/plain"}
        )
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read()) == {"message": "Request Entity Too Large"}
        # The body was drained, so the connection is still usable.
        connection.request("GET", "/after")
        after = connection.getresponse()
        assert after.status == 200
        after.read()
    finally:
        connection.close()

    assert [event["rawPath"] for event in recorder.events] == ["/after"]


def test_body_of_exactly_10_mb_is_accepted(gateway: HttpGateway, recorder: Recorder) -> None:
    status, _, _ = request(
        gateway, "POST", "/upload", b"y" * MAX_BODY_BYTES, [("Content-Type", "text/plain")]
    )

    assert status == 200
    assert len(recorder.events[0]["body"]) == MAX_BODY_BYTES


def test_each_request_gets_its_own_lambda_context(gateway: HttpGateway, recorder: Recorder) -> None:
    request(gateway, "GET", "/one")
    request(gateway, "GET", "/two")

    first, second = recorder.contexts
    assert first.aws_request_id != second.aws_request_id
    assert first.function_name == "mailroom-api"
    assert first.memory_limit_in_mb == 512
    assert first.invoked_function_arn == "arn:aws:lambda:us-east-1:000000000000:function:mailroom-api"
    assert 0 < second.get_remaining_time_in_millis() <= 29_000


def test_requests_are_logged_with_method_path_status_and_duration(
    gateway: HttpGateway, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="mailroom.sandbox.http"):
        request(gateway, "GET", "/logged?x=1")

    records = [record for record in caplog.records if record.getMessage() == "http request"]
    assert len(records) == 1
    record = records[0]
    assert (
        getattr(record, "method", None),
        getattr(record, "path", None),
        getattr(record, "status", None),
    ) == (
        "GET",
        "/logged",
        200,
    )
    assert getattr(record, "duration_ms", -1) >= 0


def test_lambda_context_deadline_runs_out() -> None:
    context = make_context("f", 128, 0.0)

    assert context.get_remaining_time_in_millis() == 0
    assert context.function_version == "$LATEST"
    assert context.log_group_name == "/aws/lambda/f"
    assert "[$LATEST]" in context.log_stream_name
