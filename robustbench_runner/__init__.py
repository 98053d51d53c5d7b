"""robustbench_runner: config-driven adversarial-robustness experiments.

Data flow: config (Hydra, ``conf/``) -> dataset (``data``), model (``models``), training
scheme (``schemes``), optimizer, attack suite (``attacks``) -> training loop that saves
checkpoints on an epoch grid (``train``) -> evaluation of every grid checkpoint
(``evaluate``) -> one tidy ``metrics.csv`` per run (``results``) -> ``rbr-tables``
aggregates many runs into the paper tables (``tables``).

A run (``execute``) is a training run (``train_run``) or an evaluation run (``eval_run``);
both evaluate checkpoints with ``checkpoint_eval``, write the checkpoint files of
``checkpoints`` (users' own files: ``user_checkpoints``) and own their run directory through
``run_dir`` (claim, config guard, overwrite, ``DONE``). Both are a ``loop.Loop`` with hooks
(``loop.Callback``; the built-in ones in ``callbacks``); the run folder's layout is
``results.RunFiles``; models, attacks and schemes register in a ``registry.Registry``.
"""

__version__ = "0.1.0"
