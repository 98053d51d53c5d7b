"""Where the package's files are: the config folder ``conf/`` that rbr-run composes (the
table specs rbr-tables reads sit beside it, off Hydra's search path: ``robustbench_runner/table_specs/``,
:data:`robustbench_runner.tables.spec.TABLE_DIR`).

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


# -- names that become path components ------------------------------------------------------

#: The longest ``tag`` / ``sweep_name`` / zoo id (characters); a whole run name may be
#: :data:`MAX_RUN_NAME` characters and, in UTF-8, at most 255 bytes (most file systems' limit).
MAX_NAME = 100
MAX_RUN_NAME = 200
_NAME_MAX_BYTES = 255
#: Characters that are not allowed in a file name on every system an output folder may be
#: copied to (Windows, SMB shares), or that a shell / an HTML attribute treats specially.
RESERVED = '<>:"|?*'


def name_problem(text: str, max_len: int = MAX_NAME) -> str | None:
    """Why ``text`` cannot be one folder name under ``output_root`` (None when it can)."""
    if text in ("", "."):
        return "it is empty"
    if "/" in text or "\\" in text:
        return "it holds a path separator"
    if ".." in text:
        return "it holds '..'"
    if text[0] in "-.":
        return f"it starts with {text[0]!r} (read as an option, or a hidden file)"
    if not text.isprintable():
        bad = next(c for c in text if not c.isprintable())
        return f"it holds the control character {bad!r}"
    if text != text.strip():
        return "it starts or ends with a space"
    bad = sorted({c for c in text if c in RESERVED})
    if bad:
        return f"it holds {' '.join(bad)} (not allowed in file names on every system)"
    if len(text) > max_len:
        return f"it has {len(text)} characters (at most {max_len})"
    if len(text.encode("utf-8")) > _NAME_MAX_BYTES:
        return f"it has {len(text.encode('utf-8'))} bytes in UTF-8 (at most {_NAME_MAX_BYTES})"
    return None


def check_path_part(value, key: str, fix: str | None = None, max_len: int = MAX_NAME) -> str:
    """``value`` as one folder name under ``output_root``, or a one-line :class:`UserError`
    naming ``key``: not empty, no path separator, no ``..``, no leading ``-`` or ``.``,
    printable, none of :data:`RESERVED`, at most ``max_len`` characters (and 255 UTF-8 bytes).
    Every name that becomes a path component goes through here (``tag``, ``sweep_name``, the
    run name, zoo ids, table spec ids)."""
    text = "" if value is None else str(value)
    problem = name_problem(text, max_len)
    if problem:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise UserError(
            f"{key}={shown!r} cannot be a folder or file name under the output folder: {problem}",
            fix=fix or f"set {key}=<a plain name of letters, digits, '-', '_' or '.', e.g. {key}=run1>",
        )
    return text


#: The file ``robustbench_runner.data.standin`` writes into a data root it filled with
#: digits-derived stand-ins in the real file formats (smoke reproductions without the data).
STANDIN_MARKER = "STANDIN.txt"


def is_standin_root(root) -> bool:
    """True when the data folder ``root`` holds stand-in data (:data:`STANDIN_MARKER`)."""
    return bool(root) and (Path(str(root)) / STANDIN_MARKER).is_file()
