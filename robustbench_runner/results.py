"""The tidy files a run writes, their columns and keys, and the one reader that checks them.

``metrics.csv``: one row per (checkpoint, epoch, split, attack, eps, metric), with enough
identity columns to aggregate without reading configs. Rows are upserted atomically and
never written twice, so a resumed run ends with the same file as an uninterrupted one.

Every result CSV is read through :func:`read_result_csv` with its :class:`CsvSchema`
(required columns and their dtypes). Atomic writes never tear a file, but a file system that
lost a file's tail, or a hand edit, can: a *torn last row* (the file does not end in a newline,
or its last line is short) is dropped with one warning line, and the run recomputes its work
on resume (in ``metrics.csv`` the rows written together with it go too, so the evaluator
redoes that attack: :func:`without_torn_group`). Work that cannot be redone without
retraining (a lost ``train_log.csv`` row of an epoch already checkpointed) stays dropped. Any other damage (missing columns, a short or long row
before the last, a non-number in a number column, an empty file) is a one-line
:class:`~robustbench_runner.errors.UserError` naming the file. Integer columns stay integers
through every read and rewrite.
"""

from __future__ import annotations

import csv
import re
import sys
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from .errors import UserError
from .faults import crash_point
from .io import upsert_csv
from .reading import LIMITS, BadFile, read_bytes
from .reading.csvs import coerce, frame_from_text

METRIC_COLUMNS = [
    "run", "dataset", "model", "scheme", "seed", "batch_size", "config_hash",
    "epoch", "checkpoint", "split", "attack", "eps", "metric", "value", "n",
]  # fmt: skip
METRIC_KEY = ["checkpoint", "epoch", "split", "attack", "eps", "metric"]
CONFUSION_KEY = ["checkpoint", "epoch", "split", "attack", "eps", "true", "pred"]
TRAIN_LOG_KEY = ["epoch"]
METRIC_GROUP = ["checkpoint", "attack"]  # the rows one upsert of the evaluator writes


# -- schemas ------------------------------------------------------------------------------------

INT, FLOAT, STR = "int", "float", "str"


@dataclass(frozen=True)
class CsvSchema:
    """``required``: columns every row must have, with their dtype; ``optional``: columns
    that may be absent but, when present, have this dtype (other columns keep pandas' own
    parsing: e.g. a scheme's extra ``train_log.csv`` columns)."""

    name: str
    required: dict[str, str]
    optional: dict[str, str] = field(default_factory=dict)

    def dtypes(self) -> dict[str, str]:
        return {**self.optional, **self.required}


_METRIC_DTYPES = {c: STR for c in METRIC_COLUMNS} | {"seed": INT, "batch_size": INT, "epoch": INT, "eps": FLOAT, "value": FLOAT, "n": INT}
SCHEMAS: dict[str, CsvSchema] = {
    s.name: s
    for s in (
        CsvSchema("metrics.csv", _METRIC_DTYPES),
        CsvSchema("confusion.csv", {"epoch": INT, "checkpoint": STR, "split": STR, "attack": STR, "eps": FLOAT, "true": INT, "pred": INT, "count": INT}),
        CsvSchema("train_log.csv", {"epoch": INT}, {"loss": FLOAT, "acc": FLOAT, "lr": FLOAT, "seconds": FLOAT, "n": INT}),
        CsvSchema("weights_log.csv", {"epoch": INT}),
        CsvSchema("model_summary.csv", {"layer": STR, "type": STR, "output_shape": STR, "params": INT}),
    )
}  # fmt: skip
GENERIC = CsvSchema("<any>", {})  # other per-run CSVs (margins.csv, robustness.csv, ...): shape checks only


def schema_for(path: str | Path) -> CsvSchema:
    return SCHEMAS.get(Path(path).name, GENERIC)


@dataclass
class ResultCsv:
    """A checked result file: its rows (:attr:`frame`), and the torn last line that was
    dropped (if any). Read together with other files (:func:`read_result_csvs`), its rows
    are the ``span`` ``(start, n)`` of a frame it shares with them (``rows``), cut out on
    first use of :attr:`frame`."""

    rows: pd.DataFrame
    torn: list[str] | None = None  # the fields of the dropped last line
    span: tuple[int, int] | None = None

    @cached_property
    def frame(self) -> pd.DataFrame:
        return cut(self.rows, self.span)


