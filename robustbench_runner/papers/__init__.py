"""The paper layer: one package per paper, named by the paper's slug.

Each ``papers/<slug>/`` holds what belongs to that paper alone (its table builders, analyses
that only it uses, its study CLI) beside ``conf/experiment/<slug>/``, ``conf/table/<slug>/``,
``conf/attacks/<slug>.yaml``, ``mk/<slug>.mk`` and ``docs/papers/<slug>.md``. Everything the
papers share (attacks, schemes, data, models, evaluation, the table core) lives in the core
packages. The slugs, in the order the project lists them: ``prs``, ``irat``, ``samplerob``,
``auc``, ``vir`` (docs/papers/README.md). The slug is a paper's only name: no letters, no seed
numbers.

Each package's docstring ends with a "Where it lives:" list of that paper's places;
tests/papers/test_paper_layout.py checks that the list names every place and that each exists.
"""

#: every paper's slug, in the project's order
SLUGS = ("prs", "irat", "samplerob", "auc", "vir")
