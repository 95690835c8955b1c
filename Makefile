# Thin wrappers: every target goes through tasks.py, which needs only Python 3.11+.
PYTHON ?= python3

.PHONY: setup demo test lint bench
setup:
	$(PYTHON) tasks.py setup
demo:
	$(PYTHON) tasks.py demo
test:
	$(PYTHON) tasks.py test
lint:
	$(PYTHON) tasks.py lint
bench:
	$(PYTHON) tasks.py bench
