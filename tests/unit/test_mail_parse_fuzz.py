"""Property tests: no bytes at all make parse_message raise, hang, or lose the message id."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fuzz.properties import check_bounded, check_not_salvaged, check_parsed
from mailroom.mail.model import MessageFlag
from mailroom.mail.parse import parse_message
from tests.mail_strategies import mutated, raw_mail, token_soup


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    check_parsed(parse_message(raw))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_real_messages_never_raise(raw: bytes) -> None:
    parsed = parse_message(raw)

    check_parsed(parsed)
    check_not_salvaged(parsed)


@settings(max_examples=200, deadline=None)
@given(token_soup())
def test_token_soup_never_raises(raw: bytes) -> None:
    parsed = parse_message(raw)

    check_parsed(parsed)
    check_not_salvaged(parsed)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 40), st.integers(1, 30), st.integers(1, 60))
def test_limits_always_hold(depth: int, max_depth: int, max_parts: int) -> None:
    # ``depth`` nested multiparts around one leaf, then five siblings of the leaf: depth + 6 parts
    # (none of the inner multiparts is closed, so the siblings land one level below the top).
    head = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(depth))
    raw = head + b"Content-Type: text/plain\n\nleaf\n" + b"--b0\n\nsibling\n" * 5
    parts = depth + 6 if depth else 1

    parsed = parse_message(raw, max_parts=max_parts, max_depth=max_depth)

    check_parsed(parsed)
    fits = depth <= max_depth and parts <= max_parts
    assert (MessageFlag.TRUNCATED not in parsed.flags) == fits
    if fits:
        assert parsed.text.startswith("leaf")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_mail())
def test_parsing_the_same_bytes_again_gives_the_same_message(raw: bytes) -> None:
    # A redelivery must compute the same ids and fingerprint: parsing is a function of the bytes.
    assert parse_message(raw) == parse_message(raw)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_mail(), st.integers(1, 20))
def test_attachments_never_exceed_the_part_limit(raw: bytes, max_parts: int) -> None:
    check_bounded(parse_message(raw, max_parts=max_parts), max_parts=max_parts)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_trace_headers_added_in_transit_change_nothing_but_the_headers(raw: bytes) -> None:
    # Every relay prepends a Received header: what the mail says must not change with the route.
    assume(re.match(rb"[!-9;-~]+:", raw))  # the mail still starts with a header after the edits
    relayed = b"Received: from mx.example.net by mx.acme.test; Mon, 2 Mar 2026 09:30:00 +0000\r\n" + raw
    first, second = parse_message(raw), parse_message(relayed)

    assert second.headers[1:] == first.headers
    if MessageFlag.MESSAGE_ID_SYNTHESIZED not in first.flags:  # else a hash of the bytes, which changed
        assert second.message_id == first.message_id
    assert second.subject == first.subject
    assert second.text == first.text
    assert [a.sha256 for a in second.attachments] == [a.sha256 for a in first.attachments]
