"""Paper "irat": "Revisiting Instance-Reweighted Adversarial Training" (anonymous, ICLR 2023
submission, OpenReview ALbEpTC4hBp; README.md). It reweights the adversarial loss of
each training point by its margin (MAIL, WMMR and their margin-ratio variants) and compares
them with AT, GAIRAT and EWAT (experiments: conf/experiment/irat/, tables: table_specs/).

Where it lives:

- ``robustbench_runner/papers/irat/``: this bundle; paths below without ``robustbench_runner/`` or ``tests/`` are inside it.
  The package (``margins``: the ``margins`` checkpoint
  analysis (per-sample margin, incorrect rate, similarity); ``tables``: its table builders);
- ``conf/experiment/irat/``: its experiments (``rbr-run experiment=irat/<name>``);
- ``conf/scale/smoke/irat/``: the smoke-scale overlay of each experiment;
- ``table_specs/``: its table and figure specs (ids ``irat/<path there>``, ``rbr-tables --table irat``; beside ``conf/``, off Hydra's search path);
- ``conf/attacks/irat.yaml``: its evaluation attack suite (``attacks=irat``);
- ``conf/analysis/margins.yaml``: its analysis (``analysis=[margins]``);
- ``stages.yaml``: its reproduction stages (``rbr-reproduce irat``, ``make reproduce-irat``);
- ``README.md``: the paper's equations, protocol and our choices;
- ``reproduce.md``: how to reproduce it, with our results;
- ``tests/papers/irat/``: its tests.
"""
