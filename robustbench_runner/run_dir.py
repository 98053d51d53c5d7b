"""The run-directory protocol: which folder a run owns and how it claims, guards, wipes and
finishes it.

- where: :func:`run_dir_of` (``<output_root>/runs|evals/<run_name>``; the names themselves
  come from :func:`.config.train_run_name` / :func:`.config.resolve_run_name`, the one place
  their format is spelled);
- claim (:func:`claim_run_dir`, under :func:`.io.run_lock`): a folder that holds another
  config (``run.json``, a checkpoint's or ``metrics.csv``'s config hash,
  :func:`stored_config`) is refused unless it has no results yet; a non-empty folder that is
  not a run directory is refused; ``overwrite=true`` deletes only what the run's manifest lists
  (:func:`wipe_run_dir`); a finished run (``DONE``) is a no-op;
- finish: :func:`write_done` is the one writer of ``DONE``; a failed command that computed
  nothing leaves no half-made run (:func:`forget_if_empty`).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from . import __version__
from .build import to_yaml
from .checkpoints import grid_checkpoints, newest_checkpoint
from .config import config_diff, run_group, semantic_dict, shown_diff
from .errors import UserError
from .io import (
    LOCK,
    MANIFEST,
    atomic_write_text,
    finish_wipe,
    manifest_state,
    read_manifest,
    wipe_recorded,
)
from .paths import is_standin_root
from .reading import BadFile, load_json
from .results import RunFiles

#: Entries of a folder that do not make it "not empty" when a run claims it: the lock, and
#: Hydra's own ``.hydra/`` (when ``hydra.output_subdir`` is set).
NOT_CONTENT = {LOCK, ".hydra"}

GUARD_FIX = "add tag=<name> to start a separate run, or overwrite=true to delete this one and start again"


def run_dir_of(cfg: DictConfig) -> Path:
    """The directory a single (non-sweep) run of ``cfg`` writes into: the ``hydra.run.dir``
    of ``conf/config.yaml``, ``<output_root>/<runs|evals>/<run_name>``."""
    return Path(str(cfg.output_root)) / run_group(str(cfg.mode)) / str(cfg.run_name)


def write_done(files: RunFiles, chash: str, expected: Iterable[tuple[str, str]] | None) -> None:
    """Mark the run finished: ``DONE`` (atomically), with the time and the config hash. The
    only writer of that file (``tests/test_run_dir.py`` checks the package for others).

    ``expected``: every ``(checkpoint, attack)`` the config asks results for (each grid
    epoch's checkpoint label x each attack label, :meth:`.checkpoint_eval.CheckpointEvaluator.expected`);
    when one has no row in ``metrics.csv`` no ``DONE`` is written and the run stops with one
    line (a wipe or a damaged file lost results the run cannot recompute); the samplerob
    studies pass the pairs they computed (:class:`.papers.samplerob.rundir.StudyRun`).
    ``None``: no row check (a caller with no rows to expect)."""
    if expected is not None:
        want = {(str(c), str(a)) for c, a in expected}
        have = files.read_metrics()
        got = set(zip(have["checkpoint"].astype(str), have["attack"].astype(str), strict=True)) if len(have) else set()
        missing = sorted(want - got)
        if missing:
            shown = ", ".join(f"{c}/{a}" for c, a in missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
            raise UserError(
                f"{files.dir} is not finished: {files.metrics.name} lacks the results of {shown} (no DONE written)",
                fix="rerun with overwrite=true to compute the run again (or tag=<name> for a separate run)",
            )
    atomic_write_text(files.done, f"finished {time.strftime('%Y-%m-%d %H:%M:%S')} config_hash {chash}\n")


def is_run_dir(files: RunFiles) -> bool:
    """A folder rbr-run wrote (it has a manifest or a run.json)."""
    return (files.dir / MANIFEST).exists() or files.info.exists()


_HASH = re.compile(r"[0-9a-f]{12}")


def refuse_foreign(files: RunFiles) -> None:
    """A folder whose manifest or ``run.json`` rbr-run did not write is not adopted (its
    manifest would tell ``overwrite=true`` what to delete): one line, nothing touched.

    The tool's manifest starts with :data:`.io.MANIFEST_HEADER` (one of an older version
    is a list of relative paths, accepted); the tool's ``run.json`` is an object with a
    12-hex-digit ``config_hash``."""
    state = manifest_state(files.dir)
    why = None
    if state == "foreign":
        why = f"its {MANIFEST} was not written by rbr-run"
    elif state != "tool":
        present = os.path.lexists(files.info)
        if present and (not files.info.is_file() or files.info.is_symlink()):
            why = f"its {files.info.name} is not a regular file"
        elif present and not _tool_info(files):
            why = f"its {files.info.name} was not written by rbr-run (no config_hash)"
        elif state == "legacy" and not present:
            why = f"its {MANIFEST} lacks rbr-run's header and no run.json of rbr-run is beside it"
    if why:
        raise UserError(
            f"{files.dir} looks like a run folder but {why}, so rbr-run will not adopt it (nothing there was touched)",
            fix="point hydra.run.dir (or output_root) at another folder",
        )


def _tool_info(files: RunFiles) -> bool:
    try:
        info = read_info(files)
    except UserError:
        return False
    return bool(_HASH.fullmatch(str(info.get("config_hash", ""))))


def claim_run_dir(files: RunFiles, cfg: DictConfig, chash: str, extra: dict | None = None) -> bool:
    """Refuse a directory that holds another config (or that is not a run directory and not
    empty); returns True when the run is finished."""
    finish_wipe(files.dir)  # an overwrite=true wipe killed half-way: finish it before anything else
    refuse_foreign(files)
    if not is_run_dir(files):
        foreign = sorted(p.name + ("/" if p.is_dir() else "") for p in files.dir.iterdir() if p.name not in NOT_CONTENT)
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise UserError(
                f"{files.dir} is not empty ({shown}) and is not an rbr-run run directory, so no run will write into it",
                fix="point hydra.run.dir (or output_root) at a new or empty folder",
            )
    else:
        stored = stored_config(files)
        other = {h for h in stored["hashes"] if h != chash}
        if cfg.overwrite:
            wipe_run_dir(files)
        elif other:
            if has_results(files):
                shown = shown_diff(config_diff(stored["config"], semantic_dict(cfg))) if stored["config"] else ""
                shown = shown or f"config hash {', '.join(sorted(other))} in {stored['source']}, not {chash}"
                raise UserError(f"{files.dir} holds a run with a different config ({shown})", fix=GUARD_FIX)
            wipe_run_dir(files)
        elif files.done.exists():
            return True
    info = {"config_hash": chash, "rbr_version": __version__, "config": semantic_dict(cfg), "data_source": data_source(cfg), **(extra or {})}
    atomic_write_text(files.config, to_yaml(cfg))
    atomic_write_text(files.info, json.dumps(info, indent=1, sort_keys=True, default=str))
    from .runlog import arm

    arm(files.dir)  # the folder is this run's now: <run>/run.log opens (runlog.py)
    return False


def data_source(cfg: DictConfig) -> dict:
    """Where the run's data came from, as far as the tables need it: ``standin`` is True when
    ``data.root`` holds the digits-derived stand-ins (:func:`.paths.is_standin_root`). The
    root itself is volatile (not in the config record, :data:`.config.VOLATILE_KEYS`), so
    run.json records this fact beside the config; ``rbr-tables`` marks such runs' tables."""
    return {"standin": is_standin_root(OmegaConf.select(cfg, "data.root", default=None))}


