"""Paper "samplerob": "Introducing Sample Robustness" (anonymous, ICLR 2021 submission,
OpenReview 8-sxWOto_iI; README.md). It scores each training point by its distance
to the nearest point of another label, trains on the most / least robust subsets and studies
neighbour models on them (experiments: conf/experiment/samplerob/, tables:
table_specs/).

Its study CLI, ``rbr-samplerob <command>`` (also ``python -m robustbench_runner.papers.samplerob``;
``robustbench_runner/papers/samplerob/stages.yaml`` calls it), runs the steps around the networks' ``rbr-run`` sweeps:

- ``prepare``: sample robustness R of every training (x) and test (t) sample, computed within
  its own set (``sample_robustness.py``), the L<n>/M<n> subset index files named as in the
  paper (``subsets.py``), class distributions (tables 1 and 10) and min/max of R (appendix
  E.1), written as a run-like study folder ``<out>/<dataset>-robustness/``;
- ``neighbors``: the scikit-learn models of the paper (1-NN on images, table 5; KNN regressor
  and random forest on ONP, tables 6-9) trained on each training (sub)set and scored on each
  test (sub)set, written as run folders that ``rbr-tables`` reads like any rbr-run run;
- ``select-best``: ResNet-56's "best weights" (lowest loss on t, appendix C.3) of the first
  training step, as ``ckpt/best_t_loss.pt`` for the second step (``init_from``).

Modules: ``sample_robustness`` (R, algorithms 1 and 2), ``subsets`` (L/M subsets, class
make-up, the trimmed mean), ``subset_eval`` (the ``subset_eval`` analysis: LOSS / ACC of a
checkpoint on every test (sub)set), ``paper`` (the paper's subset names, sizes and set sizes),
``rundir`` (run-like folders), ``prepare``, ``neighbors``, ``select_best``, ``keras_optim``
(Keras RMSprop with decay, Adam with conv-kernel L2, the ``_target_`` of the experiments'
optimizers), ``cli``.

Where it lives:

- ``robustbench_runner/papers/samplerob/``: this bundle; paths below without ``robustbench_runner/`` or ``tests/`` are inside it.
  The package (the modules above; ``tables``: its
  table builders);
- ``conf/experiment/samplerob/``: its experiments (``rbr-run experiment=samplerob/<name>``);
- ``conf/scale/smoke/samplerob/``: the smoke-scale overlay of each experiment;
- ``table_specs/``: its table and figure specs (ids ``samplerob/<path there>``, ``rbr-tables --table samplerob``; beside ``conf/``, off Hydra's search path);
- no attack suite of its own: its networks are judged on clean LOSS and ACC of the test
  (sub)sets (``attacks=none``);
- ``conf/analysis/subset_eval.yaml``: its analysis (``analysis=[subset_eval]``);
- ``stages.yaml``: its reproduction stages (``rbr-reproduce samplerob``, ``make reproduce-samplerob``);
- ``README.md``: the paper's equations, protocol and our choices;
- ``reproduce.md``: how to reproduce it, with our results;
- ``tests/papers/samplerob/``: its tests.
"""
