"""Paper "vir": Fakorede, Nirala, Atsague, Tian, "Vulnerability-Aware Instance Reweighting for
Adversarial Training", TMLR 2023, arXiv 2307.07167 (README.md). VIR weights each
point by its vulnerability and the adversarial prediction gap, in AT and TRADES (experiments:
conf/experiment/vir/, tables: table_specs/).

Where it lives:

- ``robustbench_runner/papers/vir/``: this bundle; paths below without ``robustbench_runner/`` or ``tests/`` are inside it.
  The package (``tables``: its table and figure builders);
- ``conf/experiment/vir/``: its experiments (``rbr-run experiment=vir/<name>``);
- ``conf/scale/smoke/vir/``: the smoke-scale overlay of each experiment;
- ``table_specs/``: its table and figure specs (ids ``vir/<path there>``, ``rbr-tables --table vir``; beside ``conf/``, off Hydra's search path);
- ``conf/attacks/vir.yaml``, ``conf/attacks/vir_blackbox.yaml``: its white-box and black-box
  evaluation attack suites (``attacks=vir``, ``attacks=vir_blackbox``);
- ``stages.yaml``: its reproduction stages (``rbr-reproduce vir``, ``make reproduce-vir``);
- ``README.md``: the paper's equations, protocol and our choices;
- ``reproduce.md``: how to reproduce it, with our results;
- ``tests/papers/vir/``: its tests.
"""
