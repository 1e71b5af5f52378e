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
$VENV/mypy mailroom functions sandbox infra bench tests || status=1

echo "== pytest"
mkdir -p test-artifacts
$VENV/pytest -p no:cacheprovider "$@"
code=$?
if [ "$code" = "5" ]; then
  echo "pytest collected no tests: that is a failure, not a pass" >&2
  code=1
fi
[ "$code" = "0" ] || status=$code
exit $status
