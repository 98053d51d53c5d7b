"""robustbench_runner: config-driven adversarial-robustness experiments.

Data flow: config (Hydra, ``conf/``) -> dataset (``data``), model (``models``), training
scheme (``schemes``), optimizer, attack suite (``attacks``) -> training loop that saves
checkpoints on an epoch grid (``train``) -> evaluation of every grid checkpoint
(``evaluate``) -> one tidy ``metrics.csv`` per run (``results``) -> ``rbr-tables``
aggregates many runs into the paper tables (``tables``).
"""

__version__ = "0.1.0"
