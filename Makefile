# Every target sets up .venv itself: on a fresh clone `make serve` and `make test` are the only
# commands needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 4010
SEED ?= 0
# Keys the fake accepts, one tenant each; API_KEYS="*" accepts any key.
API_KEYS ?= specfake-key-1 specfake-key-2

.PHONY: install serve test lint typecheck contracts bench check clean soak

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/specfake serve --host 127.0.0.1 --port $(PORT) --seed $(SEED) $(foreach k,$(API_KEYS),--api-key "$(k)")

test: $(STAMP)
	$(BIN)/ruff check .
	$(MAKE) --no-print-directory typecheck
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

# mypy cannot follow the package-dir mapping (specfake.contracts lives in contracts/), so it checks
# a tree of symlinks laid out as the installed package. Rebuilt each run: new modules are seen.
TYPECHECK := build/typecheck
typecheck: $(STAMP)
	rm -rf $(TYPECHECK) && mkdir -p $(TYPECHECK)/specfake
	for entry in mock/specfake/*; do ln -s "$(CURDIR)/$$entry" $(TYPECHECK)/specfake/; done
	ln -s "$(CURDIR)/contracts" $(TYPECHECK)/specfake/contracts
	ln -s "$(CURDIR)/fixtures" $(TYPECHECK)/specfake/fixtures
	cd $(TYPECHECK) && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml \
		--cache-dir $(CURDIR)/build/mypy-cache -p specfake

# The contract harness on the fake itself: every built-in contract through `check server`
# (PROFILE=quick|thorough; started empty in a child process), the clean control's thorough profile
# on the demo world (minutes: too long for `make test`, which runs it quick), then the official SDK
# flows through `check client`. Reports land in build/check/.
PROFILE ?= quick
check: $(STAMP)
	mkdir -p build/check
	for c in humanloop sgp; do \
		$(BIN)/specfake check server --contract $$c --profile $(PROFILE) \
			--junit build/check/server-$$c.xml --report build/check/server-$$c.json || exit 1; \
	done
	$(BIN)/python -m pytest -q -m thorough tests/check/test_clean_control.py
	$(BIN)/specfake check client --contract humanloop --report build/check/client-humanloop.json \
		-- $(BIN)/python tests/check/clients/humanloop_flow.py
	$(BIN)/specfake check client --contract sgp --report build/check/client-sgp.json \
		-- $(BIN)/python tests/check/clients/sgp_flow.py

# Regenerate the contracts from the official SDKs (installed by the test extra).
contracts: $(STAMP)
	$(BIN)/python contracts/tools/build_humanloop.py
	$(BIN)/python contracts/tools/build_sgp.py
	$(BIN)/python contracts/tools/examples.py contracts/humanloop.yaml contracts/sgp.yaml

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis

# Issue 17's targets in one run (wrk): throughput and p99 against a framework-free ceiling, Prism and
# WireMock (npm, into build/bench-tools), memory and scale; BENCH_QUICK=1 for a short run.
bench: $(STAMP)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } \
		|| { echo "make bench needs wrk (apt-get install wrk)"; exit 2; }
	$(BIN)/python -m bench.run

# Mixed load (reads, writes, streams, injected faults) on a served fake for DURATION seconds; a
# line a minute (requests by class, unexpected errors, server RSS), exit 1 on any unexpected error.
DURATION ?= 600
soak: $(STAMP)
	DURATION=$(DURATION) $(BIN)/python -m bench.soak
