# Every target that needs Python creates or reuses .venv in the repo root, so each README
# command works on a fresh machine. One venv (glandseg[dev,book]) serves the tests, the demo and
# the book. By default it is installed from requirements.lock: every package at the version the
# run records were made with, each file checked against its sha256 hash (Python 3.11, Linux
# x86_64). `make venv LOCK=none` (and LOCK=none on every later make command, or `export
# LOCK=none`) installs pyproject.toml's loose ranges instead, the newest releases they allow.
# The stamp is redone when pyproject.toml or the lock changes.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(or $(shell command -v python3.11 2>/dev/null),python3)
endif
VENV ?= .venv
PY := $(VENV)/bin/python
LOCK_FILE := requirements.lock
LOCK ?= $(LOCK_FILE)
PYTEST := $(PY) -m pytest
CHROMIUM ?= chromium

# The lock is made by uv (pinned here) in a small venv of its own, for glandseg's runtime, dev
# and book requirements on CPython 3.11.5+ / manylinux_2_28 x86_64 (the oldest 3.11 that every
# locked release supports), with the sha256 of every file PyPI has for each pinned release.
# `make lock` keeps the versions already in the lock and only adds or drops what pyproject.toml
# changed; `make lock LOCK_ARGS=--upgrade` (or `--upgrade-package keras`) moves to newer releases.
# Its first version was seeded with the .venv of the committed records (pip freeze as -c
# constraints), so lock and records agree.
UV_VERSION := 0.13.8
TOOLS := .venv-tools
LOCK_PYTHON := 3.11.5
LOCK_ARGS ?=
# Offline classroom: `make wheelhouse` beforehand puts every locked file (wheels for CPython 3.11
# on manylinux x86_64), glandseg's build requirements and a wheel of glandseg in wheelhouse/;
# `make venv OFFLINE=1` installs from there without a network, glandseg itself editable from the
# checkout (so the notebooks find the checkout's results/ and models/).
BUILD_REQUIRES := "setuptools>=77" wheel
WHEELHOUSE ?= wheelhouse
OFFLINE ?=
WHEEL_PLATFORMS := $(foreach v,28 27 26 25 24 23 22 21 20 19 18 17 12 5,--platform manylinux_2_$(v)_x86_64) \
	--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64

ifeq ($(LOCK),none)
STAMP := $(VENV)/.glandseg-installed-loose
STAMP_DEPS := pyproject.toml
else
STAMP := $(VENV)/.glandseg-installed
STAMP_DEPS := pyproject.toml $(LOCK)
endif

# The GlaS data are never in the repository. Where GLANDSEG_DATA is unset, a copy beside the
# checkout (../shared/data/glas, where CI keeps one) serves the tests and the book's prediction
# figures; without either, those tests skip and the book says the data are missing.
ifeq ($(origin GLANDSEG_DATA),undefined)
ifneq ($(wildcard ../shared/data/glas/Grade.csv),)
export GLANDSEG_DATA := $(abspath ../shared/data/glas)
endif
endif

BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.glandseg-bench-installed

.PHONY: help venv lock wheelhouse test test-fast demo book check-book workshop-notebook bench clean

help:
	@echo "make book       build the companion book (runs its pages): _build/html/index.html"
	@echo "make test       full test suite (TensorFlow, then model/loss tests on JAX), then the book and its browser check"
	@echo "make test-fast  skip tests marked slow"
	@echo "make demo       whole pipeline on synthetic data (< 3 min), figure in demo/"
	@echo "make check-book open every page of the built book in headless Chromium (installs chromium if missing)"
	@echo "make workshop-notebook  execute the student notebook at the workshop preset for the book (trains: ~15 min)"
	@echo "make bench      glandseg vs segmentation-models-pytorch on this CPU (own venv; needs an idle machine)"
	@echo "make venv       create .venv with glandseg[dev,book] at the versions of requirements.lock (hash-checked)"
	@echo "make venv LOCK=none  the same from pyproject.toml's loose ranges (give LOCK=none to later make commands too)"
	@echo "make lock       regenerate requirements.lock with uv (keeps its versions; LOCK_ARGS=--upgrade for newer ones)"
	@echo "make wheelhouse download every locked file and a glandseg wheel into wheelhouse/ (then: make venv OFFLINE=1)"
	@echo "make clean      remove demo output, the built book and caches"

$(STAMP): $(STAMP_DEPS)
ifneq ($(LOCK),none)
	@test -x $(PY) || $(PYTHON) -c 'import sys; sys.exit(sys.version_info[:3] < (3, 11, 5) or sys.version_info[:2] != (3, 11))' || \
	  { echo "$(LOCK) is for Python 3.11.5+ ($(PYTHON) is $$($(PYTHON) -V 2>&1)): make venv PYTHON=python3.11, or LOCK=none for pyproject.toml's ranges"; exit 1; }
