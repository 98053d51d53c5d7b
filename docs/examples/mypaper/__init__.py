"""Paper "mypaper": an example paper bundle kept outside robustbench_runner (docs/new_paper.md).

Attach it with ``RBR_BUNDLES=<this folder>``; then ``rbr-run experiment=mypaper/main``,
``rbr-tables --table mypaper`` and ``rbr-reproduce mypaper`` find it. Its code is importable
as ``mypaper`` (robustbench_runner puts this folder's parent on ``sys.path``).
"""
