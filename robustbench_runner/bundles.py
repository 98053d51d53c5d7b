"""Paper bundles: everything one paper adds, in one folder, found wherever it is kept.

A bundle is a folder named by the paper's slug that holds

- ``conf/``: a Hydra config root of its own, laid out like the package's ``conf/`` (groups
  ``experiment/<slug>/``, ``scale/smoke/<slug>/`` overlays, ``attacks/<slug>.yaml``,
  ``analysis/``, ``warmup/``, ...); it is appended to Hydra's search path, so
  ``rbr-run experiment=<slug>/<name>`` composes it with the package's own configs;
- ``table_specs/``: its table specs (``<id>.yaml``, table id ``<slug>/<id>``, :mod:`.tables.spec`).
  They are rbr-tables' input, not choices of a run, so they sit beside ``conf/``, off Hydra's
  search path (``rbr-run --help`` lists only what a run composes). A bundle that still keeps
  them in the old place, ``conf/table/``, gets one warning line from rbr-tables
  (:func:`bundle_table_dirs`);
- ``stages.yaml``: its reproduction stages (``rbr-reproduce <slug>``, :mod:`.reproduce`);
- ``tables.py`` (optional): its table builders, registered with ``@builder`` (:mod:`.tables.registry`);
- ``README.md``: its docs page.

Bundles are found three ways (:func:`bundles`), in this order:

1. the packages under :mod:`robustbench_runner.papers` (the five papers the project ships);
2. the Python entry points of group ``robustbench_runner.bundles`` (an installed package of
   one's own: ``[project.entry-points."robustbench_runner.bundles"] mypaper = "mypaper"``);
3. the environment variable ``RBR_BUNDLES``: folders, separated by ``os.pathsep``, of bundles
   kept anywhere (a researcher's own repository), e.g. ``RBR_BUNDLES=~/code/mypaper``.
   Such a folder that is a Python package (it has ``__init__.py``) is importable by its name:
   its parent folder is put on ``sys.path``, so ``_target_: mypaper.analyses.X`` works.

A slug found twice is an error (one paper, one name). :func:`attach` registers
:class:`BundleSearchPath`, a Hydra ``SearchPathPlugin`` registered in code (no
``hydra_plugins`` package), so every composition in the process sees the bundles' configs.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import re
import sys
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

from .errors import UserError

ENV_VAR = "RBR_BUNDLES"
ENTRY_POINT_GROUP = "robustbench_runner.bundles"
SLUG_RE = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Bundle:
    """One paper bundle: its slug, its folder, where it was found, and the Python module
    (importable name) of its code, if it has any."""

    slug: str
    root: Path
    source: str  # "package" | "entry point" | "RBR_BUNDLES"
    module: str | None

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def stages(self) -> Path:
        return self.root / "stages.yaml"

    @property
    def table_dir(self) -> Path:
        """Its table specs, ``<bundle>/table_specs/`` (ids ``<slug>/<path there>``)."""
        return self.root / "table_specs"

    @property
    def old_table_dir(self) -> Path:
        """Where specs were kept before (on Hydra's search path): ``conf/table/``, now unread."""
        return self.conf / "table"

    def import_tables(self) -> None:
        """Import the bundle's ``tables`` module (its ``@builder`` functions), if it has one."""
        if self.module is not None and (self.root / "tables.py").is_file():
            importlib.import_module(f"{self.module}.tables")
        elif self.module is None and (self.root / "tables.py").is_file():
            # a plain folder (no __init__.py): load its tables.py under a private module name
            name = f"_rbr_bundle_{self.slug}_tables"
            if name not in sys.modules:
                spec = importlib.util.spec_from_file_location(name, self.root / "tables.py")
                mod = importlib.util.module_from_spec(spec)
                sys.modules[name] = mod
                spec.loader.exec_module(mod)


def _check_slug(slug: str, where: str) -> str:
    if not SLUG_RE.fullmatch(slug):
        raise UserError(f"bundle {where}: {slug!r} is not a slug (lower-case letters, digits, '_', starting with a letter)",
                        fix="rename the bundle folder (or entry point) to a slug such as 'mypaper'")  # fmt: skip
    return slug


def _is_bundle(root: Path) -> bool:
    """A bundle folder holds configs, table specs or reproduction stages (or several)."""
    return (root / "conf").is_dir() or (root / "table_specs").is_dir() or (root / "stages.yaml").is_file()


def _package_bundles() -> list[Bundle]:
    from . import papers

    out = []
    # the project's order (papers.SLUGS: what `rbr-reproduce all` runs first), then any other
    order = {s: i for i, s in enumerate(papers.SLUGS)}
    for info in sorted(pkgutil.iter_modules(papers.__path__), key=lambda i: (order.get(i.name, len(order)), i.name)):
        root = Path(papers.__path__[0]) / info.name
        if info.ispkg and _is_bundle(root):
            out.append(Bundle(info.name, root, "package", f"{papers.__name__}.{info.name}"))
    return out


def _entry_point_bundles() -> list[Bundle]:
    out = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            module = importlib.import_module(ep.value.split(":")[0])
        except ImportError as e:
            raise UserError(f"bundle entry point {ep.name} = {ep.value!r} does not import ({e})",
                            fix="install the package that provides it, or uninstall the one that declares the entry point") from None  # fmt: skip
        if not getattr(module, "__file__", None):
            raise UserError(
                f"bundle entry point {ep.name} = {ep.value!r} is not a package with files",
                fix="point it at a regular package",
            )
        out.append(
            Bundle(
                _check_slug(ep.name, f"entry point {ep.value}"),
                Path(module.__file__).parent,
                "entry point",
                module.__name__,
            )
        )
    return out


def _env_bundles() -> list[Bundle]:
    out = []
    for part in filter(None, os.environ.get(ENV_VAR, "").split(os.pathsep)):
        root = Path(part).expanduser().resolve()
        if not root.is_dir():
            raise UserError(
                f"{ENV_VAR} names {part}, which is not a folder",
                fix=f"set {ENV_VAR} to bundle folders separated by {os.pathsep!r}",
            )
        if not _is_bundle(root):
            raise UserError(f"{ENV_VAR} names {part}, which holds none of conf/, table_specs/, stages.yaml (not a paper bundle)",
                            fix="point it at the bundle folder itself (docs/new_paper.md)")  # fmt: skip
        slug = _check_slug(root.name, f"folder {root}")
        module = None
        if (root / "__init__.py").is_file():
            if str(root.parent) not in sys.path:
                sys.path.append(str(root.parent))
            module = slug
        out.append(Bundle(slug, root, ENV_VAR, module))
    return out


@cache
def bundles() -> dict[str, Bundle]:
    """Every attached bundle by slug: the package's papers, then entry points, then
    ``RBR_BUNDLES`` folders. Cached: set ``RBR_BUNDLES`` before the first call (or call
    ``bundles.cache_clear()``)."""
    found: dict[str, Bundle] = {}
    for b in (*_package_bundles(), *_entry_point_bundles(), *_env_bundles()):
        if b.slug in found:
            raise UserError(f"two paper bundles are called {b.slug!r}: {found[b.slug].root} ({found[b.slug].source}) and {b.root} ({b.source})",
                            fix="give one of them another slug (its folder or entry point name)")  # fmt: skip
        found[b.slug] = b
    return found


def get(slug: str) -> Bundle:
    """The bundle ``slug``, or one :class:`UserError` listing the attached ones."""
    found = bundles()
    if slug not in found:
        raise UserError(
            f"no paper bundle {slug!r} is attached",
            fix=f"use one of {', '.join(found)}, or attach yours with {ENV_VAR}=<its folder> (docs/new_paper.md)",
        )
    return found[slug]


def conf_roots() -> list[Path]:
    """The config roots of the attached bundles that have one, in discovery order."""
    return [b.conf for b in bundles().values() if b.conf.is_dir()]


def bundle_table_dirs(problems: list[tuple[Path, str]] | None = None) -> list[tuple[str, Path]]:
    """``(slug, <bundle>/table_specs)`` of the attached bundles that have specs. A bundle whose
    ``conf/table/`` still exists (the old place, no longer read) is appended to ``problems``
    as ``(folder, reason)`` (rbr-tables prints one warning line for it); when None, ignored
    here (library use: the folder is then only a Hydra config group)."""
    out = []
    for slug, b in bundles().items():
        if b.old_table_dir.is_dir() and problems is not None:
            problems.append((b.old_table_dir, f"bundle {slug} keeps table specs in conf/table/, which is no longer read; "
                                              f"move them to {b.table_dir}/ (ids unchanged: {slug}/<path there>)"))  # fmt: skip
        if b.table_dir.is_dir():
            out.append((slug, b.table_dir))
    return out


def table_dirs() -> list[Path]:
    """The table spec folders of the attached bundles (``<bundle>/table_specs``)."""
    return [d for _slug, d in bundle_table_dirs()]


class BundleSearchPath(SearchPathPlugin):
    """Appends every attached bundle's ``conf/`` to Hydra's config search path (after the
    package's own ``conf/``: a bundle adds configs, it cannot replace the package's)."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        for b in bundles().values():
            if b.conf.is_dir():
                search_path.append(provider=f"rbr-bundle-{b.slug}", path=f"file://{b.conf}")


@cache
def attach() -> None:
    """Register :class:`BundleSearchPath` with Hydra (once per process)."""
    from hydra.core.plugins import Plugins

    Plugins.instance().register(BundleSearchPath)
