"""Declarative table specs (``conf/table/<paper>/<table>.yaml``).

A spec says which metrics rows feed the table, how they become cells, and how cells are
labelled, so one builder serves every paper table::

    id: irat/table1                  # output file irat__table1.csv
    title: CIFAR-10, last model
    where: {dataset: cifar10, metric: acc}   # filter on metrics.csv columns or cfg.<key>
    checkpoint: last                 # last | best | grid (every epoch_XXX, not best) | any (default any)
    rows: [model, scheme]            # one table row per combination (paper order below)
    columns:                         # one table column per entry (label + its own filter)
      - {label: Clean, where: {attack: clean}}
      - {label: PGD-100, where: {attack: PGD-100}}
    column_by: []                    # ...or columns from the values of these fields
    aggregate: mean_std              # mean_std | trimmed_mean | first | min | max | count
    trim: 10                         # trimmed_mean: values dropped at each end
    scale: 100                       # multiply values (accuracy -> %)
    digits: 2
    labels: {scheme: {pgd_at: Standard}}     # value -> paper label, per field
    order: {scheme: [pgd_at, wmmr, mail]}    # paper row order (unlisted values follow)
    expect: 5                        # runs expected per cell (reported as missing)
    builder: null                    # a registered custom builder for tables that are
                                     # not a pivot of metrics (regressions, model tables)
    seed_keys: [seed, init_seed]     # config keys in which the runs of one cell may differ
    pooled: []                       # more config keys (or sections) pooled on purpose
    mixed: split                     # runs differing in other keys: split | refuse
    defaults:                        # keep a scheme's runs only at the paper's defaults
      mr_mail: {scheme.tau: {resnet18: {cifar10: 2, cifar100: 3}, wrn34_10: 2}}
    checkpoints: [last, best]        # one row block per checkpoint (row field model_checkpoint)
    rows_only: [[2.0], [3.0]]        # exactly these row tuples, in this order
    row_headers: {cfg.scheme.tau: τ} # header of a row field in the written table
    gaps_note: true                  # say in the note why cells are empty (tables/gaps.py)

Pooling: a cell's runs must be seed replicates: their resolved ``config.yaml`` may differ only
in ``seed_keys`` (default ``seed`` and ``init_seed``, the two seeds of ``conf/config.yaml``;
the seed named in a string value, e.g. an ``init_from`` path ``...-s3`` to the parent of the
same seed, counts as the seed), in ``pooled`` keys and in the names derived from them
(:data:`DERIVED_KEYS`). Other differences (another ``tag``, ``data.limit_train`` or
``data.val_size``) are split into separate rows, one ``cfg.<key>`` row field per differing
key (``mixed: split``, with a note under the table), or refused with one line naming the keys
(``mixed: refuse``). Custom builders choose their own populations (``build.pivot`` checks only
when given the runs).

Paper-default and row-list steps (all optional, applied by ``build.pivot`` around the pivot):

- ``defaults``: ``{scheme: {dotted config key: value}}``; the runs of a listed scheme are kept
  only where each key has the paper's default value. A value may depend on the run's model
  and/or dataset (``{resnet18: {cifar10: 2, cifar100: 3}}``); a run whose model/dataset the
  value does not name is dropped. Runs of unlisted schemes are kept. (Paper irat's main
  tables show Ours+* at its tau and similarity, not the ablation runs.)
- ``checkpoints``: instead of one ``checkpoint``, one block of rows per listed checkpoint
  (``last``, ``best``), labelled ``Last`` / ``Best`` in the row field ``model_checkpoint``,
  which ``rows`` must name; its order follows the list unless ``order`` says otherwise.
- ``rows_only``: the table's rows are exactly these tuples of ``rows`` values (numbers
  compared with a tolerance), in this order, empty where no run qualifies: hyper-parameter
  grids that are not a product of the row values. ``order`` of the row fields is unused.
- ``row_headers``: ``{row field: header}`` renames row-field columns of every output.
- ``gaps_note``: append to the note why cells, rows or columns are empty
  (:func:`tables.gaps.explain_gaps`).
- a ``cfg.<key>`` row value a run does not have reads ``"None"`` (labels/order can name it).

Filters: a scalar matches equal values (floats with a tolerance), a list matches any of
its values, ``{min: a, max: b}`` an open interval. Dotted keys ``cfg.x.y`` read each run's
``config.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf._utils import get_yaml_loader

from ..errors import UserError
from ..paths import conf_dir

AGGREGATES = ("mean_std", "trimmed_mean", "first", "min", "max", "count")
MIXED = ("split", "refuse")
# Config keys derived from others (``name``/``run_name`` spell data, model, scheme, seed, tag,
# mode and checkpoint): never compared when pooling, the keys they derive from are.
DERIVED_KEYS = ("name", "run_name")
DEFAULT_SEED_KEYS = ("seed", "init_seed")  # conf/config.yaml: data order/attack starts, initial weights
CKPT_FIELD = "model_checkpoint"  # the row field of ``checkpoints:``
CKPT_LABELS = {"last": "Last", "best": "Best"}


@dataclass
class ColumnSpec:
    label: str
    where: dict[str, Any] = field(default_factory=dict)


@dataclass
class TableSpec:
    id: str
    title: str = ""
    where: dict[str, Any] = field(default_factory=dict)
    checkpoint: str = "any"
    rows: list[str] = field(default_factory=list)
    columns: list[ColumnSpec] = field(default_factory=list)
    column_by: list[str] = field(default_factory=list)
    aggregate: str = "mean_std"
    trim: int = 0
    scale: float = 1.0
    digits: int = 2
    labels: dict[str, dict] = field(default_factory=dict)
    order: dict[str, list] = field(default_factory=dict)
    expect: int | None = None
    builder: str | None = None
    source: str = "metrics.csv"
    options: dict[str, Any] = field(default_factory=dict)  # free-form, for custom builders
    note: str = ""
    seed_keys: list[str] = field(default_factory=lambda: list(DEFAULT_SEED_KEYS))  # may differ within a cell
    pooled: list[str] = field(default_factory=list)  # further config keys pooled on purpose
    mixed: str = "split"  # cells whose runs differ in other keys: split into rows | refuse
    defaults: dict[str, dict] = field(default_factory=dict)  # {scheme: {config key: paper default}}
    checkpoints: list[str] = field(default_factory=list)  # one row block per checkpoint
    rows_only: list[list] = field(default_factory=list)  # exactly these row tuples, in order
    row_headers: dict[str, str] = field(default_factory=dict)  # row field -> written header
    gaps_note: bool = False  # explain empty cells in the note (tables/gaps.py)

    def add_note(self, *texts: str) -> None:
        """Append paragraphs to :attr:`note` (written under the ``.md`` table), skipping empty
        texts and ones the note already holds (a spec may be built more than once)."""
        new = [t for t in texts if t and t not in self.note]
        if new:
            self.note = "\n\n".join(([self.note] if self.note else []) + [" ".join(new)])

    @property
    def file_stem(self) -> str:
        return self.id.replace("/", "__")

    def config_keys(self) -> list[str]:
        """Dotted config keys the spec refers to: ``cfg.x.y`` fields and ``defaults`` keys."""
        fields = list(self.where) + list(self.rows) + list(self.column_by)
        for c in self.columns:
            fields += list(c.where)
        keys = [f[4:] for f in fields if f.startswith("cfg.")]
        return keys + [k for k in sorted({k for opts in self.defaults.values() for k in opts}) if k not in keys]


def spec_from_dict(d: dict, origin: str = "<dict>") -> TableSpec:
    d = dict(d)
    if "id" not in d:
        raise UserError(f"table spec {origin} has no id")
    cols = [ColumnSpec(label=str(c["label"]), where=dict(c.get("where") or {})) for c in d.pop("columns", None) or []]
    known = set(TableSpec.__dataclass_fields__)
    unknown = set(d) - known
    if unknown:
        raise UserError(f"table spec {origin} has unknown keys {sorted(unknown)}", fix=f"use only {sorted(known)}")
    spec = TableSpec(columns=cols, **d)
    if spec.aggregate not in AGGREGATES:
        raise UserError(f"table spec {spec.id}: aggregate {spec.aggregate!r} unknown", fix=f"use one of {AGGREGATES}")
    if spec.mixed not in MIXED:
        raise UserError(f"table spec {spec.id}: mixed {spec.mixed!r} unknown", fix=f"use one of {MIXED}")
    for name in ("seed_keys", "pooled"):
        value = getattr(spec, name)
        if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
            raise UserError(f"table spec {spec.id}: {name} must be a list of dotted config keys", fix=f"e.g. {name}: [seed, data.val_size]")
    if spec.checkpoint not in ("any", "last", "best", "grid"):
        raise UserError(f"table spec {spec.id}: checkpoint {spec.checkpoint!r} unknown", fix="use last, best, grid or any")
    for c in spec.checkpoints:
        if c not in CKPT_LABELS:
            raise UserError(f"table spec {spec.id}: checkpoints entry {c!r} unknown", fix="use last and/or best")
    if spec.checkpoints and CKPT_FIELD not in spec.rows:
        raise UserError(f"table {spec.id}: checkpoints needs the row field {CKPT_FIELD}", fix=f"add {CKPT_FIELD} to rows")
    if not isinstance(spec.defaults, dict) or not all(isinstance(v, dict) for v in spec.defaults.values()):
        raise UserError(f"table spec {spec.id}: defaults must map a scheme to {{config key: value}}", fix="e.g. defaults: {mr_mail: {scheme.tau: 2}}")
    for row in spec.rows_only:
        if not isinstance(row, list) or len(row) != len(spec.rows):
            raise UserError(f"table spec {spec.id}: rows_only entry {row!r} is not a list of {len(spec.rows)} values (one per rows field)",
                            fix=f"write each entry as [{', '.join(spec.rows)}]")  # fmt: skip
    return spec


def load_spec(path: str | Path) -> TableSpec:
    """A spec file, read as ``OmegaConf.to_container(OmegaConf.load(path), resolve=True)``
    reads it: through PyYAML's C parser with OmegaConf's rules (scalars, duplicate keys),
    and through OmegaConf only when it holds an interpolation (``rbr-tables`` reads all 78
    shipped specs on every call: OmegaConf.load took ~1.2 s of it)."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        raw = yaml.load(text, Loader=_SpecLoader)
    except yaml.YAMLError as e:
        raise UserError(f"table spec {path} is not valid YAML ({' '.join(str(e).split())[:160]})", fix="fix the YAML syntax of that file") from None
    if "${" in text:
        raw = OmegaConf.to_container(OmegaConf.create(raw), resolve=True)
    if not isinstance(raw, dict):
        raise UserError(f"table spec {path} does not hold a mapping", fix="write the spec as key: value lines (see docs/tables.md)")
    return spec_from_dict(raw, str(path))


