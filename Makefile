# reirrad - the two set-up commands for a fresh machine are `make demo` and `make test`.
# Both create .venv with the system python3 and install the project into it.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/reirrad demo

lint: $(STAMP)
	$(PY) -m ruff check engine plugin tps_stubs tests benchmarks

typecheck: $(STAMP)
	$(PY) -m mypy

pytest: $(STAMP)
	$(PY) -m pytest

test: lint typecheck pytest

clean:
	rm -rf $(VENV) reirrad-demo .pytest_cache .mypy_cache .ruff_cache .hypothesis
