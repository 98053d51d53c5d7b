"""Which ``_target_`` callables a config read from a file may name.

A checkpoint is data: ``mode=eval`` takes the ``data``/``model``/``scheme``/``train``
sections stored inside an rbr checkpoint, and those sections are instantiated
(``_target_`` is imported and called with the section's keys). A ``_target_`` read from a
checkpoint must therefore be one the project ships, i.e. one that some YAML file under
``conf/`` names (the registry of loaders, models, schemes, attacks and analyses), or one the
user lists on the command line with ``allow_targets=[mypkg.MyNet]`` (``mypkg.*`` allows a
whole package). Anything else is refused with one line naming the file and the key; values
that Hydra would resolve (``${...}`` interpolations) are refused too.

Configs composed from the command line are the user's own and are not checked here: a
``model._target_=mypkg.MyNet`` override works as before.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path

from .errors import UserError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


@functools.lru_cache(maxsize=1)
def shipped_targets() -> frozenset[str]:
    """Every ``_target_`` value named by a YAML file of the project's ``conf/`` tree."""
    import yaml

    found: set[str] = set()

    def walk(node):
        if isinstance(node, Mapping):
            for k, v in node.items():
                if k == "_target_" and isinstance(v, str):
                    found.add(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for path in sorted(CONF_DIR.rglob("*.yaml")):
        try:
            walk(yaml.safe_load(path.read_text()))
        except yaml.YAMLError:
            continue
    return frozenset(found)


def is_allowed(target: str, extra: Iterable[str] = ()) -> bool:
    if target in shipped_targets():
        return True
    for pattern in extra or ():
        pattern = str(pattern)
        if target == pattern or (pattern.endswith(".*") and target.startswith(pattern[:-1])):
            return True
    return False


def check_stored_config(node, source: str, prefix: str, extra: Iterable[str] = (), skip: Iterable[str] = ()) -> None:
    """Refuse a config section read from ``source`` (a file) whose ``_target_`` (at any
    depth) is not allowed, or that holds an interpolation. ``prefix``: the section's key
    (``data``); ``skip``: dotted keys the command line set (the user's own values)."""
    skip = set(skip)
    extra = list(extra or ())

    def walk(value, key):
        if key in skip:
            return
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, f"{key}.{k}")
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{key}[{i}]")
        elif isinstance(value, str):
            if key.endswith("._target_") and not is_allowed(value, extra):
                raise UserError(
                    f"{source} stores {key}={value}, which is not a loader, model, scheme or attack of robustbench_runner; "
                    "a checkpoint's config may not choose what to import, so it was not loaded",
                    fix=f"if you trust that file and {value}, add allow_targets=[{value}] (or pass {key}=... yourself)",
                )
            if "${" in value:
                raise UserError(
                    f"{source} stores {key}={value!r}, an interpolation; a checkpoint's config is stored resolved, so this file was not written by rbr-run",
                    fix=f"pass {key}=<value> on the command line, or use a checkpoint saved by rbr-run",
                )

    walk(plain(node), prefix)


def plain(node):
    """A DictConfig/ListConfig as plain containers without resolving anything."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=False)
    return node
