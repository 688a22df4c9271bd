# Circulus — `make demo` runs the main job on embedded SQLite; `make test` runs the suite.
# The newest of the supported Pythons that actually runs here (a pyenv shim may exist unselected).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11; do \
	$$p -c '' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV   ?= .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/circulus
STAMP  := $(VENV)/.installed-stamp
ENV_FILE := .env

# Local targets run with development settings unless the environment says otherwise.
export DEBUG ?= 1
export DJANGO_SETTINGS_MODULE ?= circulus.settings

.PHONY: help install demo test test-docs fuzz fuzz-api lint format serve worker beat bench bench-quick clean lock

help:
	@echo "make demo    - install, migrate the embedded SQLite DB, load data, run the main job"
	@echo "make test    - run the whole test suite (DATABASE_URL selects the database)"
	@echo "make test-docs - run every sh block of README.md and docs/ against a fresh demo"
	@echo "make fuzz    - a deeper random search for event sequences that break the ledger"
	@echo "make fuzz-api - schemathesis against the running API on a fresh seed (FUZZ_DATABASE_URL, dropped!)"
	@echo "make lint    - ruff, format check, import contracts, makemigrations --check, check --deploy"
	@echo "make serve   - dev server on :8000 (+ a worker when CELERY_BROKER_URL is set)"
	@echo "make worker  - a Celery worker (needs CELERY_BROKER_URL; QUEUES=ingest,compute,export,connectors,celery)"
	@echo "make bench   - benchmarks (BENCH_QUICK=1 for the small CI mode)"

$(STAMP): pyproject.toml requirements.lock
	@test -n "$(PYTHON)" || { echo "Python 3.13, 3.12 or 3.11 is needed (none found)"; exit 1; }
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lock: install
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

# Development settings for commands run by hand: DEBUG on and a key of this checkout's own.
# Never overwritten, and git-ignored; production sets the environment instead.
$(ENV_FILE): | $(STAMP)
	@printf '# Written by make demo for local development; production uses the environment.\nDEBUG=1\nSECRET_KEY=%s\n' \
		"$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" > $@
	@echo "wrote $@ (DEBUG on, a generated SECRET_KEY)"

demo: install $(ENV_FILE)
	$(CLI) demo

# Two processes, each on its own test database; tests that share a Celery worker, the browser
# or the database server's roles keep to one process (tests/conftest.py). TEST_WORKERS=0 runs
# everything in this process.
TEST_WORKERS ?= 2
test: install
	$(PY) -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup) $(PYTEST_ARGS)

# CI runs the ledger machine with 50 sequences of 40 steps; this runs 1,000 of 80, fresh random
# ones each time (FUZZ_EXAMPLES, FUZZ_STEPS to change; DATABASE_URL selects the database).
FUZZ_EXAMPLES ?= 1000
FUZZ_STEPS ?= 80
fuzz: install
	CIRCULUS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) CIRCULUS_FUZZ_STEPS=$(FUZZ_STEPS) CIRCULUS_FUZZ_RANDOM=1 \
		$(PY) -m pytest -s -p no:cacheprovider tests/registry/test_ledger_machine.py $(PYTEST_ARGS)

# The API against its own schema as five identities, on a new seed each run (CI replays a fixed
# one). The database FUZZ_DATABASE_URL names is dropped and recreated: give it a throwaway name.
FUZZ_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/circulus_fuzz
fuzz-api: install
	DATABASE_URL=$(FUZZ_DATABASE_URL) FUZZ_SECONDS=$(or $(FUZZ_SECONDS),60) tests/fuzz/run_schemathesis.sh

test-docs: install $(ENV_FILE)
	$(PY) -m pytest -m docs tests/docs $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(CLI) makemigrations --check --dry-run
	DEBUG=0 SECRET_KEY=lint-only-$$(date +%s)-a-long-random-looking-secret-key-value-for-checks \
		ALLOWED_HOSTS=circulus.example.org $(CLI) check --deploy --fail-level WARNING

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

serve: install $(ENV_FILE)
	$(CLI) migrate --no-input
	@if [ -n "$$CELERY_BROKER_URL" ]; then \
		$(CLI) celery worker --loglevel=INFO & \
		echo "worker started against $$CELERY_BROKER_URL"; \
	else echo "no CELERY_BROKER_URL: tasks run eagerly in the web process"; fi
	$(CLI) runserver 0.0.0.0:8000

# Both refuse to start without CELERY_BROKER_URL (see circulus/cli.py).
# QUEUES=ingest,compute serves only those kinds of work (circulus/queues.py); default: all.
worker: install $(ENV_FILE)
	$(CLI) celery worker --loglevel=INFO $(if $(QUEUES),-Q $(QUEUES),)

beat: install $(ENV_FILE)
	$(CLI) celery beat --loglevel=INFO

bench: install
	$(PY) benchmarks/run.py $(if $(BENCH_QUICK),--quick,) $(if $(BENCH_ONLY),--only $(BENCH_ONLY),)

bench-quick: install
	$(PY) benchmarks/run.py --quick

clean:
	rm -rf var out .pytest_cache .ruff_cache
