# perkbus — the two commands: `make run` and `make test`.
# The virtualenv's interpreter: the fastest build of python3's version on this machine
# (tools/pick_python.py, ADR 35); `make PYTHON=/path/to/python3.x` picks one yourself.
PYTHON ?= $(shell python3 tools/pick_python.py 2>/dev/null || echo python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV    := $(VENV)/.installed-dev

.PHONY: run test bench lint typecheck unit clean reset couch-server screenshots

$(BIN)/python:
	@python="$(PYTHON)"; echo "$$python -m venv $(VENV)"; "$$python" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## run: install, then start the whole system on embedded defaults with the demo tenant
run: $(STAMP)
	$(BIN)/perkbus up --demo

## test: install dev tools, then lint, type-check and run the whole suite (one worker per
## core, at most four: every test takes free ports and databases of its own)
test: $(DEV) lint typecheck couch-server
	$(BIN)/python -m pytest -n auto --maxprocesses=4

COUCH := tests/servers/couch

## couch-server: the CouchDB-API server the tenant documents tests start (npm, pinned)
couch-server: $(COUCH)/node_modules/.package-lock.json

$(COUCH)/node_modules/.package-lock.json: $(COUCH)/package-lock.json
	cd $(COUCH) && npm ci --no-audit --no-fund

## bench: a short `perkbus bench` (perkbus, classic, ceiling; hot and spread), under 2 minutes
bench: $(STAMP) /usr/bin/wrk
	$(BIN)/perkbus bench --short --scenario hot,spread

## screenshots: PNGs of the app's main screens (phone and desktop) in var/screenshots
screenshots: $(DEV) /usr/share/fonts/truetype/noto
	$(BIN)/perkbus screenshots --out var/screenshots

# Noto's Devanagari and Arabic faces: without them Hindi and Arabic render as boxes
/usr/share/fonts/truetype/noto:
	apt-get install -y fonts-noto-core

/usr/bin/wrk:
	apt-get install -y wrk

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV)
	$(BIN)/mypy

# the virtualenv and caches only: var/ holds the data and the keys that open it
clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# every byte of data, the master key with it (sealed codes cannot be opened again)
reset:
	@printf 'This deletes var/: the ledger, the catalogue, the events and the keys. Type yes: '; \
	read answer; [ "$$answer" = yes ] && rm -rf var && echo 'var/ deleted' || echo 'kept'
