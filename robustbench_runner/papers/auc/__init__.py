"""Paper "auc": Kunhardt, Deza, Poggio, "The Effects of Image Distribution and Task on
Adversarial Robustness", arXiv 2102.10534 (README.md). Its normalized AUC robustness
metric (eq. 1) over an FGSM eps sweep compares models across MNIST, CIFAR-10 and their Fusion
datasets (experiments: conf/experiment/auc/, tables: table_specs/).

Where it lives:

- ``robustbench_runner/papers/auc/``: this bundle; paths below without ``robustbench_runner/`` or ``tests/`` are inside it.
  The package (``tables``: its table and figure builders);
- ``conf/experiment/auc/``: its experiments (``rbr-run experiment=auc/<name>``);
- ``conf/scale/smoke/auc/``: the smoke-scale overlay of each experiment;
- ``table_specs/``: its table and figure specs (ids ``auc/<path there>``, ``rbr-tables --table auc``; beside ``conf/``, off Hydra's search path);
- ``conf/attacks/auc.yaml``: its evaluation attack suite (``attacks=auc``);
- ``stages.yaml``: its reproduction stages (``rbr-reproduce auc``, ``make reproduce-auc``);
- ``README.md``: the paper's equations, protocol and our choices;
- ``reproduce.md``: how to reproduce it, with our results;
- ``tests/papers/auc/``: its tests.
"""
