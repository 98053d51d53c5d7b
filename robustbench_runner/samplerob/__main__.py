"""``python -m robustbench_runner.samplerob``: see :mod:`robustbench_runner.samplerob.cli`."""

from .cli import main

main()
