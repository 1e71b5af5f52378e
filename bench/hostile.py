"""Hostile input: how long the parsers take on pathological mail, and whether that grows linearly
(time for 2N over time for N, measured in one run: about 2 is linear, 4 would be quadratic).
These are the speed claims the unit tests make no timing assertion about."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.harness import median

RUNS = 3


def _seconds(work: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return median(times)


def _case(make: Callable[[int], Any], run: Callable[[Any], object], size: int) -> dict[str, float]:
    small, large = make(size), make(2 * size)
    once = _seconds(lambda: run(small))
    twice = _seconds(lambda: run(large))
    return {"seconds_at_n": round(once, 4), "ratio_2n_to_n": round(twice / once, 2) if once else 0.0}


def run() -> dict[str, Any]:
    from mailroom.mail.html import html_to_text, sanitize_html
    from mailroom.mail.parse import parse_message
    from mailroom.mail.subject import normalize_subject

    def nesting(levels: int) -> bytes:
        head = b"".join(
            b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(levels)
        )
        return b"From: a@example.com\n" + head + b"Content-Type: text/plain\n\ndeep"

    return {
        "html_to_text_unclosed_lt": _case(lambda n: "<" * n, html_to_text, 500_000),
        "html_to_text_bold_spaces": _case(lambda n: "x" + "<b> </b>" * n, html_to_text, 50_000),
        "sanitize_deep_divs": _case(lambda n: "<div>" * n + "x", sanitize_html, 50_000),
        "sanitize_many_links": _case(lambda n: "<a href=x>" * n + "</a>" * n, sanitize_html, 25_000),
        "parse_nesting_bomb": _case(nesting, parse_message, 500),
        "parse_many_parts": _case(
            lambda n: (
                b"Content-Type: multipart/mixed; boundary=x\n\n"
                + b"--x\nContent-Type: text/plain\n\nhi\n" * n
            ),
            lambda raw: parse_message(raw, max_parts=50),
            5_000,
        ),
        "subject_many_prefixes": _case(lambda n: "Re:" * n + "x", normalize_subject, 25_000),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
