# reirrad - the two set-up commands for a fresh machine are `make demo` and `make test`.
# Both first install the Debian packages they need when they can (install/dev/system-packages.sh, shared
# with .ci/run; otherwise one line says what to install), then create .venv with the system python3 and
# install into it the product (reirrad: engine + adapters) and, apart, the TPS stand-ins (reirrad-stubs,
# tps_stubs/pyproject.toml), which the product wheel never contains.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Code that runs inside a TPS must work on Python 3.8 (RayStation 11B). When a 3.8 interpreter is
# on the machine, `make test` also runs the engine tests under it; otherwise it says it skipped them.
PY38 ?= $(firstword $(wildcard /root/.pyenv/versions/3.8*/bin/python3.8) $(shell command -v python3.8 2>/dev/null))
VENV38 ?= .venv38

.PHONY: demo test lint typecheck pytest pytest-py38 pytest-pydicom3 pytest-pyradplan bench bench-pyradplan clean \
	stubs eclipse-host system-packages-demo system-packages-test wheel-check

$(STAMP): pyproject.toml tps_stubs/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev]' -e './tps_stubs[eclipse]'
	touch $(STAMP)

system-packages-demo:
	@bash install/dev/system-packages.sh demo

system-packages-test:
	@bash install/dev/system-packages.sh test

demo: system-packages-demo
	@$(MAKE) --no-print-directory $(STAMP)
	$(VENV)/bin/reirrad demo

lint: $(STAMP)
	$(PY) -m ruff check engine plugin tps_stubs tests benchmarks install

typecheck: $(STAMP)
	$(PY) -m mypy

# The ESAPI stand-in assemblies (tps_stubs/esapi/build/, git-ignored) are compiled with Mono's C#
# compiler `mcs` (Debian: mono-devel; .ci/run installs it). The script skips the build when up to date.
stubs:
	$(PYTHON) tps_stubs/esapi/_build.py

# The Eclipse launch chain (install/eclipse/build/, git-ignored): ReirradHost.exe (embeds this
# environment's Python through pythonnet) and the Scripts-menu launcher, built with mcs against the
# stand-in assemblies; ReirradHost.ini points the host at .venv's Python.
eclipse-host: $(STAMP) stubs
	$(PY) install/eclipse/build.py

pytest: $(STAMP) stubs eclipse-host
	$(PY) -m pytest

$(VENV38)/.installed: pyproject.toml
	$(PY38) -m venv $(VENV38)
	$(VENV38)/bin/python -m pip install --quiet --upgrade pip
	$(VENV38)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

pytest-py38:
ifeq ($(strip $(PY38)),)
	@echo "pytest-py38: SKIPPED - no Python 3.8 interpreter found (set PY38=/path/to/python3.8)"
else
	$(MAKE) $(VENV38)/.installed
	$(VENV38)/bin/python -m pytest -q tests/engine
endif

# The test extra pins pydicom < 3 (dicompyler-core 0.5.6, used by a cross-check test, needs it), while
# the `dicom` extra allows pydicom 3: the DICOM tests also run here against the newest pydicom 3.x,
# without dicompyler-core (its cross-check skips, naming why).
VENV_PYDICOM3 ?= .venv-pydicom3

$(VENV_PYDICOM3)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV_PYDICOM3)
	$(VENV_PYDICOM3)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_PYDICOM3)/bin/python -m pip install --quiet -e '.[dicom,report]' 'pydicom>=3,<4' pytest hypothesis
	touch $@

pytest-pydicom3: $(VENV_PYDICOM3)/.installed
	$(VENV_PYDICOM3)/bin/python -c "import pydicom; print('pydicom', pydicom.__version__)"
	$(VENV_PYDICOM3)/bin/python -m pytest -q tests/plugin/dicom

# The open-source planning backend (reirrad_tps.pyradplan) in its own environment: the `pyradplan` extra
# (pyRadPlan 0.5.0 with pydantic<2.12, ~1.2 GB of dependencies that must not enter .venv) plus the stand-ins
# (stub patients). REIRRAD_REQUIRE_PYRADPLAN makes a missing engine fail its tests instead of skipping them
# (the main .venv skips them). One coarse-grid isotoxic run and a DICOM case: about a minute on 2 cores.
VENV_PYRADPLAN ?= .venv-pyradplan

$(VENV_PYRADPLAN)/.installed: pyproject.toml tps_stubs/pyproject.toml
	$(PYTHON) -m venv $(VENV_PYRADPLAN)
	$(VENV_PYRADPLAN)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_PYRADPLAN)/bin/python -m pip install --quiet -e '.[pyradplan]' -e ./tps_stubs pytest hypothesis
	touch $@

pytest-pyradplan: $(VENV_PYRADPLAN)/.installed
	$(VENV_PYRADPLAN)/bin/python -c "import importlib.metadata as m; print('pyradplan', m.version('pyradplan'), 'pydantic', m.version('pydantic'))"
	REIRRAD_REQUIRE_PYRADPLAN=1 $(VENV_PYRADPLAN)/bin/python -m pytest -q tests/pyradplan

# The isotoxic search on pyRadPlan for three stub patients against exhaustive search (several minutes).
bench-pyradplan: $(VENV_PYRADPLAN)/.installed
	$(VENV_PYRADPLAN)/bin/python benchmarks/bench_opensource.py

# Benchmarks print figures (no assertions). dicompyler-core and pydicom are not project
# dependencies, so they live in a separate environment used only here. dicompyler-core 0.5.6
# imports pydicom.dicomio.read_file, which pydicom 3 removed: hence pydicom < 3.
VENV_BENCH ?= .venv-bench

$(VENV_BENCH)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV_BENCH)
	$(VENV_BENCH)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_BENCH)/bin/python -m pip install --quiet -e . dicompyler-core 'pydicom>=2.4,<3' matplotlib
	touch $@

bench: $(VENV_BENCH)/.installed $(STAMP) stubs
	$(VENV_BENCH)/bin/python benchmarks/bench_lq.py
	$(VENV_BENCH)/bin/python benchmarks/bench_geometry.py
	$(VENV_BENCH)/bin/python benchmarks/bench_dicom_dvh.py
	$(VENV_BENCH)/bin/python benchmarks/bench_discover.py
	$(PY) benchmarks/bench_search.py --no-noise
	$(PY) benchmarks/bench_eclipse_dose.py

# The product wheel as a clinical install gets it: no stand-ins inside, `reirrad constraints` works in a
# fresh environment, a stand-in command is refused in one line (install/dev/check_wheel.sh).
wheel-check:
	PYTHON=$(PYTHON) bash install/dev/check_wheel.sh

test: system-packages-test
	@$(MAKE) --no-print-directory lint typecheck pytest pytest-py38 pytest-pydicom3 pytest-pyradplan wheel-check

clean:
	rm -rf $(VENV) $(VENV38) .venv-bench $(VENV_PYDICOM3) $(VENV_PYRADPLAN) reirrad-demo .pytest_cache .mypy_cache .ruff_cache .hypothesis \
		tps_stubs/esapi/build install/eclipse/build
