# Circulus — `make demo` runs the main job on embedded SQLite; `make test` runs the suite.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

# Local targets run with development settings unless the environment says otherwise.
export DEBUG ?= 1
export DJANGO_SETTINGS_MODULE ?= circulus.settings

.PHONY: help install demo test lint format serve worker beat bench bench-quick clean lock

help:
	@echo "make demo    - install, migrate the embedded SQLite DB, load data, run the main job"
	@echo "make test    - run the whole test suite (DATABASE_URL selects the database)"
	@echo "make lint    - ruff, format check, makemigrations --check, check --deploy"
	@echo "make serve   - dev server on :8000 (+ a worker when CELERY_BROKER_URL is set)"
	@echo "make worker  - a Celery worker (needs CELERY_BROKER_URL; QUEUES=ingest,compute,export,celery)"
	@echo "make bench   - benchmarks (BENCH_QUICK=1 for the small CI mode)"

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lock: install
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

demo: install
	$(PY) manage.py demo

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	DEBUG=0 SECRET_KEY=lint-only-$$(date +%s)-a-long-random-looking-secret-key-value-for-checks \
		ALLOWED_HOSTS=circulus.example.org $(PY) manage.py check --deploy --fail-level WARNING

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

serve: install
	$(PY) manage.py migrate --no-input
	@if [ -n "$$CELERY_BROKER_URL" ]; then \
		$(VENV)/bin/celery -A circulus worker --loglevel=INFO & \
		echo "worker started against $$CELERY_BROKER_URL"; \
	else echo "no CELERY_BROKER_URL: tasks run eagerly in the web process"; fi
	$(PY) manage.py runserver 0.0.0.0:8000

# QUEUES=ingest,compute serves only those kinds of work (circulus/queues.py); default: all.
worker: install
	$(VENV)/bin/celery -A circulus worker --loglevel=INFO $(if $(QUEUES),-Q $(QUEUES),)

beat: install
	$(VENV)/bin/celery -A circulus beat --loglevel=INFO

bench: install
	$(PY) benchmarks/run.py $(if $(BENCH_QUICK),--quick,) $(if $(BENCH_ONLY),--only $(BENCH_ONLY),)

bench-quick: install
	$(PY) benchmarks/run.py --quick

clean:
	rm -rf var out .pytest_cache .ruff_cache
