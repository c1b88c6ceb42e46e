# govflow: `make demo` and `make test` are the whole quick start (each installs first when needed).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export DO_NOT_TRACK := 1
export MLFLOW_DISABLE_TELEMETRY := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_UI_V2_ENABLED := false
export PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT := false
GOVFLOW_TEST_PG_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
export GOVFLOW_TEST_PG_URL

.PHONY: install demo test lint typecheck bench postgres lock clean

install: $(STAMP)

$(STAMP): requirements-lock.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-lock.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: install
	$(VENV)/bin/govflow demo

# Starts PostgreSQL when it is installed here but stopped (tests skip it where there is none).
postgres:
	@if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then \
	  echo "starting PostgreSQL"; \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start || true; \
	  for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
	fi

lint: install
	$(VENV)/bin/ruff check govflow checks governance flows tests bench

typecheck: install
	$(VENV)/bin/mypy

# worksteal: each worker starts on a contiguous half (a module's expensive fixtures are built once, not on
# both workers as `load`'s interleaved chunks do) and takes tests from the other's queue when it runs out.
test: install postgres lint typecheck
	$(PY) -m pytest -q -n 2 --dist worksteal -m "not alone"  # both cores: each test has its own home, database, ports
	$(PY) -m pytest -q -m alone  # a busy-machine test, which would starve the other worker's tests

bench: install postgres
	$(PY) bench/run.py

lock:
	$(PY) -m pip freeze --all --exclude-editable | grep -viE "^(govflow|pip)=" > requirements-lock.txt

clean:
	rm -rf .govflow .pytest_cache .mypy_cache .ruff_cache
