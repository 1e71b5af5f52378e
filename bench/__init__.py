"""Benchmarks: `make bench` prints their figures as JSON (never asserted in tests)."""
