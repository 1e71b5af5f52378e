"""Coverage-guided fuzzing (atheris, libFuzzer) of the code that reads what strangers send.

``python -m fuzz`` (``make fuzz``) runs every target in :mod:`fuzz.targets` for a bounded time and
prints a JSON summary; ``python -m fuzz.run_target NAME FILE...`` replays saved inputs (a crash
artifact, say) through one target. The targets are plain functions of ``bytes`` that raise only
when a property breaks, so the unit suite also runs them on their seeds (``tests/unit/
test_fuzz_targets.py``) and they cannot rot between fuzz runs.

Nothing in this package imports ``mailroom`` at import time: the runner imports the targets inside
``atheris.instrument_imports`` so that only our code is instrumented, not the whole stdlib.
"""
