# Quick start:  make demo   (set up, then run nmrpeak on the shipped examples)
#               make test   (set up, then run the test suite)
#               make install (optional: link nmrpeak into $(PREFIX)/bin, on your PATH)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= cpu,plot
PREFIX ?= $(HOME)/.local

.PHONY: demo test setup setup-dev install lint completions clean

$(BIN)/nmrpeak: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

$(VENV)/.dev-installed: $(BIN)/nmrpeak
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS),dev]"
	touch $@

setup: $(BIN)/nmrpeak

setup-dev: $(VENV)/.dev-installed

# The command keeps running from .venv; only a link is placed on the PATH.
install: setup
	mkdir -p $(PREFIX)/bin
	ln -sf $(abspath $(BIN)/nmrpeak) $(PREFIX)/bin/nmrpeak
	@case ":$$PATH:" in *":$(PREFIX)/bin:"*) echo "nmrpeak -> $(PREFIX)/bin/nmrpeak";; \
	  *) echo "linked $(PREFIX)/bin/nmrpeak; add it to your PATH: export PATH=\"$(PREFIX)/bin:\$$PATH\"";; esac

demo: setup
	$(BIN)/nmrpeak predict examples/molecules.smi
	$(BIN)/nmrpeak library default examples/molecules.smi --moses 2000
	$(BIN)/nmrpeak elucidate examples/spectra.csv -k 3 --report reports/

test: setup-dev
	$(BIN)/python -m pytest -q

lint: setup-dev
	$(BIN)/ruff check nmrpeak_cli tests benchmarks scripts
	$(BIN)/ruff format --check nmrpeak_cli tests benchmarks scripts

completions: setup
	PATH=$(BIN):$$PATH scripts/gen_completions.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache reports
