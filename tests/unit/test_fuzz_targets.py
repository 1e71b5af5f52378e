"""The fuzz targets (``fuzz/targets.py``) run on their seeds without error, so they cannot rot between
fuzz runs; and their properties do fail on what they guard against. The timed fuzz run itself is
``make fuzz``, not part of this suite."""

from __future__ import annotations

import pytest

from fuzz.__main__ import summarize
from fuzz.properties import check_items_fit, check_safe_html
from fuzz.targets import CORPUS_DIR, TARGETS, Target

CASES = [
    pytest.param(target, seed, id=f"{name}-{index}")
    for name, target in TARGETS.items()
    for index, seed in enumerate(target.seeds(target.max_len))
]


def test_every_target_has_seeds_and_the_mail_targets_the_corpus() -> None:
    assert set(TARGETS) == {"parse_message", "ingest_build", "rules_yaml", "sanitize_html"}
    for target in TARGETS.values():
        assert target.seeds(target.max_len), target.name
    corpus = sorted(CORPUS_DIR.rglob("*.eml"))
    assert len(corpus) >= 40
    small = [path.read_bytes() for path in corpus if path.stat().st_size <= TARGETS["parse_message"].max_len]
    assert set(small) <= set(TARGETS["parse_message"].seeds(TARGETS["parse_message"].max_len))


@pytest.mark.parametrize(("target", "seed"), CASES)
def test_target_runs_on_its_seed(target: Target, seed: bytes) -> None:
    target.run(seed)


@pytest.mark.parametrize(
    "unsafe",
    [
        '<a href="javascript:alert(1)">x</a>',
        '<img src="x" onerror="alert(1)">',
        "<script>alert(1)</script>",
        '<p style="background:url(https://evil.example/x)">x</p>',
        "<!-- a comment -->",
        '<a href="/relative">x</a>',
    ],
)
def test_the_html_property_catches_what_the_sanitizer_must_drop(unsafe: str) -> None:
    with pytest.raises(AssertionError):
        check_safe_html(unsafe)


def test_the_html_property_accepts_what_the_sanitizer_keeps() -> None:
    check_safe_html(
        '<p style="color: red">Hi <a href="https://x.test" rel="noopener noreferrer nofollow">x</a>'
        '<img src="cid:logo" alt="logo"></p><table><tr><td colspan="2">a</td></tr></table>'
    )


def test_the_item_property_catches_an_item_over_dynamodbs_limit() -> None:
    check_items_fit([{"PK": "a", "SK": "b", "text": "x" * 400_000}])
    with pytest.raises(AssertionError, match="item of"):
        check_items_fit([{"PK": "a", "SK": "b", "text": "x" * 410_000}])
    with pytest.raises(AssertionError, match="transaction of"):
        check_items_fit([{"PK": str(n), "SK": "b", "text": "x" * 400_000} for n in range(11)])


def test_summary_reads_libfuzzers_final_statistics() -> None:
    log = (
        "#2\tINITED cov: 410 ft: 1200 corp: 40/300Kb exec/s: 0 rss: 80Mb\n"
        "#1652\tDONE   cov: 472 ft: 1501 corp: 133/1273Kb lim: 65536 exec/s: 78 rss: 84Mb\n"
        "Done 1652 runs in 21 second(s)\n"
        "stat::number_of_executed_units: 1652\n"
        "stat::average_exec_per_sec:     78\n"
        "stat::new_units_added:          138\n"
        "stat::peak_rss_mb:              84\n"
    )

    summary = summarize("parse_message", log, exit_code=0, seconds=20, findings=[], corpus_size=133)

    assert summary["executions"] == 1652
    assert summary["exec_per_second"] == 78
    assert summary["coverage_edges"] == 472
    assert summary["new_units"] == 138
    assert summary["ok"] is True
    crashed = summarize("parse_message", log, exit_code=1, seconds=20, findings=["crash-1"], corpus_size=1)
    assert crashed["ok"] is False
    assert crashed["findings"] == ["test-artifacts/fuzz/parse_message/crash-1"]
