# Orgkit: `make run` to try it, `make test` to run the whole suite.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app app
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test
# One Redis database per suite run: `make test` runs the three at once, and each test empties its own.
REDIS_TEST_URL ?= redis://127.0.0.1:6379/1
REDIS_SQLITE_TEST_URL ?= redis://127.0.0.1:6379/2
REDIS_WALLED_TEST_URL ?= redis://127.0.0.1:6379/3
PYTEST_ARGS ?=

PG_RLS_TEST_URL ?= postgresql://orgkit_rls_test@127.0.0.1:5432/test_rls_suite
PG_ADMIN ?= -h 127.0.0.1 -p 5432 -U postgres
# These need the superuser: they create databases and roles.
RLS_SUITE_SKIPS ?= --ignore=tests/security --ignore=tests/test_migrations.py
# What `make test` runs once more behind the wall: every request that binds an org (org pages, SCIM,
# the JSON API, SSO) and the jobs they start.
RLS_WALLED_TESTS ?= tests/blueprints tests/scim tests/api tests/sso tests/webhooks/test_routes.py

.PHONY: run port-free serve screenshots test test-postgres-tagged test-sqlite-tagged test-postgres-walled-tagged test-postgres test-postgres-rls test-postgres-walled test-sqlite rls-database install install-dev migrate clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	mkdir -p instance
	$(FLASK) db upgrade

## run: install, migrate, offer demo data, start the worker (when Redis answers) and the web app on
## PORT (`make run PORT=5001` when 5000 is taken, e.g. by AirPlay on macOS). Links in emails use
## PUBLIC_BASE_URL, which defaults to this address.
PORT ?= 5000
run: port-free migrate
	$(FLASK) demo offer
	@export PUBLIC_BASE_URL="$${PUBLIC_BASE_URL:-http://127.0.0.1:$(PORT)}"; \
	if $(PY) -c "import redis,os,sys; sys.exit(0 if redis.Redis.from_url(os.environ.get('REDIS_URL','redis://127.0.0.1:6379/0')).ping() else 1)" 2>/dev/null; then \
		echo "Redis is up: starting the worker (python worker.py)."; \
		$(PY) worker.py & WORKER=$$!; trap "kill $$WORKER 2>/dev/null" EXIT INT TERM; \
	else \
		echo "Redis is not reachable: jobs will run inside the web process after each commit."; \
	fi; \
	echo "Orgkit is running at http://127.0.0.1:$(PORT)"; \
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

## port-free: one line and a failure when PORT is taken, before anything starts.
port-free: install
	@$(PY) -c "import sys, cli; sys.exit(cli.port_busy_message('127.0.0.1', $(PORT)))"

## test: the whole suite on PostgreSQL and on SQLite, and its org-facing part on PostgreSQL once more
## as a role row-level security applies to, as production's app role. The three run at once (much of a
## run waits on browsers, workers and sockets), each on its own databases and Redis database, with
## every line prefixed by its run; any failing run, or pytest exiting 5 (no tests), fails `make test`.
SHELL := /bin/bash
test: install-dev rls-database
	@$(MAKE) --no-print-directory -j3 test-postgres-tagged test-sqlite-tagged test-postgres-walled-tagged

test-postgres-tagged test-sqlite-tagged test-postgres-walled-tagged:
	@set -o pipefail; $(MAKE) --no-print-directory $(@:-tagged=) PYTEST_ARGS="$(PYTEST_ARGS)" 2>&1 \
		| sed -u 's/^/[$(@:test-%-tagged=%)] /'

# Tests whose outcome does not depend on the suite's database run in one of the two runs only: the
# bench smoke tests always run their bench on a scratch SQLite file of their own (so in the SQLite run),
# and the browser tests drive the screens through Chromium (so in the PostgreSQL run, production's
# database). Every other test runs on both.
POSTGRES_ONLY_ONCE ?= --ignore-glob='*/test_bench_smoke.py'
SQLITE_ONLY_ONCE ?= -m 'not browser'

test-postgres: install-dev
	DATABASE_URL=$(PG_TEST_URL) REDIS_URL=$(REDIS_TEST_URL) $(PY) -m pytest $(POSTGRES_ONLY_ONCE) $(PYTEST_ARGS)

## test-postgres-rls: the whole suite on the migrations' schema as a role row-level security applies
## to (not a superuser), so every org page and SCIM call runs walled to its org.
test-postgres-rls: install-dev rls-database
	ORGKIT_TEST_RLS=1 DATABASE_URL=$(PG_RLS_TEST_URL) REDIS_URL=$(REDIS_TEST_URL) $(PY) -m pytest $(RLS_SUITE_SKIPS) $(PYTEST_ARGS)

## test-postgres-walled: the same, for RLS_WALLED_TESTS only (part of `make test`).
test-postgres-walled: install-dev rls-database
	ORGKIT_TEST_RLS=1 DATABASE_URL=$(PG_RLS_TEST_URL) REDIS_URL=$(REDIS_WALLED_TEST_URL) $(PY) -m pytest $(RLS_WALLED_TESTS) $(POSTGRES_ONLY_ONCE) $(PYTEST_ARGS)

## rls-database: the login role (no SUPERUSER, no BYPASSRLS) and the database those runs use,
## made once by PostgreSQL's superuser.
rls-database:
	@psql $(PG_ADMIN) -d postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'orgkit_rls_test'" | grep -q 1 \
		|| createuser $(PG_ADMIN) orgkit_rls_test
	@psql $(PG_ADMIN) -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test_rls_suite'" | grep -q 1 \
		|| createdb $(PG_ADMIN) -O orgkit_rls_test test_rls_suite

test-sqlite: install-dev
	DATABASE_URL= REDIS_URL=$(REDIS_SQLITE_TEST_URL) $(PY) -m pytest $(SQLITE_ONLY_ONCE) $(PYTEST_ARGS)

## screenshots: refresh docs/screenshots/ on purpose. It runs the browser tests, which save through
## tests/screenshots.py; in any other run those land in the ignored tests/.artifacts/screenshots/.
screenshots: install-dev
	ORGKIT_SCREENSHOTS=docs DATABASE_URL= REDIS_URL=$(REDIS_TEST_URL) $(PY) -m pytest -m browser $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) instance/*.db .pytest_cache

## serve: production-shaped local run: gunicorn for the web and WORKERS worker processes.
WORKERS ?= 2
serve: migrate
	@echo "gunicorn on http://127.0.0.1:8000 with $(WORKERS) worker processes"
	@trap 'kill 0' EXIT INT TERM; \
	for i in $$(seq 1 $(WORKERS)); do $(PY) worker.py & done; \
	HOST=127.0.0.1 $(VENV)/bin/gunicorn -c gunicorn.conf.py "app:create_app()"
