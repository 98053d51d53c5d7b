"""The evaluation engine: run an attack suite on a model and report robust accuracy.

Rules:
- by default (attack ``points: robust``) points misclassified when clean are non-robust and
  are never attacked: each attack sees only clean-correct points and reports, per eps, the
  predicted class on its output; an attack with ``points: all`` is run on every point and
  its prediction is counted as it is, so a clean-misclassified image that the perturbation
  turns right counts as right (paper auc, Kunhardt, Deza & Poggio, FGSM accuracy-vs-eps
  curves; the curve may then rise with eps and R (eq. 1) uses f(0) on the same points);
- which iterate of PGD/SPSA counts is the attack's ``iterate`` (best | last), see
  :mod:`robustbench_runner.attacks.base`;
- the worst case over a suite, per eps: a point is robust only if every attack at that eps
  left it correctly classified;
- clean accuracy is reported on the points the attacks ran on as well (label
  :data:`CLEAN_ATTACKED`, see :func:`attacked_clean_rows`), next to the pipeline's clean
  accuracy on the whole evaluation split (label :data:`CLEAN`), so a table can compare
  clean and robust accuracy on the same points;
- sweeps (an attack with several eps) also get the normalized AUC R (paper auc eq. 1) and
  the raw AUC (paper prs appendix);
- parameters do not require grad during attacks; an out-of-memory error halves the batch
  and retries (the attacks' per-point randomness makes the retry give the same numbers);
- device-agnostic: the points, labels and every bookkeeping tensor stay on the CPU; only
  each batch goes to ``device`` and its predictions come back, so no tensor of one device
  is ever written into another's; results are CPU tensors;
- precision (``tf32``, ``eval.tf32``): whether the attacks may use TF32 on NVIDIA GPUs
  (:func:`.attacks.precision.tf32`; SPSA turns it off for itself); cuDNN autotuning is off
  while attacking (every compaction of a working batch is a new shape to tune);
- per-attack results can be cached in ``state_dir`` (one small file per attack), so an
  interrupted evaluation resumes without recomputing finished attacks.

Usable from a notebook without Hydra::

    from robustbench_runner.attacks import create_attack
    from robustbench_runner.evaluate import evaluate
    df = evaluate(model, x, y, {"pgd": create_attack("pgd", model, eps=8/255, steps=20)})
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import sys
import types
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from . import progress
from .attacks.base import Attack, is_out_of_memory
from .attacks.precision import tf32 as tf32_precision
from .errors import NonFiniteOutputs, UserError
from .faults import crash_point
from .io import atomic_write_bytes, load_checkpoint
from .metrics import normalized_auc, raw_auc
from .seeding import cudnn_autotune, preserved_rng

CLEAN = "clean"
#: clean accuracy on exactly the points given to the attacks (the ``eval.n_eval`` subset)
CLEAN_ATTACKED = "clean-attacked"
WORST = "worst-case"


@contextlib.contextmanager
def frozen_eval(model: nn.Module):
    """Eval mode with parameters not requiring grad; both restored afterwards."""
    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, f in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(f)
        model.train(was_training)


def batched(fn, n: int, batch_size: int, desc: str | None = None, unit: str = "pt"):
    """Call ``fn(start, stop)`` over ``range(n)`` in batches; on out-of-memory halve the batch
    size and retry the same batch. Returns the list of results and the batch size used."""
    results = []
    start = 0
    bs = max(1, int(batch_size))
    with progress.bar(total=n, desc=desc, unit=unit) as pbar:
        while start < n:
            stop = min(n, start + bs)
            if isinstance(pbar, progress.LogBar):
                pbar.pending = stop - start  # the batch in flight (its ETA counts progress.within)
            try:
                results.append(fn(start, stop))
            except RuntimeError as e:
                if not is_out_of_memory(e) or bs == 1:
                    raise
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                bs = max(1, bs // 2)
                continue
            pbar.update(stop - start)
            start = stop
    return results, bs


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 500, device=None) -> torch.Tensor:
    """Clean predictions for every row of ``x`` (eval mode, batched, on ``device``), on CPU."""
    device = device or next(model.parameters()).device

    def run(a, b):
        logits = model(x[a:b].to(device))
        if not bool(torch.isfinite(logits).all()):  # run-safety: never score a diverged model
            raise NonFiniteOutputs(f"the model's logits are not finite (NaN or inf) on points {a}..{b - 1}", fix="the weights diverged: retrain with a lower learning rate")
        return logits.argmax(dim=1).cpu()

    with frozen_eval(model):
        out, _ = batched(run, len(x), batch_size, desc="clean predictions", unit="img")
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def attack_fingerprint(attack: Attack, x: torch.Tensor, y: torch.Tensor) -> str:
    """Identifies an attack's configuration and the points it ran on (for resume files): the
    same in every process (:func:`_canonical`: a function is its import path, never a repr
    holding a memory address, which would make a resumed process redo every attack)."""
    public = {k: v for k, v in vars(attack).items() if k not in ("model", "generator") and not k.startswith("_")}
    h = hashlib.sha256(repr(_canonical(public)).encode())
    h.update(repr((tuple(x.shape), float(x.double().sum()), y.tolist())).encode())
    return h.hexdigest()[:16]


def _canonical(value, depth: int = 0):
    """``value`` as plain data whose repr is the same in every process: containers item by
    item (dicts in key order), functions and classes by their import path, partials by their
    function and arguments, other objects by their class and public attributes."""
    if depth > 8:
        return type(value).__qualname__
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, dict):
        return [(str(k), _canonical(v, depth + 1)) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))]
    if isinstance(value, (list, tuple)):
        return [_canonical(v, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(repr(_canonical(v, depth + 1)) for v in value)
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), str(value.dtype), value.detach().cpu().flatten()[:64].tolist())
    if isinstance(value, functools.partial):
        return ("partial", _canonical(value.func, depth + 1), _canonical(value.args, depth + 1), _canonical(value.keywords, depth + 1))
    if isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(value))}"
    if isinstance(value, types.MethodType):
        return ("method", _canonical(value.__self__, depth + 1), value.__func__.__qualname__)
    if isinstance(value, torch.nn.Module):
        return type(value).__module__ + "." + type(value).__qualname__
    attrs = getattr(value, "__dict__", None)
    if isinstance(attrs, dict):
        public = {k: v for k, v in attrs.items() if not k.startswith("_") and k not in ("model", "generator")}
        return (type(value).__module__ + "." + type(value).__qualname__, _canonical(public, depth + 1))
    text = repr(value)
    return type(value).__module__ + "." + type(value).__qualname__ if " at 0x" in text else text


def attack_predictions(
    model: nn.Module,
    attack: Attack,
    x: torch.Tensor,
    y: torch.Tensor,
    clean_pred: torch.Tensor,
    batch_size: int = 250,
    device=None,
) -> dict[float, torch.Tensor]:
    """Predictions under ``attack`` for every point, as CPU tensors. ``attack.points ==
    "robust"``: clean predictions for points that were misclassified when clean, the attack's
    output predictions for the others; ``"all"``: the attack's output predictions for every
    point. ``x``, ``y`` and ``clean_pred`` may live on any device: the bookkeeping is done on
    the CPU, each batch is moved to ``device`` and its predictions back."""
    device = device or next(model.parameters()).device
    y, clean_pred = y.cpu(), clean_pred.cpu()
    if getattr(attack, "points", "robust") == "all":
        correct = torch.arange(len(y))
    else:
        correct = (clean_pred == y).nonzero().squeeze(1)
    out = {eps: clean_pred.clone() for eps in attack.eps_list}
    if correct.numel() == 0:
        return out
    xc, yc = x[correct.to(x.device)], y[correct]
    attack.reset_rng(device)

    def run(a, b):
        with preserved_rng():
            preds = attack.predictions(xc[a:b].to(device, non_blocking=True), yc[a:b].to(device, non_blocking=True))
        crash_point("attack_batch")
        preds = {eps: p.cpu() for eps, p in preds.items()}
        progress.count_robust(preds, yc[a:b], n_all=len(y))  # robust acc so far, for log lines
        return preds

    parts, _ = batched(run, len(correct), batch_size, desc=attack.name)
    for eps in attack.eps_list:
        out[eps][correct] = torch.cat([p[eps] for p in parts])
    return out


def _as_dict(attacks: Mapping[str, Attack] | Iterable[Attack]) -> dict[str, Attack]:
    if isinstance(attacks, Mapping):
        return dict(attacks)
    return {a.name: a for a in attacks}


def run_suite(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attacks: Mapping[str, Attack] | Iterable[Attack],
    *,
    batch_size: int = 250,
    device=None,
    state_dir: str | Path | None = None,
    on_attack_done=None,
    tf32: bool | None = None,
) -> tuple[torch.Tensor, dict[str, dict[float, torch.Tensor]]]:
    """Clean predictions and, per attack label, ``{eps: predictions}`` for every point.

    With ``state_dir``, each finished attack is saved as ``<state_dir>/<key>.pt`` and reused
    (if its fingerprint matches) when the suite is run again. ``on_attack_done(label, preds)``
    is called after each attack (the pipeline writes its CSV rows there). ``tf32``: allow
    TF32 in CUDA matmuls and cuDNN convolutions (True) or not (False) while evaluating
    (``eval.tf32``); None leaves the backends as they are.
    """
    attacks = _as_dict(attacks)
    labels = [a.name for a in attacks.values()]
    if len(set(labels)) != len(labels):
        raise ValueError(f"two attacks of the suite share a name: {labels}")
    device = device or next(model.parameters()).device
    x, y = x.cpu(), y.cpu()
    results: dict[str, dict[float, torch.Tensor]] = {}
    precision = contextlib.nullcontext() if tf32 is None else tf32_precision(bool(tf32))
    with frozen_eval(model), precision, cudnn_autotune(False):
        clean_pred = predict(model, x, batch_size, device)
        for key, attack in attacks.items():
            path = Path(state_dir) / f"{key}.pt" if state_dir else None
            fp = attack_fingerprint(attack, x, y)
            preds = _load_state(path, fp)
            if preds is None:
                preds = attack_predictions(model, attack, x, y, clean_pred, batch_size, device)
                if path is not None:
                    _save_state(path, fp, preds)
            results[attack.name] = preds
            if on_attack_done is not None:
                on_attack_done(attack, preds)
    return clean_pred, results


def _load_state(path: Path | None, fingerprint: str):
    if path is None or not path.exists():
        return None
    try:
        state = load_checkpoint(path)
    except UserError as e:  # run-safety: a damaged state file only costs recomputing its attack
        print(f"[rbr] warning: {e.message}; recomputing that attack", file=sys.stderr)
        return None
    if state.get("fingerprint") != fingerprint:
        return None  # a different attack config or different points: recompute
    return {float(e): p for e, p in zip(state["eps"], state["preds"], strict=True)}


def _save_state(path: Path, fingerprint: str, preds: dict[float, torch.Tensor]) -> None:
    import io as _io

    buf = _io.BytesIO()
    torch.save({"fingerprint": fingerprint, "eps": list(preds), "preds": [preds[e] for e in preds]}, buf)
    atomic_write_bytes(path, buf.getvalue())


def fraction(mask: torch.Tensor) -> float:
    """Exact fraction of True entries (count / n in float64, not a float32 mean)."""
    return int(mask.sum()) / mask.numel() if mask.numel() else float("nan")


def accuracy_rows(label: str, preds: dict[float, torch.Tensor], y: torch.Tensor) -> list[dict]:
    """Long-format rows for one attack: acc per eps, plus R and raw AUC for sweeps."""
    n = len(y)
    rows = [
        {"attack": label, "eps": float(eps), "metric": "acc", "value": fraction(p == y), "n": n}
        for eps, p in sorted(preds.items())
    ]
    if len(preds) >= 2:
        eps = [r["eps"] for r in rows]
        acc = [r["value"] for r in rows]
        rows.append({"attack": label, "eps": float("nan"), "metric": "auc_norm", "value": normalized_auc(eps, acc), "n": n})
        rows.append({"attack": label, "eps": float("nan"), "metric": "auc_raw", "value": raw_auc(eps, acc), "n": n})
    return rows


def attacked_clean_rows(clean_pred: torch.Tensor, y: torch.Tensor) -> list[dict]:
    """Clean accuracy on the attacked points (label :data:`CLEAN_ATTACKED`): the same points
    and ``n`` as the attacks' rows, so robust accuracy can never exceed it."""
    return [{"attack": CLEAN_ATTACKED, "eps": 0.0, "metric": "acc", "value": fraction(clean_pred == y), "n": len(y)}]


