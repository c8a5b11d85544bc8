# calmline: `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.calmline-installed
DEMO_CALL := fixtures/escalation.flac

.PHONY: demo test setup fixtures bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/install-system-deps
	./scripts/install-system-deps
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/calmline replay $(DEMO_CALL) --transcript

test: $(STAMP)
	./scripts/install-system-deps --test
	$(BIN)/python -m pytest -q

fixtures: $(STAMP)
	./scripts/install-system-deps --fixtures
	$(BIN)/python fixtures/make_fixtures.py

bench: $(STAMP)
	$(BIN)/python benchmarks/frontend.py

clean:
	rm -rf $(VENV) .pytest_cache
