"""Declarative table specs (``<bundle>/table_specs/<table>.yaml``, id ``<paper>/<table>``).

Specs are rbr-tables' input, not choices of a run, so they sit beside the config roots, off
Hydra's search path: the package's generic ones (``summary``) in ``robustbench_runner/table_specs/``,
each paper bundle's in ``<bundle>/table_specs/`` (robustbench_runner/bundles.py). A spec's id is its place:
the bundle's slug, then the file's path under ``table_specs/`` without ``.yaml``
(``papers/prs/table_specs/appendix_auc/cnn6_mnist.yaml`` holds ``prs/appendix_auc/cnn6_mnist``);
its ``id:`` says the same (checked), and specs kept elsewhere (``--specs DIR``) say it there.

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

Pooling: a cell's runs must be seed replicates: their config records (``run.json``) may differ only
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
config record (``run.json``'s semantic config: keys that do not change a result, such as
``device`` or ``data.root``, are not in it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from ..errors import UserError
from ..reading import parse_yaml, read_text
from ..results import RunFiles

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
    source: str = RunFiles.METRICS
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


#: A table id: path-like segments of safe file-name characters (``irat/table1``); it becomes
#: output file names (``irat__table1.csv``) and an HTML anchor, so nothing else is allowed.
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)*")
ID_MAX = 120
_ID_FIX = "write the id as <paper>/<table> with letters, digits, '.', '_' and '-' (e.g. id: irat/table1)"


#: the scalar fields of a spec and the types their YAML value may have
_SCALARS = {"title": (str,), "note": (str,), "checkpoint": (str,), "aggregate": (str,), "trim": (int,), "scale": (int, float),
            "digits": (int,), "expect": (int, type(None)), "builder": (str, type(None)), "source": (str,), "mixed": (str,),
            "gaps_note": (bool,)}  # fmt: skip


def check_id(value, origin: str) -> str:
    """``value`` when it is a safe table id (:data:`ID_RE`, at most :data:`ID_MAX`
    characters), else one :class:`UserError` naming the spec file."""
    if not isinstance(value, str):
        raise UserError(f"table spec {origin}: id is a {type(value).__name__} ({str(value)[:40]!r}), not a string", fix=_ID_FIX)
    if len(value) > ID_MAX or not ID_RE.fullmatch(value) or ".." in value.split("/"):
        raise UserError(f"table spec {origin}: id {value[:60]!r} is not a safe table id (it names output files)", fix=_ID_FIX)
    return value


def spec_from_dict(d: dict, origin: str = "<dict>") -> TableSpec:
    d = dict(d)
    if "id" not in d:
        raise UserError(f"table spec {origin} has no id")
    check_id(d["id"], origin)
    columns = d.get("columns") or []
    if not isinstance(columns, list) or not all(isinstance(c, dict) and "label" in c and isinstance(c.get("where") or {}, dict) for c in columns):
        raise UserError(f"table spec {origin}: columns must be a list of {{label: ..., where: {{...}}}}", fix="e.g. columns: [{label: Clean, where: {attack: clean}}]")
    for name, types in _SCALARS.items():
        if name in d and not isinstance(d[name], types) or (name in d and isinstance(d[name], bool) and bool not in types):
            kinds = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise UserError(f"table spec {origin}: {name} is {str(d[name])[:40]!r} ({type(d[name]).__name__}), not {kinds}", fix=f"write {name} as a {kinds}")
    for name in ("where", "labels", "order", "options", "defaults", "row_headers"):
        if name in d and d[name] is None:
            d[name] = {}  # ``where:`` with nothing after it: none
    for name in ("where", "labels", "order", "options", "defaults", "row_headers"):
        if not isinstance(d.get(name, {}), dict):
            raise UserError(f"table spec {origin}: {name} must be a mapping", fix=f"write {name}: {{key: value}}")
    for name in ("rows", "column_by", "checkpoints", "rows_only"):
        if name in d and d[name] is None:
            d[name] = []
        value = d.get(name, [])
        if not isinstance(value, list) or (name != "rows_only" and not all(isinstance(v, str) for v in value)):
            raise UserError(f"table spec {origin}: {name} must be a list" + (" of field names" if name != "rows_only" else ""), fix=f"write {name}: [a, b]")
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
    text = read_text(path, what="table spec", fix="point --specs at a folder of regular .yaml spec files")
    raw = parse_yaml(text, source=path, what="table spec", fix="fix the YAML of that spec file (see docs/tables.md)")
    if "${" in text:
        if _RESOLVER.search(text):  # ${oc.env:...} and the like: a spec is data, it reads nothing
            raise UserError(f"table spec {path} calls an interpolation resolver (${{name:...}})", fix="use plain ${key} references only")
        try:
            raw = OmegaConf.to_container(OmegaConf.create(raw), resolve=True)
        except Exception as e:  # omegaconf's errors: a missing key, a cycle, bad syntax
            raise UserError(f"table spec {path}: an interpolation cannot be resolved ({' '.join(str(e).split())[:120]})", fix="fix the ${...} references of that spec") from None
    if not isinstance(raw, dict):
        raise UserError(f"table spec {path} does not hold a mapping", fix="write the spec as key: value lines (see docs/tables.md)")
    return spec_from_dict(raw, str(path))


_RESOLVER = re.compile(r"\$\{[^}]*:")

#: the package's generic specs (``summary``): ``robustbench_runner/table_specs/``, ids without a prefix
TABLE_DIR = Path(__file__).resolve().parents[1] / "table_specs"


def spec_folders(problems: list[tuple[Path, str]] | None = None) -> list[tuple[str, Path]]:
    """``(id prefix, folder)`` of every shipped and attached spec folder: ``("", TABLE_DIR)``
    and ``("<slug>/", <bundle>/table_specs)`` per paper bundle (robustbench_runner/bundles.py).
    ``problems``: :func:`robustbench_runner.bundles.bundle_table_dirs` (a bundle that still has ``conf/table/``)."""
    from ..bundles import bundle_table_dirs

    return [("", TABLE_DIR), *((f"{slug}/", d) for slug, d in bundle_table_dirs(problems))]


def table_dirs() -> list[Path]:
    """Every folder of shipped and attached specs (:func:`spec_folders` without the prefixes)."""
    return [d for _prefix, d in spec_folders()]


def id_of(prefix: str, folder: Path, path: Path) -> str:
    """The id a spec file has by its place: ``prefix`` + its path under ``folder`` without ``.yaml``."""
    return prefix + path.relative_to(folder).with_suffix("").as_posix()


def spec_file(table_id: str) -> Path:
    """The file of the spec ``table_id`` (ids follow their places: :func:`id_of`)."""
    folders = spec_folders()
    for prefix, folder in folders:
        if table_id.startswith(prefix):
            path = folder / f"{table_id[len(prefix):]}.yaml"
            if path.is_file():
                return path
    raise UserError(f"no table spec file for {table_id} in {', '.join(str(d) for _p, d in folders)}", fix="use an id that rbr-tables --list shows")


def spec_files(folder: Path, problems: list[tuple[Path, str]] | None = None) -> list[Path]:
    """The ``*.yaml`` files under ``folder`` (sorted; symlinked folders not entered). A
    subfolder that cannot be listed is appended to ``problems``, or raised when None."""
    found: list[Path] = []

    def failed(e: OSError) -> None:
        why = f"cannot be listed ({e.strerror or type(e).__name__})"
        if problems is None:
            raise UserError(f"spec folder {e.filename}: {why}", fix="give your user read permission on it, or remove it") from None
        problems.append((Path(e.filename or folder), why))

    for dirpath, _dirnames, filenames in os.walk(folder, onerror=failed, followlinks=False):
        found += [Path(dirpath) / n for n in filenames if n.endswith(".yaml")]
    return sorted(found)


def all_specs(table_dir: Path | None = None, extra: Iterable[str | Path] = (), problems: list[tuple[Path, str]] | None = None) -> dict[str, TableSpec]:
    """Every spec under ``table_dir`` (default: :func:`spec_folders`, the package's and every
    attached bundle's, where each file's ``id`` must be its place, :func:`id_of`) and under each
    folder of ``extra`` (``rbr-tables --specs DIR``: specs kept outside the repository, ids as
    their files say); an id defined twice is an error.

    ``problems``: when a list, a spec file that cannot be read or is not a valid spec is
    appended to it as ``(file, one-line reason)`` and left out (the commands print one
    warning line each and count them; the other tables still build); when None (library
    use, the tests of the shipped specs), it raises."""
    specs: dict[str, TableSpec] = {}
    placed = spec_folders(problems) if table_dir is None else [(None, Path(table_dir))]
    for prefix, folder in [*placed, *((None, Path(e)) for e in extra)]:
        if not folder.is_dir():
            raise UserError(f"spec folder {folder} does not exist", fix="pass a folder that holds table spec .yaml files")
        for path in spec_files(folder, problems):
            try:
                spec = load_spec(path)
                if prefix is not None and spec.id != id_of(prefix, folder, path):
                    raise UserError(f"table spec {path}: id {spec.id} is not its place's id {id_of(prefix, folder, path)}",
                                    fix=f"write id: {id_of(prefix, folder, path)} (a shipped or bundle spec's id is its slug and path under table_specs/)")  # fmt: skip
            except UserError as e:
                if problems is None:
                    raise
                problems.append((path, e.one_line()))
                continue
            if spec.id in specs:
                raise UserError(f"table id {spec.id} is defined twice (second: {path})", fix="give one of them another id")
            specs[spec.id] = spec
    return specs


def select_specs(patterns: list[str], table_dir: Path | None = None, extra: Iterable[str | Path] = (), problems: list[tuple[Path, str]] | None = None) -> list[TableSpec]:
    """Specs whose id equals a pattern or starts with ``<pattern>/`` (``irat`` -> every
    irat table); ``all`` selects everything. ``extra``, ``problems``: :func:`all_specs`."""
    specs = all_specs(table_dir, extra, problems)
    if not patterns or "all" in patterns:
        return list(specs.values())
    out = []
    for p in patterns:
        hits = [s for i, s in specs.items() if i == p or i.startswith(p.rstrip("/") + "/")]
        if not hits:
            raise UserError(f"no table spec matches {p!r}", fix=f"use a table id or paper prefix, e.g. {', '.join(sorted(specs)[:4])}")
        out += [h for h in hits if h not in out]
    return out
