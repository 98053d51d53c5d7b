"""Config plumbing: OmegaConf resolvers, validation of values, config hashing, run names.

Resolvers (registered on import):
- ``${frac:8,255}`` -> 8/255 computed in float64, so eps is exact and readable;
- ``${mul:a,b}``, ``${div:a,b}``, ``${int:x}`` for derived values (step size 2.5*eps/steps,
  "decay at 50% of training");
- ``${tag_suffix:tag}`` -> ``-tag`` or empty;
- ``${every_and_last:k,${train.epochs}}`` -> every k-th epoch and the last (:mod:`.grids`;
  the default ``eval.grid``);
- ``${train_run_name:data,model,scheme,seed,tag}`` -> a training run's name
  (:func:`train_run_name`, the one spelling of that format); ``${run_name:...}`` -> the run
  directory name (:func:`resolve_run_name`); ``${run_group:mode}`` -> ``runs`` or ``evals``;
  ``${path_part:x}`` -> ``x``, checked to be one path component (``sweep_name``).

Names that become path components (``tag``, ``sweep_name``, the run name) may not hold a
path separator or ``..``: the run directory always stays under ``output_root``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ValidationError

from .errors import UserError
from .paths import MAX_RUN_NAME, check_path_part, name_problem
from .schema import (  # importing it registers the schema in Hydra's ConfigStore
    DATA_SCHEMAS,
    field_type,
    type_error,
    volatile_keys,
)


def _frac(a, b) -> float:
    if float(b) == 0:
        raise ValueError("frac: division by zero")
    return float(a) / float(b)


#: A RobustBench model id (the Model Zoo's names, e.g. ``Carmon2019Unlabeled``,
#: ``Debenedetti2022Light_XCiT-L12``): letters, digits, ``_``, ``-`` and ``.``.
ZOO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_zoo_id(model_id) -> str:
    """``checkpoint=robustbench:<id>``: the id becomes a folder name (``evals/robustbench-<id>``)
    and a file name (``<model_dir>/<dataset>/<threat>/<id>.pt``), so it gets the same check as
    a tag (:func:`.paths.check_path_part`) and must look like a Model Zoo id."""
    text = "" if model_id is None else str(model_id)
    fix = "use a RobustBench Model Zoo id, e.g. checkpoint=robustbench:Carmon2019Unlabeled"
    problem = name_problem(text)
    if problem is None and not ZOO_ID.fullmatch(text):
        problem = "a Model Zoo id has only letters, digits, '_', '-' and '.'"
    if problem:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise UserError(f"checkpoint=robustbench:{shown} is not a RobustBench model id ({problem}; it becomes a folder and a file name)", fix=fix)
    return text


def train_run_name(dataset, model, scheme, seed, tag="") -> str:
    """``<dataset>-<model>-<scheme>-s<seed>[-<tag>]``: the name of a training run (no job id,
    no timestamp: a re-run or requeued job lands in the same directory and resumes). The one
    place this format is spelled: ``conf/config.yaml``'s ``name`` calls it
    (``${train_run_name:...}``), and so does code or a test that names a run by hand."""
    return f"{dataset}-{model}-{scheme}-s{seed}{_tag_suffix(tag)}"


def run_group(mode: str) -> str:
    """The folder under ``output_root`` a single run lands in: ``evals`` for ``mode=eval``,
    else ``runs`` (``-m`` sweeps use ``sweeps/<sweep_name>`` instead)."""
    return "evals" if mode == "eval" else "runs"


def resolve_run_name(mode: str, name: str, checkpoint: str | None, tag: str = "") -> str:
    """``${run_name:...}``: a training run's directory is its ``name``
    (:func:`train_run_name`); evaluation runs (``mode=eval``) are named after the checkpoint
    they evaluate."""
    if tag:
        check_path_part(tag, "tag")
    if mode != "eval" or not checkpoint:
        return check_path_part(name, "the run name", fix="use dataset/model/scheme names and a plain tag=<name>", max_len=MAX_RUN_NAME)
    p = Path(str(checkpoint))
    if str(checkpoint).startswith("robustbench:"):  # a RobustBench zoo id (models/robustbench_zoo.py)
        return "robustbench-" + check_zoo_id(str(checkpoint).split(":", 1)[1]) + _tag_suffix(tag)
    if p.parent.name == "ckpt":  # RunFiles.CKPT (config.py sits below results.py)  # <run>/ckpt/epoch_010.pt -> <run>
        base = p.parent.parent.name
    elif p.suffix:  # a plain file
        base = p.stem
    else:  # a run directory
        base = p.name
    return check_path_part(base + _tag_suffix(tag), "the run name", fix="pass checkpoint=<a .pt file or a run directory>, or add tag=<name>", max_len=MAX_RUN_NAME)


def _tag_suffix(tag) -> str:
    tag = "" if tag is None else str(tag)
    return f"-{tag}" if tag else ""


def register_resolvers() -> None:
    from .grids import every_and_last

    for name, fn in {
        # a ListConfig, not a list: OmegaConf.resolve (rbr-run --cfg job --resolve) can put a
        # container in place of an interpolation, never a plain list
        "every_and_last": lambda k, n: OmegaConf.create(every_and_last(k, n)),
        "frac": _frac,
        "mul": lambda a, b: float(a) * float(b),
        "div": lambda a, b: _frac(a, b),
        "int": lambda x: int(round(float(x))),
        "tag_suffix": _tag_suffix,
        "train_run_name": train_run_name,
        "run_name": resolve_run_name,
        "run_group": run_group,
        "path_part": lambda x: check_path_part(x, "sweep_name"),
    }.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


register_resolvers()

# -- hashing ------------------------------------------------------------------------------

#: Keys that do not change what a run computes (where it runs, how it reports, where data
#: lives, attack batch size): excluded from the config hash that guards a run directory.
#: Derived from the schema (:func:`.schema.volatile_keys`): each key is marked ``volatile``
#: where :mod:`.schema` declares it, with the reason beside it.
VOLATILE_KEYS: tuple[str, ...] = volatile_keys()


def semantic_dict(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config without :data:`VOLATILE_KEYS`."""
    d = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    assert isinstance(d, dict)
    for dotted in VOLATILE_KEYS:
        node = d
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict):
            node.pop(leaf, None)
    return d


