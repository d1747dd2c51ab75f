# The two commands of the README: `make demo` (set up, then run the demo) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test
setup:
	bash tools/setup_env.sh

demo: setup
	$(PY) tools/demo.py

test: setup
	$(PY) -m pytest -q tests