def read_info(files: RunFiles) -> dict:
    """``run.json``; a damaged one is a one-line error naming it (the checkpoints and
    ``metrics.csv`` still carry the config hash, so deleting it is safe)."""
    try:
        return load_json(files.info, follow_symlinks=False)  # a JSON object, bounded, a regular file
    except BadFile as e:
        raise UserError(
            f"{files.info} is damaged ({e.problem})",
            fix=f"delete {files.info} and rerun: the config hash stored in the run's checkpoints and metrics.csv still guards the run",
        ) from e


def stored_config(files: RunFiles) -> dict:
    """The config hashes a run directory already holds: ``run.json``'s (or, when it is
    missing, the newest loadable checkpoint's) and every ``config_hash`` of
    ``metrics.csv``; with the semantic config they came from, for the error message."""
    hashes: set[str] = set()
    config, source = None, None
    if files.info.exists():
        info = read_info(files)
        hashes.add(str(info.get("config_hash")))
        config, source = info.get("config") or None, files.info
    else:
        found = newest_checkpoint(files, [files.ckpt("last"), *reversed(grid_checkpoints(files))])
        if found is not None:
            path, payload = found
            hashes.add(str(payload.get("config_hash")))
            config, source = semantic_dict(OmegaConf.create(payload["config"])), path
    if files.metrics.exists():
        try:
            in_metrics = {str(h) for h in files.read_metrics()["config_hash"].dropna().unique()}
        except Exception:  # noqa: BLE001 - a damaged metrics.csv is reported where it is read
            in_metrics = set()
        if in_metrics - hashes:
            source = source or files.metrics
        hashes |= in_metrics
    return {"hashes": hashes, "config": config, "source": source}


