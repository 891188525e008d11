# The two commands a newcomer runs: `make example` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install example test unit e2e lint bench bench-quick clean

$(BIN)/clockwork: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/clockwork

## Install, then compile the example into examples/connected-services/docker-compose.yml.
example: install
	$(BIN)/clockwork build -C examples/connected-services
	$(BIN)/clockwork plan -C examples/connected-services

## Lint, then every test (end-to-end tests skip themselves when no Docker engine answers):
## the unit tests on two processes, then the end-to-end tests one at a time (they share the
## engine). Both always run; the target fails if either did.
test: install lint
	$(BIN)/python -m pytest -m "not e2e" -n 2; unit=$$?; \
	$(BIN)/python -m pytest -m e2e; e2e=$$?; \
	exit $$((unit || e2e))

unit: install
	$(BIN)/python -m pytest -m "not e2e"

e2e: install
	CLOCKWORK_E2E=required $(BIN)/python -m pytest -m e2e

lint: install
	$(BIN)/ruff check clockwork_compose tests bench
	$(BIN)/ruff format --check clockwork_compose tests bench

bench: install
	$(BIN)/python -m bench

bench-quick: install
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build dist *.egg-info