endif
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
ifeq ($(LOCK),none)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,book]'
else
	@$(PY) -c 'import sys; sys.exit(sys.version_info[:3] < (3, 11, 5) or sys.version_info[:2] != (3, 11))' || \
	  { echo "$(LOCK) is for Python 3.11.5+ (this venv has $$($(PY) -V)): make venv PYTHON=python3.11, or LOCK=none for pyproject.toml's ranges"; exit 1; }
ifeq ($(OFFLINE),)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
else
	$(PY) -m pip install --quiet --no-index --find-links $(WHEELHOUSE) --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-index --find-links $(WHEELHOUSE) --no-deps -e .
endif
endif
	rm -f $(VENV)/.glandseg-installed $(VENV)/.glandseg-installed-loose
	touch $(STAMP)

venv: $(STAMP)

$(TOOLS)/bin/uv:
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet uv==$(UV_VERSION)

lock: $(TOOLS)/bin/uv
	UV_PYTHON_DOWNLOADS=never $(TOOLS)/bin/uv pip compile pyproject.toml --extra dev --extra book --python-version $(LOCK_PYTHON) \
	  --python-platform x86_64-manylinux_2_28 --generate-hashes $(LOCK_ARGS) -o $(LOCK_FILE) >/dev/null

# Every locked file for the lock's target (named explicitly, not taken from this machine), checked
# against its hash, and glandseg's own wheel; uses the tools venv's pip, not .venv.
wheelhouse: $(LOCK_FILE) $(TOOLS)/bin/uv
	$(TOOLS)/bin/python -m pip download --quiet --require-hashes --no-deps --only-binary=:all: \
	  $(WHEEL_PLATFORMS) --python-version $(LOCK_PYTHON) --implementation cp --abi cp311 \
	  -r $(LOCK_FILE) -d $(WHEELHOUSE)
	$(TOOLS)/bin/python -m pip download --quiet --only-binary=:all: -d $(WHEELHOUSE) $(BUILD_REQUIRES)
	rm -f $(WHEELHOUSE)/glandseg-*.whl
	$(TOOLS)/bin/python -m pip wheel --quiet --no-deps -w $(WHEELHOUSE) .

test: $(STAMP)
	KERAS_BACKEND=tensorflow $(PYTEST) --durations=15 -m "not book"
	KERAS_BACKEND=jax $(PYTEST) tests/test_model.py tests/test_losses.py tests/test_train.py tests/test_predict.py tests/test_inference.py -k "not resumes and not reproduces_a_glas_run"
	$(MAKE) book
	$(MAKE) check-book

test-fast: $(STAMP)
	KERAS_BACKEND=tensorflow $(PYTEST) -m "not slow and not book"

demo: $(STAMP)
	$(VENV)/bin/glandseg demo --out demo

# The book's pages are executed at every build (they read results/, they never train).
book: $(STAMP)
	KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=2 $(VENV)/bin/jupyter-book build . --all -W -n --keep-going
	test -f _build/html/index.html

# Debian's chromium, driven by Python playwright (no browser download); needs `make book` first.
check-book: $(STAMP)
	command -v $(CHROMIUM) >/dev/null || (apt-get update && apt-get install -y chromium)
	GLANDSEG_REQUIRE_BOOK=1 $(PYTEST) -m book tests/test_book.py

# The Workshop chapter shows this committed execution of notebooks/workshop.py at the workshop
# preset (make book never trains). It runs in build/workshop-notebook, so the student's run
# folder (my-runs/) stays out of the checkout; needs the GlaS data (GLANDSEG_DATA, relative to
# the checkout or absolute) and an otherwise idle CPU, since the page reports the training time.
workshop-notebook: $(STAMP)
	rm -rf build/workshop-notebook && mkdir -p build/workshop-notebook
	$(VENV)/bin/jupytext --to ipynb -o build/workshop-notebook/workshop.ipynb notebooks/workshop.py
	cd build/workshop-notebook && $(if $(GLANDSEG_DATA),GLANDSEG_DATA=$(abspath $(GLANDSEG_DATA))) KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=2 \
	  ../../$(VENV)/bin/papermill workshop.ipynb executed.ipynb -p verbose 2
	$(PY) -c 'from glandseg.report.workshop import strip_widgets; strip_widgets("build/workshop-notebook/executed.ipynb")'
	cp build/workshop-notebook/executed.ipynb book/workshop-notebook.ipynb

# The benchmark venv holds torch as well as TensorFlow and JAX; the test venv stays lean.
$(BENCH_STAMP): pyproject.toml
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# Not part of make test: it needs an idle machine. Writes benchmarks/results/<date>-<machine>.json
# and regenerates the README's performance table from the newest record.
bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/bench.py
	$(BENCH_VENV)/bin/python benchmarks/readme_table.py

clean:
	rm -rf demo _build .pytest_cache .hypothesis build *.egg-info
