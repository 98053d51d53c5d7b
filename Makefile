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
# `make test` runs the fast suite in TEST_WORKERS processes (pytest-xdist; tests/conftest.py gives
# each one torch thread): 2 fills a 2-core CI machine. TEST_WORKERS=auto: one per core; 0: serial.
# --dist loadscope: a module's tests share one worker, so a module-scoped fixture (a trained run) is built once.
TEST_WORKERS ?= 2
# the end-to-end tests `make test-gpu` runs again with RBR_TEST_DEVICE=cuda (device=cuda in tests/rbr_testing.TINY)
GPU_E2E_TESTS := tests/test_execute.py tests/test_run_safety.py tests/test_warmup.py

# Paper reproductions: `make reproduce-<slug>` runs the stages of that paper bundle
# (robustbench_runner/papers/<slug>/stages.yaml, or a bundle attached with RBR_BUNDLES) through
# rbr-reproduce. SCALE=smoke|paper, LAUNCHER=local|joblib|slurm|submitit_local, WARMUP=shared|none
# (papers irat and vir train each shared warm-up prefix once, docs/warmup.md).
# Data: DATA=<folder holding the real datasets> (else $$RBR_DATA or ./data). At smoke scale
# without DATA, digits-derived stand-ins in the real file formats are written and used, into
# sweeps named *_standin so they never mix with real-data runs (tables say so).
SCALE ?= smoke
LAUNCHER ?= local
WARMUP ?= shared
DATA ?=
STANDIN := outputs/standin_data
REPRODUCE = $(BIN)/rbr-reproduce --scale $(SCALE) --launcher $(LAUNCHER) --warmup $(WARMUP) $(if $(DATA),--data $(DATA))

.DEFAULT_GOAL := help
.PHONY: help install demo test test-slow test-gpu lint format bench bench-peers dist clean reproduce-all reproduce-list standin-data

help: ## list the targets
	@grep -hE '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-20s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e ".[dev,joblib,slurm,mnist_sample,robustbench,tensorboard,mlflow]"
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the package with its dev extras

demo: $(STAMP) ## run the default experiment (CNN-6 on scikit-learn's digits, on a CPU)
	$(BIN)/rbr-run
	@echo "outputs: outputs/runs/digits-cnn6-standard-s0 (run.log, metrics.csv, curves.png, ckpt/)"
	@echo "next: source $(VENV)/bin/activate   (puts rbr-run, rbr-tables, rbr-report on the PATH; README Quickstart)"

test: $(STAMP) ## run the fast test suite (CPU; slow and GPU tests deselected)
	$(BIN)/python -m pytest -q -m "not slow and not gpu" -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

test-slow: $(STAMP) ## run the slow tests too (launchers, larger runs)
	$(BIN)/python -m pytest -q -m "not gpu" $(PYTEST_ARGS)

test-gpu: $(STAMP) ## GPU tests, the end-to-end tests on CUDA, then scripts/gpu_check.sh (needs CUDA; writes gpu_check.csv)
	$(BIN)/python -m pytest -q -m gpu $(PYTEST_ARGS)
	RBR_TEST_DEVICE=cuda $(BIN)/python -m pytest -q -m "not slow and not gpu" $(GPU_E2E_TESTS) $(PYTEST_ARGS)
	PYTHON=$(BIN)/python scripts/gpu_check.sh

lint: $(STAMP) ## ruff
	$(BIN)/ruff check robustbench_runner tests scripts

format: $(STAMP) ## ruff format
	$(BIN)/ruff format robustbench_runner tests scripts

bench: $(STAMP) ## run the benchmarks (ratios against in-run references; bench_gpu.py runs in test-gpu)
	for s in scripts/bench_*.py; do [ $$s = scripts/bench_gpu.py ] && continue; echo "== $$s"; $(BIN)/python $$s || exit 1; done

bench-peers: $(STAMP) ## our attacks vs torchattacks, ART, adv-lib, foolbox (peers in .venv-bench, --no-deps)
	test -x .venv-bench/bin/python || $(BIN)/python scripts/bench_peers.py --setup
	.venv-bench/bin/python scripts/bench_peers.py

dist: $(STAMP) ## build the wheel into dist/ (conf/ ships inside it: pip install dist/*.whl works anywhere)
	$(BIN)/python -m pip wheel . --no-deps --no-build-isolation -w dist

clean: ## remove outputs, caches, build files and the virtualenv
	rm -rf outputs multirun .pytest_cache .ruff_cache $(VENV) *.egg-info build dist
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

$(STANDIN)/STANDIN.txt: | $(STAMP)
	$(BIN)/python -m robustbench_runner.data.standin $(STANDIN)

standin-data: $(STANDIN)/STANDIN.txt ## write the digits-derived stand-in datasets (smoke reproductions)

reproduce-list: $(STAMP) ## list the paper bundles `make reproduce-<slug>` can run (with their stage counts)
	$(BIN)/rbr-reproduce --list

reproduce-all: $(STAMP) ## reproduce every paper's tables (SCALE, LAUNCHER, WARMUP, DATA as above)
	$(REPRODUCE) all

reproduce-%: $(STAMP) ## reproduce-<slug>: one paper's stages, e.g. make reproduce-prs SCALE=smoke (see reproduce-list)
	$(REPRODUCE) $*

-include mk/*.mk
