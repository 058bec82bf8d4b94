# Every target that needs Python creates or reuses .venv in the repo root, so each README
# command works on a fresh machine. The stamp is redone when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.glandseg-installed
PYTEST := $(PY) -m pytest

.PHONY: help venv test test-fast demo clean

help:
	@echo "make demo       whole pipeline on synthetic data (< 3 min), figure in demo/"
	@echo "make test       full test suite (TensorFlow, then model/loss tests on JAX)"
	@echo "make test-fast  skip tests marked slow"
	@echo "make venv       create .venv and install glandseg[dev]"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	KERAS_BACKEND=tensorflow $(PYTEST) --durations=15
	KERAS_BACKEND=jax $(PYTEST) tests/test_model.py tests/test_losses.py tests/test_train.py -k "not resumes"

test-fast: $(STAMP)
	KERAS_BACKEND=tensorflow $(PYTEST) -m "not slow"

demo: $(STAMP)
	$(VENV)/bin/glandseg demo --out demo

clean:
	rm -rf demo .pytest_cache .hypothesis build *.egg-info
