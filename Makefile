# Mailroom: `make run` starts the local sandbox, `make test` runs every test. Both install what is
# missing first (virtual environment, Python and npm packages, DynamoDB Local, Java, Chromium).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DDB_DIR := .cache/dynamodb-local
export MAILROOM_DYNAMODB_LOCAL_DIR := $(abspath $(DDB_DIR))

.PHONY: setup run test bench loadtest fuzz lint synth clean help .java-ok .chromium-ok

help:
	@echo "make run    start the local sandbox with demo data (SMTP 127.0.0.1:2525, web 127.0.0.1:8080)"
	@echo "make test   run the whole test suite"
	@echo "make bench  print benchmark figures as JSON"
	@echo "make fuzz   run each fuzz target for FUZZ_SECONDS (default 60); JSON summary, crashes in test-artifacts/fuzz/"
	@echo "make loadtest  10,000 mails and agents against a sandbox; figures as JSON, invariants checked"
	@echo "make lint   ruff and mypy"
	@echo "make synth  synthesize the CDK app into cdk.out/ (offline)"

$(VENV)/.installed: pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[sandbox,dev,infra]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(DDB_DIR)/DynamoDBLocal.jar: scripts/install_dynamodb_local.sh
	./scripts/install_dynamodb_local.sh $(DDB_DIR)
	@touch $@

HTMX := mailroom/api/static/htmx.min.js
$(HTMX): node_modules/.installed
	cp node_modules/htmx.org/dist/htmx.min.js $@

.java-ok:
	@./scripts/ensure_java.sh

.chromium-ok:
	@./scripts/ensure_chromium.sh

setup: $(VENV)/.installed node_modules/.installed $(HTMX) $(DDB_DIR)/DynamoDBLocal.jar .java-ok

run: setup
	$(VENV)/bin/mailroom sandbox --demo

test: setup .chromium-ok
	./scripts/run_tests.sh

bench: setup
	$(PY) -m bench

# Options: make loadtest LOADTEST_ARGS="--emails 2000 --senders 4 --agents 8" (python -m bench.load --help).
loadtest: setup
	$(PY) -m bench.load $(LOADTEST_ARGS)

# Coverage-guided fuzzing (atheris): each target in fuzz/targets.py for FUZZ_SECONDS, seeded from
# ../shared/corpus; replay a finding with: $(PY) -m fuzz.run_target TARGET test-artifacts/fuzz/TARGET/crash-...
FUZZ_SECONDS ?= 60
fuzz: $(VENV)/.installed
	$(PY) -m fuzz --seconds $(FUZZ_SECONDS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy mailroom functions sandbox infra bench fuzz

# Bundles the Lambda code with pip (wheels cached in .cache/lambda-wheels/: PyPI is needed once), runs
# cdk-nag (a finding that is neither fixed nor acknowledged fails), then cfn-lint on the template.
synth: $(VENV)/.installed node_modules/.installed $(HTMX)
	PATH="$(abspath $(VENV))/bin:$$PATH" JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 \
	  JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 npx --no-install cdk synth --quiet
	$(VENV)/bin/cfn-lint --ignore-checks W3005 -- cdk.out/Mailroom-*.template.json

clean:
	rm -rf cdk.out .mypy_cache .ruff_cache .pytest_cache