def config_hash(cfg: DictConfig) -> str:
    """12 hex digits identifying what a run computes."""
    blob = json.dumps(semantic_dict(cfg), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


class _Absent:
    """The value of a key one side of a :func:`config_diff` does not have."""

    def __repr__(self) -> str:
        return "<absent>"

    __str__ = __repr__


ABSENT = _Absent()


@dataclass(frozen=True)
class Difference:
    """One dotted config key whose value differs: ``old`` and ``new`` (:data:`ABSENT` where
    a side lacks the key). ``str()`` is the form error messages show: ``key: old -> new``."""

    key: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.key}: {self.old} -> {self.new}"


def config_diff(old: dict, new: dict, prefix: str = "") -> list[Difference]:
    """The differences between two (semantic) config dicts, by dotted key in sorted order;
    nested dicts are compared key by key. The one config difference of the package: run
    directory guards (:mod:`.run_dir`), resumes (:mod:`.train_run`), warm-up equivalence
    (:func:`.warmup.differing_keys`) and the tables' pooling check
    (:func:`.tables.runs.differing_keys`) use it."""
    out: list[Difference] = []
    for k in sorted(set(old) | set(new), key=str):
        key = f"{prefix}{k}"
        a, b = old.get(k, ABSENT), new.get(k, ABSENT)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_diff(a, b, key + ".")
        elif a != b:
            out.append(Difference(key, a, b))
    return out


def shown_diff(diff: list[Difference], n: int = 3) -> str:
    """The first ``n`` differences for a one-line message (``a: 1 -> 2; b: x -> y; and 4 more``)."""
    return "; ".join(str(d) for d in diff[:n]) + (f"; and {len(diff) - n} more" if len(diff) > n else "")


# -- validation ------------------------------------------------------------------------------


def _check(cond: bool, message: str, fix: str) -> None:
    if not cond:
        raise UserError(message, fix=fix)


def _eps_values(eps) -> list:
    if isinstance(eps, (list, tuple, ListConfig)):
        return list(eps)
    return [eps]