class _SpecLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """PyYAML's C loader with OmegaConf's scalar rules and its duplicate-key error."""

    def construct_mapping(self, node, deep=False):
        keys = set()
        for key_node, _ in node.value:
            if key_node.tag != yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG:
                continue
            if key_node.value in keys:
                raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark, f"found duplicate key {key_node.value}", key_node.start_mark)
            keys.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_SpecLoader.yaml_implicit_resolvers = get_yaml_loader().yaml_implicit_resolvers


TABLE_DIR = conf_dir() / "table"  # conf/table/** (shipped inside the installed package)


def all_specs(table_dir: Path = TABLE_DIR, extra: Iterable[str | Path] = ()) -> dict[str, TableSpec]:
    """Every spec under ``table_dir`` and under each folder of ``extra`` (``rbr-tables
    --specs DIR``: specs kept outside the repository); an id defined twice is an error."""
    specs: dict[str, TableSpec] = {}
    for folder in [Path(table_dir), *map(Path, extra)]:
        if not folder.is_dir():
            raise UserError(f"spec folder {folder} does not exist", fix="pass a folder that holds table spec .yaml files")
        for path in sorted(folder.rglob("*.yaml")):
            spec = load_spec(path)
            if spec.id in specs:
                raise UserError(f"table id {spec.id} is defined twice (second: {path})", fix="give one of them another id")
            specs[spec.id] = spec
    return specs


def select_specs(patterns: list[str], table_dir: Path = TABLE_DIR, extra: Iterable[str | Path] = ()) -> list[TableSpec]:
    """Specs whose id equals a pattern or starts with ``<pattern>/`` (``irat`` -> every
    irat table); ``all`` selects everything. ``extra``: more spec folders (:func:`all_specs`)."""
    specs = all_specs(table_dir, extra)
    if not patterns or "all" in patterns:
        return list(specs.values())
    out = []
    for p in patterns:
        hits = [s for i, s in specs.items() if i == p or i.startswith(p.rstrip("/") + "/")]
        if not hits:
            raise UserError(f"no table spec matches {p!r}", fix=f"use a table id or paper prefix, e.g. {', '.join(sorted(specs)[:4])}")
        out += [h for h in hits if h not in out]
    return out
