"""Shared warm-up: train the common prefix of several schemes once and branch each from it
(docs/warmup.md).

Every reweighted scheme trains with weights w = 1 for epochs ``1..burn_in``
(:class:`~.schemes.reweighted.ReweightedScheme`), so for one (model, dataset, seed, optimizer,
training attack) its first ``burn_in`` epochs are the computation of the plain scheme its loss
reduces to: mean_i(1 * CE(f(x'_i), y_i)) is PGD-AT's mean CE(f(x'), y) bit for bit (a product
with 1.0 is exact in IEEE arithmetic, forward and backward), and weighted TRADES with w = 1 is
TRADES. A *warm-up run* keeps ``ckpt/branch_XXX.pt`` at the epochs of ``warmup.save_at``: the
very payload of ``ckpt/last.pt`` (model, optimizer, schedule, best-so-far) plus the weights of
``ckpt/best.pt`` as of that epoch. A run with ``warmup.from=<run dir or folder of runs>`` whose
own directory is fresh starts from that state instead of epoch 0: it writes its own
``last.pt`` (its config and hash), the grid checkpoints and ``train_log.csv`` /
``weights_log.csv`` rows of the shared epochs, and the ordinary resume path
(``TrainRun.restore``) continues from there.

RNG: no random state crosses an epoch boundary: ``train_one_epoch`` reseeds the global
generators, the data-order/augmentation generator and the training attack from (seed, epoch)
at the start of every epoch, and evaluation runs under ``preserved_rng``; so the state at the
end of epoch K is fully given by (model, optimizer, schedule), which is what ``last.pt``
already resumes from (the exactness test, tests/test_warmup.py, checks it byte for byte).

Warm-up equivalence (:func:`differing_keys`): parent and child must agree on every config key
that the training of epochs ``1..K`` reads (:data:`TRAINING_KEYS`), and their schemes must have
the same *warm-up signature* (each scheme class's ``warmup_rule``, :func:`scheme_rule`): the loss family they compute for epochs <= K and
the scheme keys that loss reads. Keys that only weigh after the burn-in (burn_in, multiplier,
normalize, detach, the weight formula's constants) and evaluation keys (eval, attacks,
analysis, tag, name) may differ.

Nothing read from the parent's files chooses an import: its config is compared as data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from .config import Difference, config_diff, semantic_dict
from .errors import UserError
from .io import atomic_write_text, load_checkpoint, save_checkpoint
from .reading import BadFile, load_json
from .results import RunFiles
from .schemes.base import SCHEMES, WarmupRule

#: Config sections the training of an epoch reads (``TrainRun.run``: the dataset and its
#: augmentation, the model and its initial weights, the optimizer and schedule, batch size /
#: epochs / AMP / memory format, the seeds, deterministic kernels, and the selection that
#: writes the ``select_*`` column of train_log.csv and ckpt/best.pt). ``train.epochs`` is
#: kept although the paper schedules (MultiStepLR) do not depend on it: a schedule may.
TRAINING_KEYS = (
    "data",
    "model",
    "optim",
    "train",
    "seed",
    "init_seed",
    "init_from",
    "deterministic",
    "select",
)

Rule = WarmupRule  # the warm-up signature of a scheme class: its ``warmup_rule``


def scheme_rule(target) -> WarmupRule | None:
    """The warm-up rule of the scheme class a ``_target_`` names: the class's
    :attr:`~.schemes.base.Scheme.warmup_rule` (inherited by subclasses), looked up among the
    classes already defined (:data:`~.schemes.base.SCHEMES`: rbr's, and a user's once this run
    built it); never an import, so a parent's stored config cannot choose one. None: no rule."""
    cls = SCHEMES.find(str(target))
    return None if cls is None else cls.warmup_rule