def has_results(files: RunFiles) -> bool:
    """Whether the run computed anything (a directory whose run stopped before its first
    checkpoint or metric, e.g. on a config error, may be claimed by another config)."""
    has_ckpt = files.ckpt_dir.is_dir() and any(files.ckpt_dir.glob("*.pt"))
    return files.metrics.exists() or has_ckpt


#: What a run directory written before manifests existed may hold (``overwrite=true`` on
#: such a directory deletes these names only).
LEGACY_FILES = RunFiles.FILES


def legacy_entries(files: RunFiles) -> list[str]:
    out = [n for n in LEGACY_FILES if (files.dir / n).exists()]
    if files.ckpt_dir.is_dir() and not files.ckpt_dir.is_symlink():
        out += [f"{RunFiles.CKPT}/{p.name}" for p in files.ckpt_dir.iterdir() if RunFiles.LEGACY_CKPT.fullmatch(p.name)]
    if files.eval_dir.is_dir() and not files.eval_dir.is_symlink():
        for d in files.eval_dir.iterdir():
            if d.is_dir() and not d.is_symlink():
                out += [f"{RunFiles.EVAL}/{d.name}/{p.name}" for p in d.glob("*.pt")]
    return out


def wipe_run_dir(files: RunFiles) -> None:
    """Delete what the run wrote (its manifest; for an older run directory without one, the
    fixed names of the run layout), ``DONE`` first; never a user's file, never through a
    symlink (a symlinked ``ckpt/`` is unlinked, not entered)."""
    entries = read_manifest(files.dir) if (files.dir / MANIFEST).exists() else legacy_entries(files)
    wipe_recorded(files.dir, entries, first=(RunFiles.DONE,), last=(RunFiles.INFO,))


def forget_if_empty(files: RunFiles) -> None:
    """After a failed command: a run directory in which nothing was computed (only its
    config, run.json or model summary were written) is removed again, so failed commands
    leave no half-made runs (and :func:`run_lock` then drops the ``.lock``)."""
    if not (files.dir / MANIFEST).exists() or has_results(files) or files.done.exists():
        return
    entries = read_manifest(files.dir)
    present = {p.name for p in files.dir.iterdir()} - NOT_CONTENT - {MANIFEST}
    if set(entries) <= {RunFiles.CONFIG, RunFiles.INFO, RunFiles.MODEL_SUMMARY, RunFiles.RUN_LOG} and present <= set(entries):
        wipe_recorded(files.dir, entries, first=(), last=(RunFiles.INFO,))
