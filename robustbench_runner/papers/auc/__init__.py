"""Paper "auc": Kunhardt, Deza, Poggio, "The Effects of Image Distribution and Task on
Adversarial Robustness", arXiv 2102.10534 (docs/papers/auc.md). Its normalized AUC robustness
metric (eq. 1) over an FGSM eps sweep compares models across MNIST, CIFAR-10 and their Fusion
datasets (experiments: conf/experiment/auc/, tables: conf/table/auc/)."""
