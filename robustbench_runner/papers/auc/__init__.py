"""Paper "auc": Kunhardt, Deza, Poggio, "The Effects of Image Distribution and Task on
Adversarial Robustness", arXiv 2102.10534 (robustbench_runner/papers/auc/README.md). Its normalized AUC robustness
metric (eq. 1) over an FGSM eps sweep compares models across MNIST, CIFAR-10 and their Fusion
datasets (experiments: conf/experiment/auc/, tables: conf/table/auc/).

Where it lives:

- ``robustbench_runner/papers/auc/``: this package (``tables``: its table and figure builders);
- ``conf/experiment/auc/``: its experiments (``rbr-run experiment=auc/<name>``);
- ``conf/table/auc/``: its table and figure specs (``rbr-tables --table auc``);
- ``conf/attacks/auc.yaml``: its evaluation attack suite (``attacks=auc``);
- ``robustbench_runner/papers/auc/stages.yaml``: ``make reproduce-auc``;
- ``robustbench_runner/papers/auc/README.md``: the paper's equations, protocol and our choices;
- ``robustbench_runner/papers/auc/reproduce.md``: how to reproduce it, with our results;
- ``tests/papers/auc/``: its tests.
"""