def scheme_signature(scheme: dict) -> tuple[dict, int | None]:
    """(what the scheme computes in its warm-up, the last epoch it computes it: None = every
    epoch). A scheme without a rule (MART, standard, a user's class) is its whole config
    (minus its name): it shares only with an identical scheme."""
    rule = scheme_rule(scheme.get("_target_"))
    if rule is None:
        return {"scheme": {k: v for k, v in scheme.items() if k != "name"}}, None
    source = {family: own for own, family in rule.rename}  # family key -> this scheme's key
    sig = {"loss": rule.loss}
    for key in rule.keys:  # e.g. VIR-TRADES: beta = its trades_beta, not its own (weight) beta
        sig[key] = scheme.get(source.get(key, key))
    bound = None if rule.bound is None else int(scheme.get(rule.bound, 0))
    return sig, bound


def branch_epoch(cfg: DictConfig) -> int | None:
    """The epoch a run branches at: ``warmup.epoch``, else the scheme's burn-in; None when the
    scheme has no warm-up to share."""
    w = cfg.get("warmup") or {}
    if w.get("epoch") is not None:
        return int(w.epoch)
    _, bound = scheme_signature(OmegaConf.to_container(cfg.scheme, resolve=True))
    return bound if bound else None


def differing_keys(parent: dict, child: dict, epoch: int) -> list[str]:
    """Why two semantic configs do not share their first ``epoch`` epochs ([] = they do)."""
    out = _shown(config_diff({k: parent.get(k) for k in TRAINING_KEYS}, {k: child.get(k) for k in TRAINING_KEYS}))
    (psig, pbound), (csig, cbound) = (
        scheme_signature(parent["scheme"]),
        scheme_signature(child["scheme"]),
    )
    out += _shown(config_diff({"scheme": psig}, {"scheme": csig}))
    for who, bound, name in (
        ("parent", pbound, parent["scheme"].get("name")),
        ("this run", cbound, child["scheme"].get("name")),
    ):
        if bound is not None and bound < epoch:
            out.append(
                f"{who}'s scheme {name} reweights from epoch {bound + 1} (burn_in {bound} < branch epoch {epoch})"
            )
    return out


def _shown(diff: list[Difference]) -> list[str]:
    return [f"{d.key} ({_short(d.old)} vs {_short(d.new)})" for d in diff]


def _short(v) -> str:
    s = json.dumps(v, sort_keys=True, default=str) if isinstance(v, (dict, list)) else str(v)
    return s if len(s) <= 60 else s[:57] + "..."


def branch_file(run_dir: Path, epoch: int) -> Path:
    """A run directory's branch state after ``epoch`` (:meth:`.results.RunFiles.branch_ckpt`)."""
    return RunFiles(run_dir).branch_ckpt(epoch)


@dataclass
class Branch:
    path: Path  # the parent's ckpt/branch_XXX.pt
    payload: dict
    epoch: int

    @property
    def run_dir(self) -> Path:
        return self.path.parent.parent

    def info(self) -> dict:
        """What run.json records about the branch (provenance)."""
        return {
            "parent": str(self.run_dir.resolve()),
            "parent_run": self.run_dir.name,
            "parent_config_hash": str(self.payload.get("config_hash")),
            "parent_scheme": OmegaConf.create(self.payload["config"]).scheme.get("name"),
            "epoch": self.epoch,
            "checkpoint": str(self.path.resolve()),
        }


def _candidates(source: Path, epoch: int, own: Path) -> list[Path]:
    run = RunFiles(source)
    if run.ckpt_dir.is_dir() or run.info.exists():
        return [run.branch_ckpt(epoch)]  # one run directory
    return sorted(
        p
        for p in source.glob(RunFiles.branch_pattern(epoch))
        if p.parent.parent.resolve() != own.resolve()
    )


