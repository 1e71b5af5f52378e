#!/usr/bin/env bash
# The whole suite: lint, types, then every test. pytest's exit code 5 ("no tests ran") is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=.venv/bin
status=0

echo "== ruff"
$VENV/ruff check . || status=1
$VENV/ruff format --check . || status=1
echo "== mypy"
$VENV/mypy mailroom functions sandbox infra bench fuzz tests || status=1

echo "== pytest"
mkdir -p test-artifacts
# Test files run in parallel worker processes (pytest-xdist), a file's tests together so that
# module-scoped sandboxes and browsers are shared. Most of the wall time is waiting on subprocesses
# (the sandbox, DynamoDB Local, Chromium), so two workers pay off even on two cores.
$VENV/pytest -p no:cacheprovider -n "${PYTEST_WORKERS:-2}" --dist loadfile "$@"
code=$?
if [ "$code" = "5" ]; then
  echo "pytest collected no tests: that is a failure, not a pass" >&2
  code=1
fi
[ "$code" = "0" ] || status=$code
exit $status
