"""The schema of the package's own config keys: their types, and which are volatile.

Hydra's structured configs (dataclasses in its ``ConfigStore``), used as a schema: the
values stay in ``conf/`` (``conf/config.yaml``, ``conf/eval/default.yaml``,
``conf/dataset/_base.yaml``); the dataclasses here say what type each key holds, so a wrong
one (``rbr-run train.epochs=abc``) fails while Hydra composes, naming the key. Every field's
default is ``MISSING``: the config files are the one place values are written.

- :class:`RbrConfig` is the root; :func:`register` puts it in the ``ConfigStore`` as
  ``rbr_schema``, first in ``conf/config.yaml``'s defaults list (before ``_self_``). It stays
  open: paper bundles add top-level keys of their own (``prs_eps``, ``irat_lr``, ...), users
  add ``+callbacks.x._target_=...``; the nodes users and experiments fill in (``data``,
  ``model``, ``scheme``, ``optim``, ``attacks``, ``logger``, ``warmup``) are ``Any``, and the
  optional ones (``select``, ``analysis``, a paper's keys) are not declared at all.
- :class:`Train`, :class:`Eval`, :class:`RobustBench` are closed: a misspelt key is an error.
- ``data`` holds what every dataset shares (:class:`DataLoading`, ``conf/dataset/_base.yaml``)
  and the file keys of datasets that read files (:class:`DataFiles`) beside each dataset's own
  keys, so it stays ``Any``; :func:`.config.validate` type-checks those keys with these two.

A field marked :func:`volatile` does not change what a run computes; the config hash
leaves it out (:data:`.config.VOLATILE_KEYS` is :func:`volatile_keys`, derived from here).
Each says why where it is declared.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf

from .errors import UserError

#: the ``ConfigStore`` name of :class:`RbrConfig` (``conf/config.yaml``'s defaults list names it)
SCHEMA_NAME = "rbr_schema"


def volatile(default: Any = MISSING) -> Any:
    """A field that does not change what a run computes: left out of the config hash."""
    return field(default=default, metadata={"volatile": True})


def describes(*schemas: type) -> Any:
    """An open (``Any``) node whose shared keys ``schemas`` describe (``data``)."""
    return field(default=MISSING, metadata={"schemas": schemas})


@dataclass
class Train:
    """``train.*`` (``conf/config.yaml``)."""

    epochs: int = MISSING
    batch_size: int = MISSING
    amp: bool = MISSING
    channels_last: Any = MISSING  # true | false | auto
    # only to resume an unfinished run: a DONE run never resumes, so dropping it changes nothing computed
    keep_optimizer_state: bool = volatile()


@dataclass
class Eval:
    """``eval.*`` (``conf/eval/default.yaml``)."""

    grid: list[int] = MISSING
    split: str = MISSING
    n_eval: int | None = MISSING
    subset_seed: int = MISSING
    # every random number an attack draws for a point is a function of (seed, attack, point,
    # draw) on a CPU generator (attacks/randomness.py): another batch size computes the same
    # numbers (README, "Bit-identical results")
    batch_size: int = volatile()
    tf32: bool = MISSING  # part of the hash: it can change GPU numbers


@dataclass
class RobustBench:
    """``robustbench.*``: ``checkpoint=robustbench:<id>`` (``conf/config.yaml``)."""

    model_dir: str = volatile()  # where the zoo's weights are kept, not which weights
    threat_model: str = MISSING
    download: bool = volatile()  # whether missing weights may be fetched


@dataclass
class DataLoading:
    """The loader keys every dataset shares: exactly the keys of ``conf/dataset/_base.yaml``
    (a test keeps the two equal)."""

    val_size: int | None = MISSING
    val_seed: int = MISSING
    limit_train: int | None = MISSING
    limit_test: int | None = MISSING
    subset: str | None = MISSING
    test_subset: str | None = MISSING
    augment: Any = MISSING  # none | crop_flip | shift_flip, or {name: crop_flip, padding: 2, ...}
    # how batches reach the model, not which batches: the same samples in the same order
    loader: str = volatile()
    num_workers: int = volatile()
    pin_memory: bool | None = volatile()
    on_gpu: bool = volatile()


@dataclass
class DataFiles:
    """Where a dataset that reads files keeps them (``conf/dataset/cifar10.yaml``, ...): not
    every dataset has each key. All volatile: where the data live, whether they may be
    downloaded and how they are decoded, not which data."""

    root: str = volatile()
    download: bool = volatile()
    cache: bool = volatile()  # tinyimagenet: keep the decoded arrays in a file
    decode_workers: int | None = volatile()  # tinyimagenet: JPEG decoding threads


#: the schemas of ``data``'s shared keys (``data`` stays open for each dataset's own keys)
DATA_SCHEMAS = (DataLoading, DataFiles)


@dataclass
class RbrConfig:
    """The root: ``conf/config.yaml``'s top-level keys. The open nodes are ``Any``."""

    scale_name: str = MISSING
    seed: int = MISSING
    init_seed: int | None = MISSING
    # every random number is drawn on a CPU generator (attacks/randomness.py): another device
    # draws the same numbers, rounded differently (README, "Bit-identical results"; run.json's runtime)
    device: str = volatile()
    mode: str = MISSING  # train | eval (a str, not an Enum: the hash writes the value as is)
    checkpoint: str | None = MISSING
    checkpoint_trusted: bool = volatile()  # whether a pickled model may be loaded, not what it computes
    robustbench: RobustBench = field(default_factory=RobustBench)
    init_from: str | None = MISSING
    # where the shared prefix comes from, not what is computed (docs/warmup.md)
    warmup: Any = volatile()
    tag: str = MISSING
    name: str = MISSING
    run_name: str = MISSING
    output_root: str = volatile()  # where runs land
    sweep_name: str = volatile()  # where a sweep lands
    overwrite: bool = volatile()  # what happens to an existing run dir
    verbose: bool = volatile()  # how errors are reported
    allow_targets: list[str] = volatile()  # which imports a checkpoint may name, checked before anything runs
    progress: Any = volatile()  # auto | true | false: how progress is reported
    progress_every: float = volatile()  # seconds between progress lines
    deterministic: bool = MISSING
    train: Train = field(default_factory=Train)
    # the groups, in conf/config.yaml's defaults-list order (the order a printed config shows)
    data: Any = describes(*DATA_SCHEMAS)
    model: Any = MISSING
    scheme: Any = MISSING
    optim: Any = MISSING
    attacks: Any = MISSING
    eval: Eval = field(default_factory=Eval)
    logger: Any = volatile()  # experiment trackers: extra copies of what the run writes
    hydra: Any = volatile()  # Hydra's own settings (run and sweep folders, logging)


