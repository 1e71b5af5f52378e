"""The fuzz targets: functions of the fuzzer's bytes that raise only when a property breaks.

* ``parse_message``: the MIME parser on any bytes (``mailroom.mail.parse``);
* ``ingest_build``: the pure part of ingest, from raw bytes to the table items of one message (the
  SES event SES would send for it, parsing, sanitizing, body and attachment placement, the plan for a
  new conversation and for a reply threading into a closed one), without the table;
* ``rules_yaml``: the rules file loader (refuses with located problems, or round-trips);
* ``sanitize_html``: the HTML sanitizer (only allowed tags, attributes and URL schemes come out)
  and the HTML-to-text reader.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from fuzz.properties import check_items_fit, check_not_salvaged, check_parsed, check_safe_html
from mailroom.domain.conversation import Status
from mailroom.ids import message_key_for
from mailroom.ingest.build import Body, Envelope, IngestPlan, attachment_refs, body_of, plan_ingest
from mailroom.ingest.fingerprint import content_fingerprint, variant_identity
from mailroom.ingest.ses_event import SesEvent
from mailroom.ingest.threading import ThreadedBy, ThreadMatch
from mailroom.mail.html import html_to_text, sanitize_html
from mailroom.mail.parse import parse_message
from mailroom.rules.yaml_io import RulesError, dump_rules_yaml, parse_rules_yaml
from mailroom.settings import Settings
from mailroom.table.items import conversation_item, event_item, message_id_item, message_item
from sandbox.ses_event import build_ses_event

ROOT = Path(__file__).resolve().parents[1]
# The real-world mail beside the checkout (as the tests read it); FUZZ_CORPUS points elsewhere.
CORPUS_DIR = Path(os.environ.get("FUZZ_CORPUS", ROOT.parent / "shared" / "corpus"))

MAILBOX = "support@acme.test"
RECEIVED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
INLINE_BODY_LIMIT = int(Settings.model_fields["inline_body_limit_bytes"].default)
ENVELOPE = Envelope(
    ses_message_id="fuzz0000000000000000000000000000000000",
    source="sender@example.com",
    received_at="2026-03-02T09:30:00.000Z",
    raw_key="raw/inbound/fuzz0000000000000000000000000000000000",
    size=0,
    verdicts=dict.fromkeys(("spam", "virus", "spf", "dkim", "dmarc"), "PASS"),
    verdict_flags=frozenset(),
)


def fuzz_parse_message(data: bytes) -> None:
    parsed = parse_message(data)
    check_parsed(parsed)
    check_not_salvaged(parsed)
    assert parse_message(data) == parsed, "parsing the same bytes twice gave different results"


def fuzz_ingest_build(data: bytes) -> None:
    event = build_ses_event(
        raw=data,
        ses_message_id=ENVELOPE.ses_message_id,
        envelope_from=ENVELOPE.source,
        recipients=[MAILBOX],
        received_at=RECEIVED,
        processing_time_millis=0,
    )
    SesEvent.model_validate(event)  # the handler's event_parser must accept what SES sends for it
    parsed = parse_message(data)
    html = sanitize_html(parsed.html) if parsed.html else None
    fingerprint = content_fingerprint(parsed)
    envelope = replace(ENVELOPE, size=len(data))
    identity = parsed.message_id
    key = message_key_for(MAILBOX, identity)
    body, payload = body_of(parsed.text, html, key, inline_limit=INLINE_BODY_LIMIT)
    if payload is not None:
        assert json.loads(payload) == {"text": parsed.text, "html": html}
    new = plan_ingest(
        parsed=parsed,
        envelope=envelope,
        mailbox=MAILBOX,
        match=ThreadMatch(None, ThreadedBy.NEW),
        body=body,
        attachments=attachment_refs(parsed, key),
        identity=identity,
        fingerprint=fingerprint,
    )
    _check_plan_items(new.identity, new.fingerprint, plan=new)
    # The same mail again with other content: a variant threading into the (closed) first one.
    closed = new.conversation.model_copy(update={"status": Status.CLOSED})
    variant = variant_identity(identity, fingerprint)
    threaded = plan_ingest(
        parsed=parsed,
        envelope=envelope,
        mailbox=MAILBOX,
        match=ThreadMatch(closed, ThreadedBy.REFERENCES, matched=identity),
        body=Body(text=body.text, html=body.html, ref=body.ref),
        attachments=attachment_refs(parsed, message_key_for(MAILBOX, variant)),
        identity=variant,
        fingerprint=fingerprint,
    )
    assert threaded.conversation.id == new.conversation.id
    assert threaded.conversation.message_count == 2
    _check_plan_items(variant, fingerprint, plan=threaded)


def _check_plan_items(identity: str, fingerprint: str, *, plan: IngestPlan) -> None:
    check_items_fit(
        [
            message_id_item(identity, MAILBOX, plan.conversation.id, plan.message.key, fingerprint),
            conversation_item(plan.conversation),
            message_item(plan.message),
            *(event_item(event) for event in plan.events),
        ]
    )


def fuzz_rules_yaml(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    try:
        ruleset = parse_rules_yaml(text)
    except RulesError as exc:
        problems = exc.problems
    else:
        assert parse_rules_yaml(dump_rules_yaml(ruleset)) == ruleset, "the dump does not read back"
        return
    assert problems, "a refusal names at least one problem"
    assert all(problem.line >= 1 for problem in problems)


def fuzz_sanitize_html(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    check_safe_html(sanitize_html(text))
    assert isinstance(html_to_text(text), str)


# -- seeds ----------------------------------------------------------------------------------------


def mail_seeds(max_len: int) -> list[bytes]:
    """The real-world corpus (whole files up to ``max_len`` bytes) and a mail dense in MIME features."""
    files = sorted(CORPUS_DIR.rglob("*.eml"))
    return [path.read_bytes() for path in files if path.stat().st_size <= max_len] + [MIME_FEATURES]


MIME_FEATURES = (
    b"From: =?utf-8?q?Ren=C3=A9e?= <a@example.com>\r\nTo: support@acme.test, b@example.com\r\n"
    b"Subject: =?utf-8?q?h=C3=A9?=\r\nMessage-ID: <x@y>\r\nIn-Reply-To: <p@y>\r\nReferences: <r@y> <p@y>\r\n"
    b"Date: Mon, 2 Mar 2026 09:30:00 +0100\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n"
    b"--c\r\nContent-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"8NLJ18XU\r\n"
    b"--c\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    b'<p style=3D"color:red">Hi <img src=3D"cid:i1"><a href=3D"https://x.test">x</a></p>\r\n--c--\r\n'
    b"--b\r\nContent-Type: image/png\r\nContent-ID: <i1>\r\nContent-Disposition: inline\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n"
    b"--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nbody\r\n"
    b"--b\r\nContent-Disposition: attachment; filename*0*=utf-8''%E2%82; filename*1*=%AC.txt\r\n\r\nx\r\n"
    b"--b--\r\n"
)


def rules_seeds(max_len: int) -> list[bytes]:
    demo = (ROOT / "sandbox" / "demo_rules.yaml").read_bytes()
    small = [
        b"rules: []\n",
        b"rules:\n  - id: a\n    name: A\n    when: {subject: {contains: refund}}\n    then:\n"
        b"      - add_tags: [billing]\n      - set_team: billing\n    stop: true\n",
        b"rules:\n  - id: b\n    name: B\n    when:\n      all:\n        - from: {domain: example.com}\n"
        b"        - not: {flag: [bulk]}\n    then: [{set_priority: high}]\n",
        b"rules: [&a {id: x}, *a]\n",
        b"rules:\n  - id: x\n    id: y\n",
    ]
    return [seed for seed in [demo, *small] if len(seed) <= max_len]


def html_seeds(max_len: int) -> list[bytes]:
    samples = [
        "<p style='color:red;background:url(x)'>hi <b>there</b><script>alert(1)</script></p>",
        '<a href="javascript:alert(1)" onclick="x()">x</a><img src="cid:a" onerror="y()">',
        "<table><tr><td colspan=2>a<td>b</table><ul><li>1<li>2</ul><!-- c --><style>p{}</style>",
        "<svg><a xlink:href='javascript:x'>s</a></svg><math><mi>x</mi></math><iframe src=x></iframe>",
        "&amp;&lt;&#x3c;&#60;&nbsp;" * 20,
        "<div><div><div><p>deep</p></div></div></div><form action=x><input></form>",
    ]
    return [seed.encode("utf-8") for seed in samples if len(seed.encode("utf-8")) <= max_len]


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], None]
    seeds: Callable[[int], list[bytes]]
    max_len: int  # the longest input the fuzzer makes (and the longest seed it keeps)


TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target("parse_message", fuzz_parse_message, mail_seeds, 16 * 1024),
        Target("ingest_build", fuzz_ingest_build, mail_seeds, 16 * 1024),
        Target("rules_yaml", fuzz_rules_yaml, rules_seeds, 16 * 1024),
        Target("sanitize_html", fuzz_sanitize_html, html_seeds, 64 * 1024),
    )
}
