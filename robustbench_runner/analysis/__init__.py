"""The per-checkpoint analysis machinery that every paper's analyses share.

Modules (import them directly; this package imports nothing so that each one stays usable
on its own):

- ``checkpoint``: the base class :class:`~.checkpoint.CheckpointAnalysis` and the
  :class:`~.checkpoint.AnalysisContext` an analysis reads (model, data, shared features).
- ``features``: one forward pass per batch that collects penultimate features, packed
  activation patterns, predictions and per-ReLU zero counts, shared by the analyses of a
  checkpoint.

The analyses themselves belong to the paper that uses them (config group ``analysis``,
``conf/analysis/*.yaml`` of the paper's bundle):

- ``papers/prs/analyses.py`` (``prs``, ``denseness``, ``inclusion_fgsm``,
  ``inclusion_pgd20``) with the metrics of ``papers/prs/metrics.py`` and
  ``papers/prs/denseness.py``;
- ``papers/irat/margins.py`` (``margins``);
- ``papers/samplerob/subset_eval.py`` (``subset_eval``) with
  ``papers/samplerob/sample_robustness.py`` and ``papers/samplerob/subsets.py``.
"""
