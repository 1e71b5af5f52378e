"""Bounded regular expressions: hostile patterns are refused or time out, and never raise."""

from __future__ import annotations

import pytest

from mailroom.rules.patterns import (
    MAX_EXPANSION,
    MAX_PATTERN_LENGTH,
    PatternError,
    PatternLimits,
    check_pattern,
    compile_pattern,
    estimate_expansion,
    search,
)


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("refund(ed|s)?", "We REFUNDED you", True),  # case-insensitive, like contains
        ("^invoice \\d+$", "Invoice 42", True),
        ("(?-i:Invoice)", "invoice", False),  # case sensitivity can be asked for
        ("\\bcat\\b", "concatenate", False),
        ("\\p{Lu}{3}", "ABC", True),  # the regex module's Unicode properties
    ],
)
def test_search(pattern: str, text: str, expected: bool) -> None:
    outcome = search(check_pattern(pattern), text)

    assert outcome.matched is expected
    assert not outcome.timed_out


def test_catastrophic_backtracking_times_out_as_no_match() -> None:
    """``(a|aa)+$`` backtracks exponentially on a run of a's that cannot end the text."""
    outcome = search(check_pattern("(a|aa)+$"), "a" * 50 + "!", PatternLimits(timeout_seconds=0.02))

    assert outcome.timed_out
    assert not outcome.matched


def test_nested_quantifier_finishes() -> None:
    """``(a+)+$``, the textbook case, is bounded either way: the regex module may answer it at
    once, and a long enough run hits the timeout; neither raises."""
    short = search(check_pattern("(a+)+$"), "a" * 50 + "!")
    long = search(check_pattern("(a+)+$"), "a" * 5000 + "!", PatternLimits(timeout_seconds=0.02))

    assert not short.matched
    assert not long.matched


def test_only_the_first_max_chars_are_searched() -> None:
    text = "x" * 1000 + "needle"

    assert search("needle", text, PatternLimits(max_chars=2000)).matched
    assert not search("needle", text, PatternLimits(max_chars=1000)).matched


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("refund(", "invalid regular expression /refund\\(/: missing \\)"),
        ("[a-", "invalid regular expression"),
        ("a**", "invalid regular expression"),
        ("", "empty regular expression"),
        ("x" * (MAX_PATTERN_LENGTH + 1), "at most 1000 are allowed"),
        ("((a{1000}){1000}){1000}", "repeats too much"),  # would exhaust memory while compiling
        ("(?:a{200}){200}", "repeats too much"),
        ("[a-z]{20000}", "repeats too much"),
    ],
)
def test_bad_patterns_are_refused_with_a_reason(pattern: str, message: str) -> None:
    with pytest.raises(PatternError, match=message):
        check_pattern(pattern)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("abc", 3),
        ("a{10}", 10),
        ("(ab){10}", 20),
        ("((a){10}){10}", 100),
        ("a{2,50}", 50),
        ("a{5,}", 5),
        ("a{,7}", 7),
        ("[{]{100}", 100),  # a brace inside a class is a character
        ("\\{1000\\}", 6),  # escaped braces are characters
        ("x{}", 3),  # not a quantifier
        ("\\p{L}{4}", 4),  # a braced escape is one atom
        ("(a|b|c)", 3),  # alternatives add up
    ],
)
def test_estimate_expansion(pattern: str, expected: int) -> None:
    assert estimate_expansion(pattern) == expected


def test_patterns_within_the_limits_are_accepted() -> None:
    largest = f"a{{{MAX_EXPANSION}}}"
    assert check_pattern(largest) == largest
    assert check_pattern("x" * MAX_PATTERN_LENGTH)


def test_compiled_patterns_are_cached() -> None:
    assert compile_pattern("cach(e|ed)") is compile_pattern("cach(e|ed)")
