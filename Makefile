# ClinicText developer entry points. Every target bootstraps what it needs, so a fresh clone
# only needs python3 on PATH:  make demo  /  make test
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
TOOLS := .venv-tools
BIN := $(VENV)/bin
PIP_FLAGS := --disable-pip-version-check -q

.PHONY: help demo sandbox test lint typecheck template-check unit pytest bench build smoke lock clean

help:
	@echo "make demo      run ClinicText end to end on an embedded local AWS (moto) and exit"
	@echo "make sandbox   keep the local stack running on 127.0.0.1 for curl / CLI use"
	@echo "make test      ruff, mypy, template checks (cfn-lint, sam validate, checkov) and pytest"
	@echo "make bench     benchmarks that print figures (not pass/fail)"
	@echo "make build     sam build, then import every built function (smoke)"

$(VENV)/.installed: requirements/dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) -r requirements/dev.txt
	$(BIN)/pip install $(PIP_FLAGS) --no-deps -e .
	touch $@

$(TOOLS)/.installed: requirements/tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install $(PIP_FLAGS) -r requirements/tools.txt
	touch $@

demo: $(VENV)/.installed
	$(BIN)/clinictext demo

sandbox: $(VENV)/.installed
	$(BIN)/clinictext sandbox

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy

template-check: $(VENV)/.installed $(TOOLS)/.installed
	$(BIN)/cfn-lint template.yaml
	$(TOOLS)/bin/sam validate --lint --template template.yaml --region us-east-1
	$(TOOLS)/bin/checkov --quiet --compact --framework cloudformation -f template.yaml

pytest: $(VENV)/.installed
	$(BIN)/pytest -n 2 -q

test: lint typecheck template-check pytest

bench: $(VENV)/.installed
	$(BIN)/python -m bench

build: $(TOOLS)/.installed
	$(TOOLS)/bin/sam build --template template.yaml

smoke: build $(VENV)/.installed
	$(BIN)/python -m infra.build_smoke

lock:
	uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements/dev.txt
	uv pip compile pyproject.toml -c requirements/dev.txt --python-version 3.12 \
		--python-platform x86_64-manylinux_2_28 -o requirements/runtime.txt
	uv pip compile requirements/tools.in --python-version 3.11 -o requirements/tools.txt

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
