"""Hypothesis strategies for raw mail: real messages from the corpus with random edits, and byte
soups of the tokens that steer a MIME parser into its interesting branches."""

from __future__ import annotations

from hypothesis import strategies as st

from fuzz.targets import MIME_FEATURES
from tests.corpus import FLANKER_DIR

# Small real messages to mutate (the multi-megabyte ones would make each example slow).
SEEDS: list[bytes] = [
    path.read_bytes() for path in sorted(FLANKER_DIR.rglob("*.eml")) if path.stat().st_size < 20_000
]
SEEDS.append(MIME_FEATURES)

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


def token_soup() -> st.SearchStrategy[bytes]:
    words = [*TOKENS, b"Subject: x", b"From: a@b", b"Date: 1 Jan 2000"]
    return st.lists(st.sampled_from(words), max_size=60).map(b"".join)


def raw_mail() -> st.SearchStrategy[bytes]:
    """Any of: arbitrary bytes, a mutated real message, a token soup."""
    return st.one_of(st.binary(max_size=4096), mutated(), token_soup())
