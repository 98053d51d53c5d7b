"""Paper "irat": "Revisiting Instance-Reweighted Adversarial Training" (anonymous, ICLR 2023
submission, OpenReview ALbEpTC4hBp; robustbench_runner/papers/irat/README.md). It reweights the adversarial loss of
each training point by its margin (MAIL, WMMR and their margin-ratio variants) and compares
them with AT, GAIRAT and EWAT (experiments: conf/experiment/irat/, tables: conf/table/irat/).

Where it lives:

- ``robustbench_runner/papers/irat/``: this package (``margins``: the ``margins`` checkpoint
  analysis (per-sample margin, incorrect rate, similarity); ``tables``: its table builders);
- ``conf/experiment/irat/``: its experiments (``rbr-run experiment=irat/<name>``);
- ``conf/table/irat/``: its table and figure specs (``rbr-tables --table irat``);
- ``conf/attacks/irat.yaml``: its evaluation attack suite (``attacks=irat``);
- ``conf/analysis/margins.yaml``: its analysis (``analysis=[margins]``);
- ``robustbench_runner/papers/irat/stages.yaml``: ``make reproduce-irat``;
- ``robustbench_runner/papers/irat/README.md``: the paper's equations, protocol and our choices;
- ``robustbench_runner/papers/irat/reproduce.md``: how to reproduce it, with our results;
- ``tests/papers/irat/``: its tests.
"""