def volatile_keys(schema: type = RbrConfig, prefix: str = "") -> tuple[str, ...]:
    """The dotted keys of every :func:`volatile` field: nested dataclasses are walked, and
    so are the schemas an open node :func:`describes`."""
    hints = typing.get_type_hints(schema)
    out: list[str] = []
    for f in fields(schema):
        key = prefix + f.name
        if f.metadata.get("volatile"):
            out.append(key)
        elif is_dataclass(hints[f.name]):
            out += volatile_keys(hints[f.name], key + ".")
        for described in f.metadata.get("schemas", ()):
            out += volatile_keys(described, key + ".")
    return tuple(out)


def field_type(key: str, schema: type = RbrConfig) -> Any:
    """The declared type of dotted ``key`` (``eval.grid[0]`` is an item of ``eval.grid``),
    or ``None`` where the schema does not declare it."""
    head, _, rest = key.partition(".")
    name, _, index = head.partition("[")
    hints = typing.get_type_hints(schema) if is_dataclass(schema) else {}
    if name not in hints:
        return None
    t = hints[name]
    if index:
        args = typing.get_args(t)
        t = args[0] if args else None
    if not rest:
        return t
    if is_dataclass(t):
        return field_type(rest, t)
    for described in next(f for f in fields(schema) if f.name == name).metadata.get("schemas", ()):
        found = field_type(rest, described)
        if found is not None:
            return found
    return None


def describe_type(t: Any) -> str:
    """``int`` -> ``an integer``; ``int | None`` -> ``an integer or null``; ..."""
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(t) if a is not type(None)]
        return f"{describe_type(inner[0])} or null" if len(inner) == 1 else "a value"
    if typing.get_origin(t) is list:
        (item,) = typing.get_args(t) or (Any,)
        return f"a list of {describe_type(item).split(' ', 1)[-1]}s"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(t, "a value")


def type_error(key: str, value: Any) -> UserError | None:
    """The one-line error for a ``value`` of dotted ``key`` its declared type refuses
    (``eval.grid[1]``: an item of ``eval.grid``), or ``None`` where the schema does not
    declare ``key``."""
    t = field_type(key)
    if t is None:
        return None
    what = describe_type(t)
    base, item, _ = key.partition("[")
    where = "robustbench_runner/schema.py declares each key's type"
    if item:
        return UserError(f"{base} has {value!r}, not {what}", fix=f"make {base} {describe_type(field_type(base))}; {where}")
    shown = "null" if value is None else str(value).lower() if isinstance(value, bool) else value
    return UserError(f"{key}={shown} is not {what}", fix=f"set {key} to {what}; {where}")


def root_node() -> DictConfig:
    """:class:`RbrConfig` as a config node, left open (struct explicitly off) for the
    top-level keys it does not declare."""
    node = OmegaConf.structured(RbrConfig)
    OmegaConf.set_struct(node, False)
    return node


def register() -> None:
    """Store the root schema in Hydra's ``ConfigStore`` as :data:`SCHEMA_NAME` (idempotent).
    Done on import of :mod:`.config`, which every composition imports for its resolvers."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name=SCHEMA_NAME, node=root_node())


register()
