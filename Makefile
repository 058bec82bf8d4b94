# Every target that needs Python creates or reuses .venv in the repo root, so each README
# command works on a fresh machine. The stamp is redone when pyproject.toml changes; one venv
# (glandseg[dev,book]) serves the tests, the demo and the book.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.glandseg-installed
PYTEST := $(PY) -m pytest
CHROMIUM ?= chromium

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

.PHONY: help venv test test-fast demo book check-book bench clean

help:
	@echo "make book       build the companion book (runs its pages): _build/html/index.html"
	@echo "make test       full test suite (TensorFlow, then model/loss tests on JAX), then the book and its browser check"
	@echo "make test-fast  skip tests marked slow"
	@echo "make demo       whole pipeline on synthetic data (< 3 min), figure in demo/"
	@echo "make check-book open every page of the built book in headless Chromium (installs chromium if missing)"
	@echo "make bench      glandseg vs segmentation-models-pytorch on this CPU (own venv; needs an idle machine)"
	@echo "make venv       create .venv and install glandseg[dev,book]"
	@echo "make clean      remove demo output, the built book and caches"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,book]'
	touch $(STAMP)

venv: $(STAMP)

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