def cut(rows: pd.DataFrame, span: tuple[int, int] | None) -> pd.DataFrame:
    """``rows.iloc[start : start + n]`` indexed ``0..n-1`` (``rows`` itself when ``span`` is
    None): what :func:`read_result_csv` gives for that file. Under pandas' copy-on-write the
    slice shares ``rows``' data until either is written."""
    if span is None:
        return rows
    start, n = span
    part = rows.iloc[start : start + n]
    if not _COPY_ON_WRITE:  # pandas 2: a slice is a view that writes through, so a copy
        return part.reset_index(drop=True)
    part.index = pd.RangeIndex(n)  # the slice's own axis: cheaper than reset_index's copy
    return part


_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3


def _damaged(path: Path, what: str) -> UserError:
    return UserError(
        f"{path} is damaged: {what}",
        fix=f"restore {path.name} from a backup, or rerun this run with overwrite=true to recompute it",
    )


_WARNED: set[str] = set()  # one warning per torn file and process


def read_result_csv(path: str | Path, schema: CsvSchema | None = None, warn: bool = True) -> ResultCsv:
    """Read a result CSV with its schema (:data:`SCHEMAS`, by file name, unless given).

    A torn last row is dropped (one warning line on stderr when ``warn``); every other
    defect raises :class:`UserError` naming the file. Floats round-trip exactly."""
    path = Path(path)
    schema = schema or schema_for(path)
    checked = _check_lines(path, schema)
    return _finish(checked, _frame(checked, schema), warn)


def read_result_csvs(paths: list[Path], schema: CsvSchema, warn: bool = True) -> list[ResultCsv | UserError]:
    """:func:`read_result_csv` of many files of one schema, each result or the
    :class:`UserError` it raised, in order; the same frames, parsed together.

    Each file gets the same line checks; then the files with the same header line and at
    least one row are parsed as one text (one ``read_csv`` and one pass of dtype checks
    instead of one per file: ~5 ms per file, most of ``rbr-tables`` over a sweep of
    thousands of small ``metrics.csv``) and the frame is cut back into one per file. A
    group whose joint checks fail is read file by file, so every damaged file gets its own
    error and the others their rows."""
    out: list[ResultCsv | UserError | None] = [None] * len(paths)
    groups: dict[str, list[tuple[int, _Checked]]] = {}
    for i, path in enumerate(paths):
        try:
            checked = _check_lines(Path(path), schema)
        except UserError as e:
            out[i] = e
            continue
        if checked.n_rows:
            groups.setdefault(checked.lines[0], []).append((i, checked))
        else:
            out[i] = _one(checked, schema, warn)
    for members in groups.values():
        if len(members) == 1:
            i, checked = members[0]
            out[i] = _one(checked, schema, warn)
            continue
        first = members[0][1]
        text = first.lines[0] + "".join("".join(c.lines[1:]) for _, c in members)
        dtypes = first.dtypes(schema)
        try:
            frame = _coerce(_parse(text, _str_columns(dtypes)), dtypes, first.path)
            if len(frame) != sum(c.n_rows for _, c in members):
                raise UserError("the joint parse found another number of rows")  # never seen; to be safe
        except UserError:  # some file of the group is damaged: find which, file by file
            for i, checked in members:
                out[i] = _one(checked, schema, warn)
            continue
        start = 0
        for i, checked in members:
            n = checked.n_rows
            out[i] = _finish(checked, frame, warn, (start, n))
            start += n
    return out  # type: ignore[return-value]


@dataclass
class _Checked:
    """A result file that passed the line checks: its header, its complete lines (the
    header first) and their number of rows, and the fields of its torn last line (None
    when it had none)."""

    path: Path
    header: list[str]
    lines: list[str]
    n_rows: int
    torn: list[str] | None

    def dtypes(self, schema: CsvSchema) -> dict[str, str]:
        return {c: t for c, t in schema.dtypes().items() if c in self.header}


