"""Paper "prs": the PRS ratio (populated region set) and adversarial robustness, arXiv
2207.03400 (README.md). It trains CNN-6 / VGG-16 / ResNet-18 candidates on MNIST,
Fashion-MNIST and CIFAR-10 and relates the PRS ratio and the denseness of the decision regions
to robust accuracy (experiments: conf/experiment/prs/, tables: table_specs/).

Where it lives:

- ``robustbench_runner/papers/prs/``: this bundle; paths below without ``robustbench_runner/`` or ``tests/`` are inside it.
  The package (``analyses``: the ``prs``, ``denseness`` and
  ``inclusion_*`` checkpoint analyses; ``metrics``: PRS ratio, inclusion ratio, sparsity, cosine
  similarity; ``denseness``: D(X, K); ``tables``: its table builders);
- ``conf/experiment/prs/``: its experiments (``rbr-run experiment=prs/<name>``);
- ``conf/scale/smoke/prs/``: the smoke-scale overlay of each experiment;
- ``table_specs/``: its table and figure specs (ids ``prs/<path there>``, ``rbr-tables --table prs``; beside ``conf/``, off Hydra's search path);
- ``conf/attacks/prs.yaml``: its evaluation attack suite (``attacks=prs``);
- ``conf/analysis/prs.yaml``, ``conf/analysis/denseness.yaml``,
  ``conf/analysis/inclusion_fgsm.yaml``, ``conf/analysis/inclusion_pgd20.yaml``: its analyses
  (``analysis=[prs,denseness]``);
- ``stages.yaml``: its reproduction stages (``rbr-reproduce prs``, ``make reproduce-prs``);
- ``README.md``: the paper's equations, protocol and our choices;
- ``reproduce.md``: how to reproduce it, with our results;
- ``tests/papers/prs/``: its tests.
"""