def find_branch(cfg: DictConfig, own_dir: Path) -> Branch | None:
    """The warm-up state this run starts from (``warmup.from``: a run directory, or a folder
    of run directories such as a sweep, searched for a warm-up-equivalent run), or None when
    it trains its prefix itself. A named run that does not fit is a one-line UserError naming
    the differing keys; in a folder, runs that do not fit are skipped."""
    w = cfg.get("warmup") or {}
    if not w.get("from"):
        return None
    source = Path(str(w["from"]))
    epoch = branch_epoch(cfg)
    single = RunFiles(source).info.exists() or RunFiles(source).ckpt_dir.is_dir()
    if epoch is None:
        if single:
            raise UserError(
                f"warmup.from={source}: scheme {cfg.scheme.name!r} has no burn-in, so there is no warm-up to share",
                fix="drop warmup.from, or set warmup.epoch=<epoch> to branch from an identical scheme's run",
            )
        print(
            f"[rbr] warmup: scheme {cfg.scheme.name} has no burn-in; it trains from epoch 0",
            flush=True,
        )
        return None
    if not source.is_dir():
        return _missing(cfg, f"warmup.from={source} is not a folder")
    mine = semantic_dict(cfg)
    why: list[str] = []
    for path in _candidates(source, epoch, own_dir):
        if not path.is_file():
            why.append(f"{path.parent.parent.name} kept no {path.name}")
            continue
        stored = _stored_config(path.parent.parent)  # run.json: no checkpoint read per candidate
        diff = differing_keys(stored, mine, epoch) if stored is not None else None
        if diff is None or not diff:
            payload = load_checkpoint(
                path, fix=f"delete {path} and rerun the warm-up run with warmup.save_at=[{epoch}]"
            )
            if "optimizer" not in payload or "config" not in payload:
                raise UserError(
                    f"{path} is not a warm-up state (no optimizer state or config)",
                    fix=f"rerun the warm-up run with warmup.save_at=[{epoch}]",
                )
            # the state's own config decides (run.json only pre-selects)
            diff = differing_keys(semantic_dict(OmegaConf.create(payload["config"])), mine, epoch)
            if not diff:
                return Branch(path, payload, epoch)
        if single:
            shown = "; ".join(diff[:4]) + (f"; and {len(diff) - 4} more" if len(diff) > 4 else "")
            raise UserError(
                f"cannot branch from {path.parent.parent.name} at epoch {epoch}: its warm-up differs ({shown})",
                fix="drop warmup.from (train the prefix in this run), or point it at a run with the same training settings",
            )
        why.append(f"{path.parent.parent.name} differs ({diff[0]})")
    return _missing(
        cfg,
        f"no warm-up-equivalent run with a branch state at epoch {epoch} in {source}"
        + (f" ({'; '.join(why[:2])})" if why else ""),
    )


def _stored_config(run_dir: Path) -> dict | None:
    """The semantic config in a run's run.json (None when missing or unreadable)."""
    try:
        info = load_json(RunFiles(run_dir).info, follow_symlinks=False)
    except BadFile:
        return None
    return info["config"] if isinstance(info, dict) and isinstance(info.get("config"), dict) else None


MISSING = ("error", "train")


def save_epochs(cfg: DictConfig) -> set[int]:
    """``warmup.save_at`` checked: whole epochs in 1..train.epochs."""
    epochs = int(cfg.train.epochs)
    raw = list((cfg.get("warmup") or {}).get("save_at") or [])
    bad = [e for e in raw if not isinstance(e, int) or isinstance(e, bool) or not 1 <= e <= epochs]
    if bad:
        raise UserError(
            f"warmup.save_at={raw}: {bad[0]!r} is not an epoch in 1..{epochs}",
            fix="list whole epochs of this run, e.g. warmup.save_at=[75]",
        )
    return set(raw)


def _missing(cfg: DictConfig, what: str) -> None:
    missing = str((cfg.get("warmup") or {}).get("missing", "error"))
    if missing not in MISSING:
        raise UserError(
            f"unknown warmup.missing={missing!r}", fix=f"use one of: {', '.join(MISSING)}"
        )
    if missing == "train":
        print(f"[rbr] warmup: {what}; this run trains its prefix itself", flush=True)
        return None
    raise UserError(
        what,
        fix="run the warm-up run first (with warmup.save_at=[<epoch>]), or set warmup.missing=train",
    )


def save_branch_state(path: Path, resume_payload: dict, best_path: Path) -> None:
    """A warm-up run's branch state: ``last.pt``'s payload at this epoch, plus the weights of
    ``best.pt`` as of this epoch (a child's best-so-far; the parent's best.pt moves on)."""
    payload = dict(resume_payload)
    if payload.get("best") is not None and best_path.exists():
        payload["best_model"] = load_checkpoint(best_path)["model"]
    save_checkpoint(path, payload)