def _check_lines(path: Path, schema: CsvSchema) -> _Checked:
    # through the reading layer: a regular file (never a FIFO, never a symlink: the run
    # wrote it), bounded; a problem is one line naming the file (issue 21)
    data = read_bytes(path, max_bytes=LIMITS["csv"], follow_symlinks=False)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _damaged(path, f"not UTF-8 text (byte {e.start})") from None
    if not text.strip():
        raise _damaged(path, "the file is empty (not even a header)")
    lines = text.splitlines(keepends=True)
    if not lines[0].endswith("\n"):
        raise _damaged(path, "the header line is cut off")
    rows = list(csv.reader(lines))
    header = rows[0]
    missing = [c for c in schema.required if c not in header]
    if missing:
        raise _damaged(path, f"missing column(s) {', '.join(missing)}")
    if len(set(header)) != len(header):
        raise _damaged(path, "a column name appears twice")
    torn = None
    last = rows[-1] if len(rows) > 1 else None
    if last is not None and (not text.endswith("\n") or len(last) < len(header)):
        torn = last
        lines, rows = lines[:-1], rows[:-1]
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise _damaged(path, f"line {i} has {len(r)} fields, the header {len(header)}")
    return _Checked(path, header, lines, len(rows) - 1, torn)


def _str_columns(dtypes: dict[str, str]) -> dict:
    return {c: str for c, t in dtypes.items() if t == STR}


def _frame(checked: _Checked, schema: CsvSchema) -> pd.DataFrame:
    dtypes = checked.dtypes(schema)
    return _coerce(_parse("".join(checked.lines), _str_columns(dtypes)), dtypes, checked.path)


def _one(checked: _Checked, schema: CsvSchema, warn: bool) -> ResultCsv | UserError:
    try:
        return _finish(checked, _frame(checked, schema), warn)
    except UserError as e:
        return e


def _finish(checked: _Checked, frame: pd.DataFrame, warn: bool, span: tuple[int, int] | None = None) -> ResultCsv:
    path, torn = checked.path, checked.torn
    if torn is not None and warn and str(path) not in _WARNED:
        _WARNED.add(str(path))
        print(f"[rbr] warning: {path}: dropped a torn last row ({','.join(torn)[:80]!r}): the file lost its tail; an unfinished run recomputes it when resumed", file=sys.stderr)
    return ResultCsv(frame, torn, span)


def read_result_frame(path: str | Path, schema: CsvSchema | None = None) -> pd.DataFrame:
    return read_result_csv(path, schema).frame


def _parse(text: str, str_columns: dict) -> pd.DataFrame:
    return frame_from_text(text, {c: STR for c in str_columns})


def _coerce(frame: pd.DataFrame, dtypes: dict[str, str], path: Path) -> pd.DataFrame:
    """Numbers checked by the reading layer (:func:`~robustbench_runner.reading.csvs.coerce`),
    its one line reworded as this file's damage."""
    try:
        return coerce(frame, dtypes, path)
    except BadFile as e:
        raise _damaged(path, e.problem) from None


def conform(df: pd.DataFrame, schema: CsvSchema) -> pd.DataFrame:
    """New rows in the schema's dtypes (so a file's first write and its rewrites agree)."""
    df = df.copy()
    for col, kind in schema.dtypes().items():
        if col in df.columns and kind != STR:
            df[col] = pd.to_numeric(df[col]).astype("int64" if kind == INT else "float64")
    return df


def without_torn_group(got: ResultCsv, group: list[str]) -> pd.DataFrame:
    """``got``'s rows, less those that share the ``group`` columns with its torn last row.

    The evaluator writes one attack's rows of one checkpoint in one upsert and skips attacks
    that have rows; after a lost tail, the rows of the torn row's (checkpoint, attack) are
    forgotten too, so that attack is redone whole (its rows are deterministic, so the resumed
    file equals the uninterrupted one). A torn line too short to name its group belonged to
    the last complete row's group or started a new one: the last complete row's group goes."""
    df, torn = got.frame, got.torn
    if torn is None or df.empty:
        return df
    header = list(df.columns)
    idx = [header.index(c) for c in group]
    if len(torn) > max(idx):
        values = [torn[i] for i in idx]
    else:
        values = [str(df[c].iloc[-1]) for c in group]
    lost = pd.Series(True, index=df.index)
    for c, v in zip(group, values, strict=True):
        lost &= df[c].astype(str) == v
    return df[~lost].reset_index(drop=True)


