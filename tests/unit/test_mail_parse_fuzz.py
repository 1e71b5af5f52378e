"""Property tests: no bytes at all make parse_message raise, hang, or lose the message id."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailroom.mail.model import MessageFlag, ParsedMessage
from mailroom.mail.parse import parse_message

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "flanker"

# Small real messages to mutate (the multi-megabyte ones would make each example slow).
SEEDS: list[bytes] = [
    path.read_bytes() for path in sorted(CORPUS.rglob("*.eml")) if path.stat().st_size < 20_000
]
SEEDS += [
    b"From: a@example.com\r\nSubject: =?utf-8?q?h=C3=A9?=\r\nMessage-ID: <x@y>\r\n"
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=koi8-r\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n8NLJ18XU\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n"
    b"Subject: inner\r\n\r\nbody\r\n--b\r\nContent-Disposition: attachment; filename*0*=utf-8''%E2%82;"
    b" filename*1*=%AC.txt\r\n\r\nx\r\n--b--\r\n",
]

# Bytes that steer the parser into its interesting branches when spliced in.
TOKENS = [
    b"\r\n",
    b"\n\n",
    b"--",
    b"--b\r\n",
    b"--b--",
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"; charset=",
    b"=?utf-8?q?",
    b"=?x?b?",
    b"?=",
    b"filename*0*=",
    b"''%",
    b"<",
    b">",
    b"@",
    b"(",
    b'"',
    b"\x00",
    b"\xff",
    b" ",
    b"\t",
]


def check(parsed: ParsedMessage) -> None:
    assert isinstance(parsed, ParsedMessage)
    assert parsed.message_id
    assert parsed.message_id == parsed.message_id.strip()
    assert "<" not in parsed.message_id
    assert ">" not in parsed.message_id
    assert isinstance(parsed.text, str)
    assert parsed.model_dump_json(by_alias=True)
    for attachment in parsed.attachments:
        assert attachment.size == len(attachment.data)
        assert attachment.filename
        assert "/" not in attachment.filename
        assert "\\" not in attachment.filename
        assert len(attachment.filename) <= 200
    for _name, value in parsed.headers:
        assert len(value) <= 8192
    assert (parsed.date is None) == (MessageFlag.DATE_MISSING in parsed.flags)
    if parsed.date is not None:
        assert parsed.date.tzinfo is not None


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real message with random edits: byte flips, splices, deletions, truncation."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "insert", "token", "delete", "truncate", "duplicate"]))
        if action == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif action == "token":
            data[at:at] = draw(st.sampled_from(TOKENS))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif action == "truncate":
            del data[at:]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 256))]
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    check(parse_message(raw))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_real_messages_never_raise(raw: bytes) -> None:
    parsed = parse_message(raw)

    check(parsed)
    assert MessageFlag.PARSE_FAILED not in parsed.flags, parsed.parse_error


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([*TOKENS, b"Subject: x", b"From: a@b", b"Date: 1 Jan 2000"]), max_size=60))
def test_token_soup_never_raises(tokens: list[bytes]) -> None:
    parsed = parse_message(b"".join(tokens))

    check(parsed)
    assert MessageFlag.PARSE_FAILED not in parsed.flags, parsed.parse_error


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 40), st.integers(1, 30), st.integers(1, 60))
def test_limits_always_hold(depth: int, max_depth: int, max_parts: int) -> None:
    # ``depth`` nested multiparts around one leaf, then five siblings of the leaf: depth + 6 parts
    # (none of the inner multiparts is closed, so the siblings land one level below the top).
    head = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(depth))
    raw = head + b"Content-Type: text/plain\n\nleaf\n" + b"--b0\n\nsibling\n" * 5
    parts = depth + 6 if depth else 1

    parsed = parse_message(raw, max_parts=max_parts, max_depth=max_depth)

    check(parsed)
    fits = depth <= max_depth and parts <= max_parts
    assert (MessageFlag.TRUNCATED not in parsed.flags) == fits
    if fits:
        assert parsed.text.startswith("leaf")