def seed_from_branch(
    files, grid: list[int], payload: Callable[[int], dict], branch: Branch, model: torch.nn.Module, bundle, weights_from_one: bool
) -> None:
    """Write into this (fresh) run directory what the unbranched run would hold after epoch
    K, in this run's own identity: ``ckpt/last.pt`` (this config and hash; the parent's model,
    optimizer, schedule, best), the grid checkpoints and ``best.pt`` of epochs <= K, and the
    ``train_log.csv`` (and ``weights_log.csv``: w = 1 in the burn-in) rows of those epochs.
    ``files``: this run's :class:`~.results.RunFiles`; ``grid``: its eval.grid; ``payload(epoch)``:
    this run's checkpoint of ``model`` (its freshly initialised model: the epoch-0 checkpoint)."""
    epoch, src = branch.epoch, branch.payload
    parent_dir = branch.run_dir
    parent = RunFiles(parent_dir)
    for e in [g for g in grid if g <= epoch]:
        if e == 0:
            state = model.state_dict()
        elif e == epoch:
            state = src["model"]
        else:
            p = parent.grid_ckpt(e)
            if not p.is_file():
                raise UserError(
                    f"this run's eval.grid needs the epoch-{e} checkpoint, which the warm-up run {parent_dir.name} did not keep",
                    fix=f"add {e} to the warm-up run's eval.grid, drop it from this run's grid, or drop warmup.from",
                )
            ck = load_checkpoint(p)
            if ck.get("config_hash") != src.get("config_hash"):
                raise UserError(
                    f"{p} comes from another config than {branch.path}",
                    fix="rerun the warm-up run, or drop warmup.from",
                )
            state = ck["model"]
        save_checkpoint(files.grid_ckpt(e), {**payload(e), "model": state})
    best = src.get("best")
    if best is not None and "best_model" in src:
        save_checkpoint(
            files.ckpt("best"),
            {
                **payload(int(best["epoch"])),
                "model": src["best_model"],
                "select": dict(best),
            },
        )
    log = parent.train_log
    if log.exists():
        rows = RunFilesReader(parent_dir).train_rows(epoch)
        for row in rows:
            files.add_train_log(row)
        if len(rows) != epoch:
            raise UserError(
                f"{log} holds {len(rows)} of the {epoch} warm-up epochs",
                fix="rerun the warm-up run, or drop warmup.from",
            )
    if weights_from_one:
        from .train import WeightTally

        y = bundle.train_for_epoch(1).y
        for e in range(1, epoch + 1):
            tally = WeightTally(bundle.num_classes)
            tally.add(torch.ones(len(y), dtype=torch.float64), torch.as_tensor(y))
            files.add_weights_log(e, tally.row())
    last = {**payload(epoch), "model": src["model"]}
    last.update(optimizer=src["optimizer"], schedule=src.get("schedule"), best=src.get("best"))
    save_checkpoint(files.ckpt("last"), last)


class RunFilesReader:
    """The parent's train_log.csv rows of the shared epochs, read through its schema."""

    def __init__(self, run_dir: Path):
        self.files = RunFiles(run_dir)

    def train_rows(self, epoch: int) -> list[dict]:
        from .results import read_result_csv, schema_for

        df = read_result_csv(self.files.train_log, schema_for(self.files.train_log)).frame
        df = df[df.epoch <= epoch].sort_values("epoch")
        return [{k: v for k, v in r.items() if not _isna(v)} for r in df.to_dict("records")]


def _isna(v) -> bool:
    try:
        return bool(v != v)  # NaN
    except Exception:  # noqa: BLE001
        return False


def record_branch(files, info: dict | None) -> None:
    """Set (or clear) the ``warmup`` entry of run.json."""
    data = load_json(files.info, follow_symlinks=False, what=RunFiles.INFO)
    if info is None:
        data.pop("warmup", None)
    else:
        data["warmup"] = info
    atomic_write_text(files.info, json.dumps(data, indent=1, sort_keys=True, default=str))


__all__ = [
    "Rule",
    "TRAINING_KEYS",
    "Branch",
    "branch_epoch",
    "differing_keys",
    "find_branch",
    "save_branch_state",
    "scheme_rule",
    "scheme_signature",
    "seed_from_branch",
]