def upsert_result(
    path: str | Path, rows: pd.DataFrame, key: list[str], keep: str = "first", sort: list[str] | None = None, torn_group: list[str] | None = None
) -> int:
    """Merge ``rows`` into the result CSV at ``path`` atomically (:func:`.io.upsert_csv`),
    reading the old rows through the file's schema: a torn last row is dropped here (with the
    rows of its ``torn_group``, see :func:`without_torn_group`), so its key is free for the
    recomputed row, and dtypes survive the rewrite. Returns the number of new keys written."""
    path = Path(path)
    if rows.empty:
        return 0
    schema = schema_for(path)
    rows = conform(rows, schema)
    if path.exists():
        got = read_result_csv(path, schema)
        old = without_torn_group(got, torn_group) if torn_group else got.frame
    else:
        old = rows.iloc[0:0]
    return upsert_csv(path, rows, key, keep=keep, sort=sort, old=old, finish=lambda merged: conform(merged, schema))


# -- one run's files ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunIdentity:
    """Columns repeated on every metrics row."""

    run: str
    dataset: str
    model: str
    scheme: str
    seed: int
    batch_size: int
    config_hash: str


class RunFiles:
    """The layout of one run directory, and the writers of its tidy CSVs: the one place the
    names of a run folder's files are spelled (``tests/test_run_files.py`` checks the package
    for others)."""

    METRICS = "metrics.csv"
    CONFUSION = "confusion.csv"
    TRAIN_LOG = "train_log.csv"
    WEIGHTS_LOG = "weights_log.csv"
    RUN_LOG = "run.log"  # robustbench_runner/runlog.py
    MODEL_SUMMARY = "model_summary.csv"
    LEADERBOARD = "leaderboard.csv"  # checkpoint=robustbench:<id>: this run beside the zoo's numbers
    CONFIG = "config.yaml"
    INFO = "run.json"
    DONE = "DONE"
    CURVES = "curves.png"
    CKPT = "ckpt"
    EVAL = "eval"
    #: the fixed files (no checkpoint) a run directory may hold
    FILES = (DONE, CONFIG, INFO, METRICS, CONFUSION, TRAIN_LOG, WEIGHTS_LOG, MODEL_SUMMARY)
    #: the stem of a grid checkpoint (``epoch_012``) and of a warm-up branch state
    GRID_LABEL = re.compile(r"epoch_(\d+)")
    BRANCH_LABEL = re.compile(r"branch_(\d+)")
    #: the checkpoints a run directory written before manifests existed may hold in ``ckpt/``
    #: (``overwrite=true`` of such a directory deletes these names only)
    LEGACY_CKPT = re.compile(r"(epoch_\d+|last|best)\.pt")

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        self.ckpt_dir = self.dir / self.CKPT
        self.eval_dir = self.dir / self.EVAL
        self.metrics = self.dir / self.METRICS
        self.confusion = self.dir / self.CONFUSION
        self.train_log = self.dir / self.TRAIN_LOG
        self.weights_log = self.dir / self.WEIGHTS_LOG
        self.model_summary = self.dir / self.MODEL_SUMMARY
        self.leaderboard = self.dir / self.LEADERBOARD
        self.config = self.dir / self.CONFIG
        self.info = self.dir / self.INFO
        self.done = self.dir / self.DONE
        self.curves = self.dir / self.CURVES

    def ckpt(self, label: str) -> Path:
        """``ckpt/<label>.pt`` (``last``, ``best``, a grid label)."""
        return self.ckpt_dir / f"{label}.pt"

    @classmethod
    def grid_label(cls, epoch: int) -> str:
        """The label (file stem, ``checkpoint`` column) of the grid checkpoint of ``epoch``."""
        return f"epoch_{epoch:03d}"

    @classmethod
    def grid_epoch(cls, label: str | Path) -> int | None:
        """The epoch of a grid checkpoint's label or file (``epoch_012.pt`` -> 12); None for
        any other name (``best``, ``last``, a user's file)."""
        name = Path(str(label)).name
        m = cls.GRID_LABEL.fullmatch(name[:-3] if name.endswith(".pt") else name)
        return int(m.group(1)) if m else None

    @classmethod
    def grid_rows(cls, checkpoints: pd.Series) -> pd.Series:
        """Which ``checkpoint`` labels of a column are grid checkpoints (``epoch_...``), as
        a boolean mask."""
        return checkpoints.astype(str).str.startswith("epoch_")

    def grid_ckpt(self, epoch: int) -> Path:
        """``ckpt/epoch_XXX.pt``: the checkpoint of grid epoch ``epoch``."""
        return self.ckpt(self.grid_label(epoch))

    def grid_checkpoints(self) -> list[Path]:
        """``ckpt/epoch_XXX.pt`` files, oldest first."""
        if not self.ckpt_dir.is_dir():
            return []
        found = [p for p in self.ckpt_dir.glob("epoch_*.pt") if self.grid_epoch(p) is not None]
        return sorted(found, key=lambda p: self.grid_epoch(p))

    @classmethod
    def checkpoints_in(cls, folder: Path) -> list[Path]:
        """The ``epoch_*.pt`` files of a checkpoint folder in name order, then its ``best.pt``."""
        found = sorted(Path(folder).glob("epoch_*.pt"))
        best = Path(folder) / "best.pt"
        return [*found, best] if best.exists() else found

    @classmethod
    def branch_label(cls, epoch: int) -> str:
        return f"branch_{epoch:03d}"

    def branch_ckpt(self, epoch: int) -> Path:
        """``ckpt/branch_XXX.pt``: a warm-up run's branch state after ``epoch`` (docs/warmup.md)."""
        return self.ckpt(self.branch_label(epoch))

    @classmethod
    def branch_pattern(cls, epoch: int) -> str:
        """The glob that finds the branch states of ``epoch`` in a folder of run directories."""
        return f"*/{cls.CKPT}/{cls.branch_label(epoch)}.pt"

    def eval_state_dir(self, label: str) -> Path:
        """``eval/<label>/``: the attack state files of one checkpoint's evaluation."""
        return self.eval_dir / label

    def read_metrics(self) -> pd.DataFrame:
        """The rows of ``metrics.csv`` the evaluator may skip (after a torn last row, without
        the rows written together with it: :func:`without_torn_group`)."""
        if not self.metrics.exists():
            return pd.DataFrame(columns=METRIC_COLUMNS)
        return without_torn_group(read_result_csv(self.metrics, SCHEMAS["metrics.csv"]), METRIC_GROUP)

    def read(self, path: Path) -> pd.DataFrame:
        """Any result file of this run, checked against its schema."""
        return read_result_frame(path)

    def add_metrics(self, ident: RunIdentity, epoch: int | None, checkpoint: str, split: str, rows: list[dict]) -> int:
        if not rows:
            return 0
        df = pd.DataFrame(rows)
        for k, v in asdict(ident).items():
            df[k] = v
        df["epoch"] = epoch if epoch is not None else -1
        df["checkpoint"] = checkpoint
        df["split"] = df["split"].fillna(split) if "split" in df.columns else split  # rows may name their split
        df = df[METRIC_COLUMNS]
        n = upsert_result(self.metrics, df, METRIC_KEY, keep="first", sort=["epoch"], torn_group=METRIC_GROUP)
        crash_point("metrics")
        return n

    def add_confusion(self, epoch: int | None, checkpoint: str, split: str, rows: list[dict]) -> int:
        if not rows:
            return 0
        df = pd.DataFrame(rows)
        df.insert(0, "split", split)
        df.insert(0, "checkpoint", checkpoint)
        df.insert(0, "epoch", epoch if epoch is not None else -1)
        return upsert_result(self.confusion, df, CONFUSION_KEY, keep="first", sort=["epoch"])

    def add_train_log(self, row: dict) -> None:
        upsert_result(self.train_log, pd.DataFrame([row]), TRAIN_LOG_KEY, keep="last", sort=["epoch"])

    def add_weights_log(self, epoch: int, row: dict) -> None:
        if row:
            upsert_result(self.weights_log, pd.DataFrame([{"epoch": epoch, **row}]), ["epoch"], keep="last", sort=["epoch"])
