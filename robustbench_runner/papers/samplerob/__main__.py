"""``python -m robustbench_runner.papers.samplerob`` (= ``rbr-samplerob``): see
:mod:`robustbench_runner.papers.samplerob.cli`."""

from .cli import main

main()
