# Everything runs from a virtual environment in .venv, made on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/ctmaint: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/ctmaint
	$(BIN)/ctmaint build
	$(BIN)/ctmaint upcoming --days 31

test: $(BIN)/ctmaint
	$(BIN)/pytest -q

lint: $(BIN)/ctmaint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy ctmaint

bench: $(BIN)/ctmaint
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