def worst_case_rows(results: dict[str, dict[float, torch.Tensor]], y: torch.Tensor) -> list[dict]:
    """Per eps reached by >= 2 attacks: a point is robust only if every attack at that eps
    left it correctly classified."""
    by_eps: dict[float, list[torch.Tensor]] = {}
    for preds in results.values():
        for eps, p in preds.items():
            by_eps.setdefault(float(eps), []).append(p == y)
    rows = []
    for eps, masks in sorted(by_eps.items()):
        if len(masks) >= 2:
            robust = torch.stack(masks).all(dim=0)
            rows.append({"attack": WORST, "eps": eps, "metric": "acc", "value": fraction(robust), "n": len(y)})
    return rows


def confusion_rows(label: str, preds: dict[float, torch.Tensor], y: torch.Tensor, num_classes: int) -> list[dict]:
    """Confusion counts (true class x predicted class) per eps: paper vir fig. 2's per-class
    robust accuracy is the diagonal over the row sums."""
    rows = []
    for eps, p in sorted(preds.items()):
        counts = torch.bincount(y * num_classes + p, minlength=num_classes * num_classes).view(num_classes, num_classes)
        for t in range(num_classes):
            for q in range(num_classes):
                if counts[t, q]:
                    rows.append({"attack": label, "eps": float(eps), "true": t, "pred": q, "count": int(counts[t, q])})
    return rows


def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attacks: Mapping[str, Attack] | Iterable[Attack],
    *,
    batch_size: int = 250,
    device=None,
    include_clean: bool = True,
    worst_case: bool = True,
    state_dir: str | Path | None = None,
    tf32: bool | None = None,
) -> pd.DataFrame:
    """Robust accuracy of ``model`` on ``(x, y)`` under each attack of the suite.

    Returns a long DataFrame with columns ``attack, eps, metric, value, n``: ``acc`` per attack
    and eps, ``auc_norm``/``auc_raw`` for eps sweeps, ``clean`` accuracy and the ``worst-case``
    over the suite per eps. ``tf32``: as in :func:`run_suite`.
    """
    clean_pred, results = run_suite(model, x, y, attacks, batch_size=batch_size, device=device, state_dir=state_dir, tf32=tf32)
    y = y.cpu()
    rows = []
    if include_clean:
        rows.append({"attack": CLEAN, "eps": 0.0, "metric": "acc", "value": fraction(clean_pred == y), "n": len(y)})
    for label, preds in results.items():
        rows += accuracy_rows(label, preds, y)
    if worst_case:
        rows += worst_case_rows(results, y)
    return pd.DataFrame(rows, columns=["attack", "eps", "metric", "value", "n"])
