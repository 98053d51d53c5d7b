"""The paper layer: one bundle per paper, named by the paper's slug.

Each ``papers/<slug>/`` is a paper bundle (robustbench_runner/bundles.py, docs/new_paper.md):
everything that paper adds, in one folder - its Python code (table builders, analyses that
only it uses, its study CLI), ``conf/`` (a Hydra config root of its own: ``experiment/<slug>/``,
``scale/smoke/<slug>/`` overlays, ``attacks/<slug>.yaml``, analysis options), ``table_specs/``
(its table specs: rbr-tables' input, not choices of a run, so beside ``conf/``, off Hydra's
search path), ``stages.yaml`` (its reproduction, ``rbr-reproduce <slug>``) and ``README.md`` (its
docs page). Everything the papers share (attacks, schemes, data, models, evaluation, the table
core, the generic configs of the top-level ``conf/``) lives in the core packages. The slug is a
paper's only name: no letters, no seed numbers. A researcher's own paper is the same kind of
folder kept in their own repository (``RBR_BUNDLES`` or an entry point).

Each package's docstring ends with a "Where it lives:" list of that paper's places;
tests/papers/test_paper_layout.py checks that the list names every place and that each exists.
"""

#: every paper's slug, in the project's order (the bundles are found by a scan of this package;
#: tests/papers/test_paper_layout.py checks that the scan finds exactly these)
SLUGS = ("prs", "irat", "samplerob", "auc", "vir")