def validate(cfg: DictConfig) -> None:
    """Reject invalid values with one clear line (UserError) before any work starts. The
    types of the keys :mod:`.schema` declares were checked when Hydra composed the config;
    what is left here are ranges, names, and the keys no schema types (``data.eps``,
    ``attacks.*``)."""
    _check(cfg.mode in ("train", "eval"), f"mode={cfg.mode} is not a mode", "use mode=train or mode=eval")
    epochs = cfg.train.epochs
    _check(epochs >= 1, f"train.epochs={epochs} must be a positive integer", "set train.epochs=N with N >= 1")
    for key in ("train.batch_size", "eval.batch_size"):
        v = OmegaConf.select(cfg, key)
        _check(v >= 1, f"{key}={v} must be a positive integer", f"set {key}=N with N >= 1")
    n_eval = cfg.eval.n_eval
    _check(n_eval is None or n_eval >= 1, f"eval.n_eval={n_eval} must be null or >= 1", "set eval.n_eval=N (N >= 1) or eval.n_eval=null for all points")
    grid = list(cfg.eval.grid)
    for e in grid:
        # an interpolation's list (the default ${every_and_last:...}) is not checked against
        # the schema's list[int] when it resolves, so the items' type is checked here
        _check(_is_int(e) and e >= 0, f"eval.grid has {e!r}, not an epoch number", "list integer epochs, e.g. eval.grid=[5,10]")
        if cfg.mode == "train":
            _check(e <= epochs, f"eval.grid epoch {e} is past the last epoch (train.epochs={epochs})", f"drop {e} from eval.grid or raise train.epochs")
    _check(len(set(grid)) == len(grid), f"eval.grid={grid} repeats an epoch", "list each epoch once")
    for key in ("data.eps", "data.eps_grid"):
        for e in _eps_values(OmegaConf.select(cfg, key, default=0.0)):
            _check(isinstance(e, (int, float)) and e >= 0, f"{key} has {e!r}; eps must be a number >= 0", f"fix {key}")
    for key, attack in (cfg.get("attacks") or {}).items():
        if attack is None:
            continue
        for e in _eps_values(attack.get("eps", 0.0)):
            _check(isinstance(e, (int, float)) and e >= 0, f"attacks.{key}.eps has {e!r}; eps must be a number >= 0", f"fix attacks.{key}.eps")
    _check(str(cfg.device) in ("auto", "cpu", "cuda") or str(cfg.device).startswith("cuda:"), f"device={cfg.device} is not a device", "use device=auto, cpu, cuda or cuda:N")
    check_path_part(cfg.get("sweep_name", "sweep"), "sweep_name")
    if cfg.get("tag"):
        check_path_part(cfg.tag, "tag")
    if cfg.mode == "eval":
        _check(bool(cfg.checkpoint), "mode=eval needs a checkpoint", "add checkpoint=<path to a .pt file or a run directory>")
    validate_counts(cfg)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def validate_data_types(cfg: DictConfig) -> None:
    """The keys of ``data`` that :class:`.schema.DataLoading` and :class:`.schema.DataFiles`
    declare hold their types (``data`` itself stays open for each dataset's own keys, so
    Hydra does not check them): one line naming the key otherwise."""
    data = cfg.get("data")
    if not isinstance(data, DictConfig):
        return
    for schema in DATA_SCHEMAS:
        typed = OmegaConf.structured(schema)
        for name in typed:
            if name not in data:
                continue
            value = OmegaConf.select(data, name)  # resolved: an interpolation's value is checked
            try:
                typed[name] = value
            except ValidationError:
                raise type_error(f"data.{name}", value) from None


def validate_counts(cfg: DictConfig) -> None:
    """Seeds are integers; sample counts are null (all) or positive, ``data.val_size`` >= 0."""
    validate_data_types(cfg)
    validate_seeds(cfg)
    for key in ("data.limit_train", "data.limit_test"):
        v = OmegaConf.select(cfg, key)
        _check(v is None or v >= 1, f"{key}={v} must be null (all samples) or a positive integer", f"set {key}=N with N >= 1, or {key}=null")
    v = OmegaConf.select(cfg, "data.val_size", default=0)
    _check(v is None or v >= 0, f"data.val_size={v} must be a number of samples >= 0", "set data.val_size=N with N >= 0 (0: no validation split)")


#: Seeds are non-negative 63-bit integers: ``numpy.random.default_rng`` refuses negative
#: ones and ``torch.manual_seed`` anything beyond 64 bits (a raw error deep inside a run).
MAX_SEED = 2**63 - 1
SEED_KEYS = ("seed", "init_seed", "eval.subset_seed", "data.val_seed", "data.subset_seed")


def validate_seeds(cfg: DictConfig) -> None:
    """Every seed of :data:`SEED_KEYS` is an integer in ``[0, 2**63 - 1]`` (``init_seed`` and
    the optional ones may be null or absent): one line naming the key otherwise."""
    for key in SEED_KEYS:
        v = OmegaConf.select(cfg, key, default=None)
        if v is None and key != "seed":
            continue
        if field_type(key) is None:  # a seed no schema types (a dataset's own data.subset_seed)
            _check(_is_int(v), f"{key}={v} is not an integer seed", f"set {key}=N with an integer N, e.g. {key}=0")
        _check(0 <= v <= MAX_SEED, f"{key}={v} is out of range (a seed is an integer from 0 to 2**63-1)", f"set {key}=N with 0 <= N <= {MAX_SEED}, e.g. {key}=0")
