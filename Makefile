# robustbench_runner: `make demo` and `make test` work on a fresh machine (Python 3.11 + pip).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch/torchvision pins this environment serves; override for another machine, e.g.
# `make install TORCH_SPEC="torch torchvision"`.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install demo test test-slow test-gpu lint format bench clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-20s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e ".[dev,joblib,slurm]"
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the package with its dev extras

demo: $(STAMP) ## run the default experiment (CNN-6 on scikit-learn's digits, CPU in ~3 min)
	$(BIN)/rbr-run
	@echo "outputs: outputs/runs/digits-cnn6-standard-s0 (metrics.csv, train_log.csv, ckpt/)"

test: $(STAMP) ## run the fast test suite (CPU; slow and GPU tests deselected)
	$(BIN)/python -m pytest -q -m "not slow and not gpu" $(PYTEST_ARGS)

test-slow: $(STAMP) ## run the slow tests too (launchers, larger runs)
	$(BIN)/python -m pytest -q -m "not gpu" $(PYTEST_ARGS)

test-gpu: $(STAMP) ## run the GPU tests (needs CUDA)
	$(BIN)/python -m pytest -q -m gpu $(PYTEST_ARGS)

lint: $(STAMP) ## ruff
	$(BIN)/ruff check robustbench_runner tests scripts

format: $(STAMP) ## ruff format
	$(BIN)/ruff format robustbench_runner tests scripts

bench: $(STAMP) ## run the benchmarks (ratios against in-run references)
	for s in scripts/bench_*.py; do echo "== $$s"; $(BIN)/python $$s || exit 1; done

clean: ## remove outputs, caches and the virtualenv
	rm -rf outputs multirun .pytest_cache .ruff_cache $(VENV) *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
