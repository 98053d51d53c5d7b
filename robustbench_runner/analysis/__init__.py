"""Per-checkpoint analyses of trained networks and of datasets.

Modules (import them directly; this package imports nothing so that each one stays usable
on its own):

- ``features``: one forward pass per batch that collects everything the PRS analysis needs
  (penultimate features, packed activation patterns, predictions, per-ReLU zero counts).
- ``prs``: paper A (arXiv 2207.03400) metrics: PRS ratio, inclusion ratio and
  inclusion/exclusion groups, sparsity, cosine similarity of the final layer.
- ``denseness``: denseness D(X, K) of the penultimate feature space (paper A, appendix D).
- ``sample_robustness``: sample robustness R(x) of paper C.
- ``subsets``: L<n> / M<n> robustness subsets and the trimmed mean of paper C.
"""
