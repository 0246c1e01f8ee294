# Numina's two commands: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install lint schemathesis migrate worker superuser benchmark clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-installs whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# Development server: numina/asgi.py under uvicorn (the event stream needs ASGI), reloading
# on code changes. With no DATABASE_URL / REDIS_URL it runs on the embedded default
# (SQLite in var/, in-process cache and tasks); with REDIS_URL it also starts a worker,
# with the beat scheduler inside it (CELERY_BEAT_SCHEDULE: the title/summary sweeper, the
# cache replay).
run: install
	export DEBUG=$${DEBUG:-true}; \
	$(BIN)/python manage.py migrate --noinput && \
	if [ -n "$$REDIS_URL" ]; then \
		trap 'kill 0' EXIT; \
		mkdir -p var; \
		$(BIN)/celery -A numina worker --beat --schedule=var/celerybeat-schedule \
			--loglevel=INFO --concurrency=2 & \
	fi; \
	$(BIN)/uvicorn numina.asgi:application --host $(HOST) --port $(PORT) --reload \
		--lifespan on --no-access-log --no-proxy-headers

# The whole suite against PostgreSQL and Redis (defaults in pyproject.toml's pytest env:
# postgres://postgres@127.0.0.1:5432/numina and redis://127.0.0.1:6379/0).
test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=true $(BIN)/mypy numina accounts conversations memory
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

# Schemathesis against the served OpenAPI schema, under gunicorn, authenticated.
schemathesis: install
	BIN=$(BIN) bash .ci/schemathesis

migrate: install
	$(BIN)/python manage.py migrate --noinput

worker: install
	$(BIN)/celery -A numina worker --loglevel=INFO

superuser: install
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py createsuperuser

# The API under gunicorn on 100 users × 10,000 conversations × 1,000,000 messages.
BENCH_PG ?= postgres://postgres@127.0.0.1:5432
BENCH_ENV = DATABASE_URL=$(BENCH_PG)/numina_bench REDIS_URL=$${BENCH_REDIS_URL:-redis://127.0.0.1:6379/2}
benchmark: install
	psql "$(BENCH_PG)/postgres" -qtc "SELECT 1 FROM pg_database WHERE datname = 'numina_bench'" | grep -q 1 \
		|| psql "$(BENCH_PG)/postgres" -qc "CREATE DATABASE numina_bench"
	$(BENCH_ENV) $(BIN)/python -m benchmarks.generate $(GENERATE_ARGS)
	$(BENCH_ENV) $(BIN)/python -m benchmarks.run $(BENCHMARK_ARGS)
	$(BENCH_ENV) $(BIN)/python benchmarks/migrate_bench.py
	$(BIN)/python benchmarks/context_bench.py

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
