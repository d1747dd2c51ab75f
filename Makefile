# The commands of the README: `make demo` (set up, then run the demo), `make test` (every test) and
# `make test-fast` (all but the tests marked slow).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-fast
setup:
	bash tools/setup_env.sh

demo: setup
	$(PY) tools/demo.py

test: setup
	$(PY) -m pytest -q tests

test-fast: setup
	$(PY) -m pytest -q -m "not slow" tests
