# ClinicText developer entry points. Every target bootstraps what it needs, so a fresh clone
# only needs python3 on PATH:  make demo  /  make test
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
TOOLS := .venv-tools
BIN := $(VENV)/bin
PIP_FLAGS := --disable-pip-version-check -q

.PHONY: help demo sandbox test lint imports typecheck template-check security unit pytest bench build smoke lock clean openapi web web-test chromium browser-test screenshots

help:
	@echo "make demo      run ClinicText end to end on an embedded local AWS (moto) and exit"
	@echo "make sandbox   keep the local stack running on 127.0.0.1 for curl / CLI use"
	@echo "make test      ruff, import-linter, mypy, template checks (cfn-lint, sam validate, checkov), bandit and pytest"
	@echo "make bench     benchmarks that print figures (not pass/fail)"
	@echo "make build     sam build (offline, --build-in-source)"
	@echo "make smoke     make build, then import every built function with Python 3.12"
	@echo "make openapi   regenerate docs/openapi.yaml from the HTTP functions' resolvers"
	@echo "make web       npm ci and vite build of the staff web app (web/ -> web/dist)"
	@echo "make web-test  the web app's typecheck and Vitest component tests (jsdom)"
	@echo "make browser-test  the staff app in headless Chromium (Playwright) against the sandbox (part of make test)"
	@echo "make screenshots   docs/screenshots/*.png of the staff app, from the sandbox"

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

sandbox: $(VENV)/.installed web
	$(BIN)/clinictext sandbox

# The staff web app (web/): node and npm from the machine (Debian's nodejs and npm when missing), packages from
# the committed package-lock.json only (npm ci).
NPM ?= npm
web/node_modules/.installed: web/package.json web/package-lock.json
	@command -v $(NPM) >/dev/null || { apt-get update -q && apt-get install -y -q nodejs npm; }
	cd web && $(NPM) ci --no-audit --no-fund
	touch $@

web: web/node_modules/.installed
	cd web && npx tsc --noEmit && npx vite build

web-test: web/node_modules/.installed
	cd web && npx tsc --noEmit && npx vitest run

# The browser tests (tests/browser) drive Debian's Chromium: Playwright's own browser download is not used
# (nor reachable here). Installed from Debian's packages when missing, as nodejs is above.
CHROMIUM ?= /usr/bin/chromium
chromium:
	@test -x $(CHROMIUM) || { apt-get update -q && apt-get install -y -q chromium; }

# Only the browser tests (they are also part of `make pytest`): the built app, axe-core from web/node_modules.
browser-test: $(VENV)/.installed chromium web
	$(BIN)/pytest -q -p no:cacheprovider tests/browser

screenshots: $(VENV)/.installed chromium web
	$(BIN)/python -m tests.browser.screenshots

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The package layout (issue 11): layers, no cycles, adapters private to their package (pyproject.toml).
imports: $(VENV)/.installed
	$(BIN)/lint-imports --no-cache

typecheck: $(VENV)/.installed
	$(BIN)/mypy

template-check: $(VENV)/.installed $(TOOLS)/.installed
	$(BIN)/cfn-lint template.yaml
	$(TOOLS)/bin/sam validate --lint --template template.yaml --region us-east-1
	$(TOOLS)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml

# bandit on the shipped code: any finding fails unless its line carries "# <reason>  # nosec B<id>".
security: $(VENV)/.installed
	$(BIN)/bandit -q -r shared functions infra

# tests/browser needs Chromium and the built web app (web/dist, axe-core in web/node_modules).
pytest: $(VENV)/.installed chromium web
	$(BIN)/pytest -n 2 --dist loadfile -q

test: lint imports typecheck template-check security pytest web-test

bench: $(VENV)/.installed
	$(BIN)/python -m bench

# --build-in-source: SAM runs the build-* targets below in this checkout. Without it, SAM first copies
# each CodeUri (".", the whole repo with .venv and .venv-tools) into a scratch directory.
build: $(TOOLS)/.installed
	SAM_CLI_TELEMETRY=0 $(TOOLS)/bin/sam build --template template.yaml --build-in-source

smoke: build $(VENV)/.installed
	$(BIN)/python -m infra.build_smoke

# ---- targets `sam build` calls (BuildMethod: makefile), with ARTIFACTS_DIR set to the resource's
# build directory. Every function ships the same code, the functions/ and shared/ packages (Python
# sources only), so handlers keep the import path the tests use: functions.<name>.handler.lambda_handler.
# Any resource whose logical id ends in "Function" is covered by the pattern rule; for another name add
# a target `build-<LogicalId>` whose recipe is $(copy-lambda-code).
LAMBDA_PACKAGES := functions shared
# pip only downloads wheels for the Lambda platform, so any local Python 3 pip will do.
LAYER_PIP ?= $(if $(wildcard $(TOOLS)/bin/python),$(TOOLS)/bin/python,$(PYTHON)) -m pip

define require-artifacts-dir
@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set: this target is run by 'make build'" >&2; exit 1; }
endef

define copy-lambda-code
$(require-artifacts-dir)
find $(LAMBDA_PACKAGES) -name '*.py' -not -path '*/__pycache__/*' -print0 \
  | tar --null -T - -cf - | tar -xf - -C "$(ARTIFACTS_DIR)"
endef

build-%Function:
	$(copy-lambda-code)

# Third-party packages from requirements/runtime.txt (compiled from pyproject), as Lambda wheels.
# AL2023 (python3.12) has glibc 2.34, so manylinux_2_28 wheels are accepted as well as manylinux2014.
build-DependenciesLayer:
	$(require-artifacts-dir)
	$(LAYER_PIP) install $(PIP_FLAGS) --no-compile --only-binary=:all: \
		--platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
		--python-version 3.12 --implementation cp \
		--target "$(ARTIFACTS_DIR)/python" -r requirements/runtime.txt

# docs/openapi.yaml is generated from the resolvers' models (tests/template/test_openapi.py checks it).
openapi: $(VENV)/.installed
	$(BIN)/python -m infra.openapi

lock:
	uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements/dev.txt
	uv pip compile pyproject.toml -c requirements/dev.txt --python-version 3.12 \
		--python-platform x86_64-manylinux_2_28 -o requirements/runtime.txt
	uv pip compile requirements/tools.in --python-version 3.11 -o requirements/tools.txt

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
