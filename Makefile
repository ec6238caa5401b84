# Two commands on a fresh machine: `make demo` and `make test`.
# Both create or refresh the local virtual environment in .venv by themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SHARED ?= ../shared

.PHONY: venv demo vectors test lint unit pytest bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("smetslab needs Python >= 3.11, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/smetslab demo

vectors: $(STAMP)
	$(BIN)/smetslab gbcs vectors --vectors $(SHARED)/testdata/gbcs/rtds-4.5.0

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# the unit tier alone (sans-IO, no broker, no process): the quick loop, under 30 s
unit: $(STAMP)
	$(BIN)/pytest -m unit

# every tier at once: most tests wait on brokers, processes and device time, so more
# workers than cores (work stealing; PYTEST_WORKERS=0 runs them one after the other)
PYTEST_WORKERS ?= 4
pytest: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal

test: lint pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks --out bench-results.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis bench-results.json
