# Two set-up commands, both from a fresh clone: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools
AZURE_CLI_VERSION := 2.91.0
AZURITE_VERSION := 3.37.0
AZ := $(TOOLS)/azure-cli/bin/az
AZURITE := $(TOOLS)/node/node_modules/.bin/azurite-blob

.PHONY: test demo install tools lint typecheck docs pytest dist matrix system-packages krb5-headers mariadb-headers emulator bench hardening clean

# What the tests need from outside the venv: fail (not skip) when the Azure CLI or Azurite is missing.
TEST_ENV := APPAUTH_REQUIRE_TOOLS=1 APPAUTH_AZ_CLI="$(abspath $(AZ))" APPAUTH_AZURITE_BLOB="$(abspath $(AZURITE))"

## test: install everything the suite needs, then lint, type-check, build the docs, run every test and the version matrix
test: install tools lint typecheck docs pytest matrix

pytest: install tools
	$(TEST_ENV) $(PY) -m pytest

## dist: the wheel and sdist in dist/ (the wheel is built from the sdist), checked with twine
dist: install
	rm -rf dist build
	$(PY) -m build --outdir dist .
	$(VENV)/bin/twine check --strict dist/*

## matrix: tests/django and the Django database backends on Django 4.2 and 5.2, tests/flask and Flask-SQLAlchemy on Flask 3.0 and 3.1, against the built wheel (noxfile.py)
matrix: install tools dist
	$(TEST_ENV) $(VENV)/bin/nox

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

## docs: the documentation site (mkdocs.yml, docs/) into site/; --strict fails on a broken link or anchor, a page left out of the navigation or an API reference that does not resolve
# NO_MKDOCS_2_WARNING: mkdocs-material's banner about MkDocs 2.0, printed on every build.
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

## demo: run the Django and Flask demo sites against the local Azure stand-ins (Ctrl-C stops everything)
demo: install $(AZURITE)
	$(PY) demo_sites/run.py

## emulator: the local Azure emulator in the foreground, vault on https://127.0.0.1:8443/ (docs/local-development.md); its settings land in .emulator.env while it runs
emulator: install
	$(PY) -m appauth_core.testing --env-file .emulator.env --port 8443 --state-dir .emulator

## hardening: the long fuzzing runs (>= 100,000 examples each) and the full wrk load runs (200 clients x 60 s per server and site; figures into docs/RELIABILITY.md); `make test` runs a sample of each
hardening: install
	$(PY) -m pytest -m long tests/hardening

## bench: our code vs azure-identity, msal and the Azure CLI, side by side; rewrites BENCHMARKS.md
bench: install tools
	$(PY) bench/run_all.py

install: $(VENV)/.installed

# krb5-headers first: the kerberos extra's gssapi has no Linux wheel and builds against libkrb5-dev.
# mariadb-headers too: the mysql extra's mysqlclient has no Linux wheel and builds against libmariadb-dev.
$(VENV)/.installed: pyproject.toml | krb5-headers mariadb-headers
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

tools: $(AZ) $(AZURITE) system-packages

# The real Azure CLI, in its own venv: its pinned dependencies must not decide ours.
$(AZ):
	$(PYTHON) -m venv $(TOOLS)/azure-cli
	$(TOOLS)/azure-cli/bin/pip install --quiet azure-cli==$(AZURE_CLI_VERSION)

$(AZURITE): | system-packages
	npm install --prefix $(TOOLS)/node --no-audit --no-fund --loglevel=error azurite@$(AZURITE_VERSION)

# Debian packages, installed only when missing and only when we are root (as CI is): Node.js for
# Azurite, redis-server for the shared-cache tests, Chromium for the browser tests, MIT Kerberos (a real
# KDC on loopback, kinit, and the headers gssapi builds against) for the RunAs=CurrentUser tests,
# PostgreSQL and MariaDB (servers and their psql / mariadb clients) for the passwordless-database tests.
system-packages:
	@missing=""; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v krb5kdc >/dev/null || [ -x /usr/sbin/krb5kdc ] || missing="$$missing krb5-kdc"; \
	command -v kadmin.local >/dev/null || [ -x /usr/sbin/kadmin.local ] || missing="$$missing krb5-admin-server"; \
	command -v kinit >/dev/null || missing="$$missing krb5-user"; \
	command -v krb5-config >/dev/null || missing="$$missing libkrb5-dev"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || missing="$$missing mariadb-server"; \
	command -v mariadb >/dev/null || missing="$$missing mariadb-client"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
		else echo "missing:$$missing (Debian packages); install them, then run make again" >&2; exit 1; fi; \
	fi

krb5-headers:
	@if ! command -v krb5-config >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libkrb5-dev; \
		else echo "missing: libkrb5-dev (Debian package, needed to build gssapi); install it, then run make again" >&2; exit 1; fi; \
	fi

mariadb-headers:
	@if ! pkg-config --exists libmariadb 2>/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libmariadb-dev pkg-config; \
		else echo "missing: libmariadb-dev, pkg-config (Debian packages, needed to build mysqlclient); install them, then run make again" >&2; exit 1; fi; \
	fi

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .nox dist build site
