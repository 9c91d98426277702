PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint run console bench clean teams-app constraints lowest wheel

# constraints.txt pins every package to the versions CI tested: installs are repeatable.
$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/firebell demo

test: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

run: $(STAMP)
	$(BIN)/firebell serve

console: $(STAMP)
	$(BIN)/firebell console

bench: $(STAMP)
	$(BIN)/pip install -q -c constraints.txt -e '.[bench]'
	$(BIN)/python -m bench

# After changing or upgrading a dependency in .venv: pin what is installed now.
constraints: $(STAMP)
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/python .ci/constraints.py

# The lowest versions pyproject allows, in a venv of their own (uv), against the fast tests.
lowest:
	PY=$(PY) .ci/lowest.sh

wheel: $(STAMP)
	$(BIN)/pip wheel -q --no-deps -w dist .

clean:
	rm -rf $(VENV) *.egg-info build dist .pytest_cache .mypy_cache .ruff_cache

teams-app: $(STAMP)
	$(BIN)/firebell teams package --out firebell-teams.zip
