# The developer interface; CI calls `make test` through .ci/run.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# One stamp per install level: training only (demo), + dev tools (test, lint, type), + SB3 (bench).
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
PIP_INSTALL := $(BIN)/pip install --quiet -c constraints.txt

.PHONY: install demo test test-fast lint format type bench clean clean-runs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch is pinned through constraints.txt: 2.13.0 is the CPU build; an unpinned torch pulls CUDA.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(PIP_INSTALL) torch==2.13.0
	$(PIP_INSTALL) -e .
	touch $@

$(DEV_STAMP): $(STAMP)
	$(PIP_INSTALL) -e ".[dev,minatar,box2d]"
	touch $@

$(BENCH_STAMP): $(STAMP)
	$(PIP_INSTALL) -e ".[bench]"
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dqnlab train CartPole-v1 --preset cartpole
	@echo "dqnlab is installed in $(VENV): source $(BIN)/activate to put it on PATH (or call $(BIN)/dqnlab)"

# The suite runs on TEST_WORKERS processes (pytest-xdist): two use both cores of a CI machine; tests
# of one xdist group (the Ray ones, sharing one Ray instance) stay on one process.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

test: $(DEV_STAMP)
	$(PYTEST)

test-fast: $(DEV_STAMP)
	$(PYTEST) -m "not slow"

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(DEV_STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

type: $(DEV_STAMP)
	$(BIN)/mypy src/dqnlab

# dqnlab against Stable-Baselines3 on CartPole-v1, seeds 0-9 (about 10 minutes; BENCHMARKS.md)
bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/cartpole_vs_sb3.py solve --seeds 0-9

# Keeps runs/ and experiments/: the trained agents are the user's (clean-runs deletes runs/).
clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

clean-runs:
	rm -rf runs
