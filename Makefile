# The single entry point for people and CI.  `make demo` and `make test` set everything up themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
SAM_VENV := .venv-sam
BIN := $(VENV)/bin
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
# checkov pins boto3 (and much else) exactly: its own environment.
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov --skip-download --framework cloudformation --compact --quiet
CFN_LINT := $(BIN)/cfn-lint --append-rules cfn_lint_serverless.rules
# The SAM template as CloudFormation (tools/translate.py, offline): cfn-lint and checkov do not expand SAM.
TRANSLATED := .aws-sam/translated/template.json
PIPELINE_TEMPLATES := pipeline/template.yaml pipeline/deploy-roles.yaml pipeline/gated-service-pipeline.yaml
# What each member account and region deploys (a service-managed StackSet): plain CloudFormation.
MEMBER_TEMPLATE := member/template.yaml
# Extra pytest arguments, e.g. make pytest PYTEST_ARGS="--junitxml=reports/pytest.xml" (pipeline/buildspec.yml).
PYTEST_ARGS ?=
# sam build needs the functions' runtime (python3.12) on PATH; pyenv keeps it out of PATH by default.
PY312_BIN := $(shell for p in "$$(command -v python3.12 2>/dev/null)" $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12; do \
	[ -n "$$p" ] && "$$p" --version >/dev/null 2>&1 && { dirname "$$p"; break; }; done)

.PHONY: help setup demo test bench lint typecheck pytest sam-validate sam-build asl local-aws clean \
	static translate cfn-lint checkov bandit lock

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# Every environment installs exactly its lock (tools/lock.py, make lock): each file checked against its sha256
# (pip's hash-checking mode), wheels only (no build step fetches anything unpinned), no resolution of its own
# (--no-deps: the lock is the whole closure; pip check confirms it). A changed lock builds the environment again
# from scratch. pip itself is the one the interpreter bundles (ensurepip), never upgraded from the index.
PIP_LOCKED := pip install --quiet --require-hashes --no-deps --only-binary=:all:

$(VENV)/.locked: requirements/dev.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/$(PIP_LOCKED) -r requirements/dev.txt
	touch $@

# The package itself, editable, on top of the locked environment (its dependencies are in the lock).
$(VENV)/.installed: $(VENV)/.locked pyproject.toml
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $@

# SAM CLI pins boto3 exactly (and would downgrade ours): it gets its own environment.
$(SAM_VENV)/.installed: requirements/sam.txt
	rm -rf $(SAM_VENV)
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/$(PIP_LOCKED) -r requirements/sam.txt
	$(SAM_VENV)/bin/pip check
	touch $@

$(CHECKOV_VENV)/.installed: requirements/checkov.txt
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/$(PIP_LOCKED) -r requirements/checkov.txt
	$(CHECKOV_VENV)/bin/pip check
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed node_modules/.installed ## create every tool environment

demo: $(VENV)/.installed ## deploy into the embedded emulator and play the scenarios
	$(BIN)/rollbackctl demo

bench: $(VENV)/.installed ## benchmarks side by side on the emulator (not part of test): bench/results.json
	$(BIN)/python -m bench.run $(BENCH_ARGS)

local-aws: $(VENV)/.installed ## serve the embedded emulator with the controller deployed on :4566
	$(BIN)/rollbackctl local-aws --port 4566 --deploy

lint: $(VENV)/.installed ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed ## mypy, strict on the domain package and tools/
	$(BIN)/mypy

pytest: $(VENV)/.installed ## unit, function and end-to-end tests, on every core (pytest-xdist)
	$(BIN)/pytest -q -n auto $(PYTEST_ARGS)

sam-validate: $(SAM_VENV)/.installed ## sam validate --lint (offline)
	$(SAM) validate --lint --template template.yaml --region us-east-1

sam-build: $(SAM_VENV)/.installed ## sam build (needs python3.12)
	@[ -n "$(PY312_BIN)" ] || { echo "sam build needs python3.12 (pyenv install 3.12 or apt install python3.12)"; exit 1; }
	PATH="$(PY312_BIN):$$PATH" $(SAM) build --template template.yaml --build-dir .aws-sam/build

asl: node_modules/.installed ## validate the state machine definitions
	npx --no-install asl-validator --json-path statemachine/rollback.asl.json

lock: $(VENV)/.installed ## regenerate every lock from its inputs (layers/requirements.in, requirements/*.in, pyproject.toml)
	$(BIN)/python tools/lock.py

translate: $(VENV)/.installed ## template.yaml as plain CloudFormation (offline) -> .aws-sam/translated/
	$(BIN)/python tools/translate.py --template template.yaml --output $(TRANSLATED)

cfn-lint: translate ## cfn-lint + serverless rules: template.yaml, its translation, pipeline/, member/
	$(CFN_LINT) -- template.yaml $(TRANSLATED) $(PIPELINE_TEMPLATES) $(MEMBER_TEMPLATE)

checkov: translate $(CHECKOV_VENV)/.installed ## checkov (offline): the translation, pipeline/, member/
	$(CHECKOV) $(foreach f,$(TRANSLATED) $(PIPELINE_TEMPLATES) $(MEMBER_TEMPLATE),--file $(f))

bandit: $(VENV)/.installed ## bandit on the Lambda code, the domain package and tools/
	$(BIN)/bandit --quiet --configfile pyproject.toml --recursive layers functions tools \
		--format custom --msg-template '{relpath}:{line}: {test_id} [{severity}/{confidence}] {msg}'

static: cfn-lint checkov bandit ## every static security check (make -k static lists them all)

# The four tool environments are independent: built side by side (the slowest step of a fresh clone), then every gate.
test: ## every quality gate
	$(MAKE) --no-print-directory -j4 --output-sync=target setup
	$(MAKE) --no-print-directory lint typecheck asl sam-validate static sam-build pytest

clean: ## remove the environments and build output
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) node_modules .aws-sam .mypy_cache .ruff_cache .pytest_cache reports
