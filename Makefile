# Everything runs from a virtual environment in .venv, made on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

# `make install` (run by `make run`) links the command into BINDIR, a folder on most PATHs.
BINDIR ?= $(HOME)/.local/bin

.PHONY: run install test lint bench screenshot clean

$(BIN)/ctmaint: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/ctmaint
	mkdir -p "$(BINDIR)"
	ln -sfn "$(CURDIR)/$(BIN)/ctmaint" "$(BINDIR)/ctmaint"
	@case ":$$PATH:" in *":$(BINDIR):"*) echo "ctmaint is on your PATH: $(BINDIR)/ctmaint" ;; \
	  *) echo "ctmaint is linked as $(BINDIR)/ctmaint, but $(BINDIR) is not on your PATH:" \
	     "add it (export PATH=\"$(BINDIR):\$$PATH\") or run $(CURDIR)/$(BIN)/ctmaint" ;; esac

run: install
	$(BIN)/ctmaint build
	$(BIN)/ctmaint upcoming --days 31

test: $(BIN)/ctmaint
	$(BIN)/pytest -q

lint: $(BIN)/ctmaint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy ctmaint

# The README's picture of the status page, taken by the browser tests (needs Chromium).
screenshot: $(BIN)/ctmaint
	CTMAINT_BROWSER=1 CTMAINT_README_SCREENSHOT=$(CURDIR)/docs/status-page.png \
		$(BIN)/pytest -q tests/page -k phone

bench: $(BIN)/ctmaint
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
