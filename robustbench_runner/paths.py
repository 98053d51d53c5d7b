"""Where the package's files are: the config folder ``conf/`` that rbr-run composes and
rbr-tables reads (``conf/table/**``).

In a source checkout ``robustbench_runner/conf`` is a symbolic link to the top-level ``conf/``
(the layout the project documents); the wheel build follows the link and ships the YAML files
as package data (``[tool.setuptools.package-data]`` in pyproject.toml), so an installed
package, editable or not, finds its configs through its own location, never through the
current directory.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

from .errors import UserError


@cache
def conf_dir() -> Path:
    """The absolute path of the config folder shipped with the package."""
    package = Path(str(files("robustbench_runner")))
    # the package's own copy (a wheel) or link (a checkout); a checkout whose file system kept
    # the link as a plain file (git with core.symlinks=false) falls back to the top-level conf/
    for candidate in (package / "conf", package.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate.resolve()
    raise UserError(
        f"the config folder is missing: neither {package / 'conf'} nor {package.parent / 'conf'} holds config.yaml",
        fix="reinstall the package (pip install robustbench_runner), or run from a checkout that has conf/",
    )
