"""RobustBench model zoo (Croce et al., "RobustBench: a standardized adversarial robustness
benchmark", NeurIPS 2021 Datasets and Benchmarks, arXiv:2010.09670) as a checkpoint source:

    rbr-run mode=eval checkpoint=robustbench:<model id> dataset=cifar10 attacks=<any suite>

The model is built and loaded by the ``robustbench`` package itself
(``robustbench.utils.load_model``), from its ``model_dir`` layout
``<robustbench.model_dir>/<dataset>/<threat model>/<id>.pt`` (ensembles: ``<id>.pt_m<i>.pt``).
Nothing is downloaded unless ``robustbench.download=true`` (then RobustBench fetches missing
weights, which needs internet). The zoo's dataset is the run's ``data.name`` (cifar10,
cifar100) and its leaderboard ``robustbench.threat_model`` (Linf, L2, corruptions). Zoo
models take inputs in [0, 1] and normalize inside, the convention rbr's attacks assume.

The leaderboard's reported clean and robust (AutoAttack) accuracies are read from the
Model Zoo tables in the installed package's own description (its README, shipped in the
wheel's metadata) and written beside this run's numbers to ``leaderboard.csv`` (``RunFiles.LEADERBOARD``).

Only ``robustbench.utils`` and ``robustbench.model_zoo`` are imported (see
:func:`import_robustbench` for why the package's own ``__init__`` may be skipped).
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.metadata
import importlib.util
import os
import re
import sys
import types
import warnings
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from ..errors import UserError

#: rbr dataset name -> RobustBench BenchmarkDataset value.
ZOO_DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100"}
#: The leaderboards' budgets (RobustBench README: "Linf, eps=8/255", "L2, eps=0.5").
LEADERBOARD_EPS = {"Linf": 8 / 255, "L2": 0.5}
README_DATASETS = {"CIFAR-10": "cifar10", "CIFAR-100": "cifar100", "ImageNet": "imagenet"}
INSTALL_FIX = "pip install 'robustbench_runner[robustbench]' (the robustbench package from PyPI)"


def import_robustbench():
    """``robustbench.utils`` (its ``load_model``) and ``robustbench.model_zoo`` (UserError when
    the package is not installed).

    The package's ``__init__`` also imports its benchmark code, which in robustbench 1.1.1 from
    PyPI cannot be imported: it needs ``pkg_resources`` (gone from setuptools >= 81) and a
    module named ``autoattack``, while its PyPI dependency ``pyautoattack`` installs
    ``pyautoattack``. Model loading needs neither, so when either is missing, the two
    submodules are imported under a bare ``robustbench`` package (no ``__init__`` code run)."""
    try:
        spec = importlib.util.find_spec("robustbench")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "checkpoint=robustbench:... needs the robustbench package, which is not installed",
            fix=INSTALL_FIX,
        )
    init_imports = all(
        importlib.util.find_spec(m) is not None for m in ("pkg_resources", "autoattack")
    )
    if "robustbench" not in sys.modules and not init_imports:
        bare = types.ModuleType("robustbench")
        bare.__path__ = list(spec.submodule_search_locations)  # type: ignore[attr-defined]
        bare.__spec__ = spec
        sys.modules["robustbench"] = bare
    try:
        with warnings.catch_warnings():  # timm's and torch.jit's deprecation notes on import
            warnings.simplefilter("ignore")
            import robustbench.model_zoo as zoo
            import robustbench.utils as utils
    except ImportError as e:
        raise UserError(
            f"the installed robustbench package cannot be imported ({e})", fix=INSTALL_FIX
        ) from e
    return utils, zoo


def zoo_entries(dataset: str, threat_model: str) -> dict:
    _, zoo = import_robustbench()
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    try:
        tm = ThreatModel(threat_model)
    except ValueError:
        raise UserError(
            f"robustbench.threat_model={threat_model} is not a RobustBench threat model",
            fix=f"use one of {[t.value for t in ThreatModel]}",
        ) from None
    return zoo.model_dicts[BenchmarkDataset(dataset)].get(tm, {})


def weight_files(
    model_dir: Path, dataset: str, threat_model: str, model_id: str, entry: dict
) -> list[Path]:
    """The files ``robustbench.utils.load_model`` reads for ``model_id`` (its layout)."""
    base = Path(model_dir) / dataset / threat_model / f"{model_id}.pt"
    ids = entry.get("gdrive_id")
    if isinstance(ids, list):
        return [Path(f"{base}_m{i}.pt") for i in range(len(ids))]
    return [base]


def open_zoo_model(model_id: str, cfg: DictConfig):
    """The :class:`~robustbench_runner.user_checkpoints.UserCheckpoint` of a zoo model."""
    from ..user_checkpoints import UserCheckpoint

    rb = cfg.get("robustbench") or {}
    threat_model = str(rb.get("threat_model", "Linf"))
    model_dir = Path(str(rb.get("model_dir", "models")))
    download = bool(rb.get("download", False))
    data_name = str(cfg.data.name)
    if not model_id:
        raise UserError(
            "checkpoint=robustbench: needs a model id",
            fix="e.g. checkpoint=robustbench:Carmon2019Unlabeled (ids: the RobustBench Model Zoo tables)",
        )
    from ..config import check_zoo_id

    model_id = check_zoo_id(model_id)  # it becomes a file name under model_dir (and a run folder name)
    dataset = ZOO_DATASETS.get(data_name)
    if dataset is None:
        raise UserError(
            f"checkpoint=robustbench:{model_id} with dataset={data_name}: the RobustBench zoo rbr can attack holds CIFAR-10 and CIFAR-100 models",
            fix="add dataset=cifar10 or dataset=cifar100 (the dataset the zoo model was trained on)",
        )
    entries = zoo_entries(dataset, threat_model)
    if model_id not in entries:
        close = difflib.get_close_matches(model_id, list(entries), n=5, cutoff=0.5)
        hint = (
            f"did you mean {', '.join(close)}?"
            if close
            else f"{len(entries)} ids exist for {dataset} {threat_model}; see the RobustBench Model Zoo tables"
        )
        raise UserError(
            f"unknown RobustBench model id {model_id!r} for {dataset} {threat_model}",
            fix=f"{hint} (another leaderboard: robustbench.threat_model=L2|corruptions; another dataset: dataset=cifar100)",
        )
    entry = entries[model_id]
    utils, _ = import_robustbench()
    timm_name = f"{model_id.lower().replace('-', '_')}_{dataset}_{threat_model.lower()}"
    files = weight_files(model_dir, dataset, threat_model, model_id, entry)
    hosted_by_timm = _timm_has(timm_name)
    missing = [f for f in files if not os.path.lexists(f)]
    for f in files:  # what RobustBench will torch.load: a bounded regular file (a FIFO would hang it)
        if f not in missing:
            from ..reading import checkpoint_format

            checkpoint_format(f)
    if (hosted_by_timm or missing) and not download:
        where = (
            "on the Hugging Face hub (through timm)"
            if hosted_by_timm
            else f"not in {model_dir}: expected {missing[0]}"
        )
        raise UserError(
            f"the weights of RobustBench model {model_id} ({dataset}, {threat_model}) are {where}",
            fix="add robustbench.download=true on a machine with internet (RobustBench downloads them into robustbench.model_dir), "
            "or copy the file to that path / point robustbench.model_dir=<folder> at your RobustBench models folder",
        )
    print(
        f"[rbr] RobustBench model {model_id} ({dataset}, {threat_model}) from {model_dir}"
        + (" (download allowed)" if download else ""),
        flush=True,
    )
    env = {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"} if cfg.get("checkpoint_trusted") else {}
    if env:
        print(
            f"[rbr] checkpoint_trusted=true: RobustBench loads {model_id} with weights_only=False, which runs code from the file",
            flush=True,
        )
    try:
        with _environ(env):
            model = utils.load_model(
                model_id, model_dir=str(model_dir), dataset=dataset, threat_model=threat_model
            )
    except Exception as e:
        msg = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(e)).split())[:300]
        raise UserError(
            f"RobustBench could not load {model_id} from {model_dir} ({type(e).__name__}: {msg})",
            fix="check that the file is the one RobustBench distributes (a partial download can be removed by you and fetched again with robustbench.download=true)",
        ) from e
    info = {
        "source": "robustbench",
        "id": model_id,
        "dataset": dataset,
        "threat_model": threat_model,
    }
    model_cfg = {"name": f"robustbench-{model_id}", **info, "class": type(model).__name__}
    leaderboard = reported_numbers(model_id, dataset, threat_model)

    def after_eval(files) -> None:
        df = compare(
            files.read_metrics(),
            leaderboard,
            info,
            float(OmegaConf.select(cfg, "data.eps", default=float("nan"))),
        )
        from ..io import atomic_write_text
        from ..reading.csvs import spreadsheet_csv

        atomic_write_text(files.leaderboard, spreadsheet_csv(df))  # zoo metadata text: no formula reaches a spreadsheet
        print_comparison(df, info, leaderboard)

    return UserCheckpoint(
        model_id,
        model.state_dict(),
        None,
        None,
        "robustbench",
        files[0],
        module=model.eval(),
        model_cfg=model_cfg,
        after_eval=after_eval,
    )


def _timm_has(name: str) -> bool:
    try:
        import timm
    except ImportError:
        return False
    return bool(timm.is_model(name))


@contextlib.contextmanager
def _environ(extra: dict):
    old = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# -- the leaderboard's reported numbers --------------------------------------------------------


def _cell(text: str) -> str:
    return re.sub(r"</?(sub|sup)>|\*\*|\*", "", text).strip()


def leaderboard_tables(description: str | None = None) -> dict[tuple[str, str], dict[str, dict]]:
    """``{(dataset, threat model): {model id: {"clean", "robust", "architecture"}}}`` parsed from
    the Model Zoo tables of RobustBench's README (the installed package's description)."""
    if description is None:
        try:
            meta = importlib.metadata.metadata("robustbench")
        except importlib.metadata.PackageNotFoundError:
            return {}
        description = meta.get_payload() or meta.get("Description") or ""  # type: ignore[attr-defined]
    out: dict[tuple[str, str], dict[str, dict]] = {}
    dataset = threat = None
    columns: list[str] | None = None
    for line in description.splitlines():
        s = line.strip()
        if s.startswith("### ") and not s.startswith("####"):
            dataset = next(
                (
                    v
                    for k, v in README_DATASETS.items()
                    if s[4:].strip().startswith(k) and not s[4:].strip().startswith(k + "0")
                ),
                None,
            )
            threat, columns = None, None
        elif s.startswith("#### ") and dataset:
            head = s[5:].strip().lower()
            threat = (
                "Linf"
                if head.startswith("linf")
                else "L2"
                if head.startswith("l2")
                else "corruptions"
                if "corruption" in head
                else None
            )
            columns = None
        elif s.startswith("|") and dataset and threat:
            cells = [_cell(c) for c in s.strip("|").split("|")]
            if columns is None:
                columns = [c.lower() for c in cells]
                continue
            if set("".join(cells)) <= set(":- "):
                continue
            row = dict(zip(columns, cells, strict=False))
            mid = row.get("model id")
            if mid:
                out.setdefault((dataset, threat), {})[mid] = {
                    "clean": _pct(row.get("clean accuracy")),
                    "robust": _pct(row.get("robust accuracy")),
                    "architecture": row.get("architecture", ""),
                }
    return out


def _pct(text) -> float | None:
    m = re.search(r"([\d.]+)\s*%", str(text or ""))
    return float(m.group(1)) / 100 if m else None


def reported_numbers(model_id: str, dataset: str, threat_model: str) -> dict | None:
    row = leaderboard_tables().get((dataset, threat_model), {}).get(model_id)
    if row is None:
        return None
    try:
        version = importlib.metadata.version("robustbench")
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    metric = "AutoAttack" if threat_model in LEADERBOARD_EPS else "corruptions"
    return {
        **row,
        "metric": metric,
        "source": f"robustbench {version} README, Model Zoo table ({dataset}, {threat_model})",
    }


def compare(metrics: pd.DataFrame, reported: dict | None, info: dict, eps: float) -> pd.DataFrame:
    """Rows ``quantity, reported, this_run, n, eps``: clean accuracy, then each of this run's
    attacks at the leaderboard's eps (the reported robust accuracy on the AutoAttack row)."""
    lb_eps = LEADERBOARD_EPS.get(info["threat_model"])
    rows = []
    acc = metrics[metrics.metric == "acc"] if len(metrics) else metrics
    clean = acc[acc.attack == "clean"]
    rows.append(
        {
            "quantity": "clean",
            "reported": (reported or {}).get("clean"),
            "this_run": _first(clean, "value"),
            "n": _first(clean, "n"),
            "eps": 0.0,
        }
    )
    robust_label = f"robust ({(reported or {}).get('metric', 'AutoAttack')})"
    matched = False
    for attack in dict.fromkeys(acc.attack) if len(acc) else []:
        if attack == "clean":
            continue
        at = acc[acc.attack == attack]
        if lb_eps is not None:
            at = at[(at.eps - lb_eps).abs() < 1e-9]
        if at.empty:
            continue
        is_aa = "autoattack" in str(attack).lower().replace("-", "").replace(" ", "")
        matched |= is_aa
        rows.append({
            "quantity": robust_label if is_aa else f"robust ({attack})",
            "reported": (reported or {}).get("robust") if is_aa else None,
            "this_run": _first(at, "value"), "n": _first(at, "n"), "eps": float(at.eps.iloc[0]),
        })  # fmt: skip
    if not matched:
        rows.insert(
            1,
            {
                "quantity": robust_label,
                "reported": (reported or {}).get("robust"),
                "this_run": None,
                "n": None,
                "eps": lb_eps,
            },
        )
    df = pd.DataFrame(rows)
    for k, v in info.items():
        df[k] = v
    df["reported_source"] = (reported or {}).get(
        "source", "not in the installed robustbench's Model Zoo tables"
    )
    df["run_eps"] = eps
    return df


def _first(df: pd.DataFrame, col: str):
    return (
        None
        if df.empty
        else df[col].iloc[0].item()
        if hasattr(df[col].iloc[0], "item")
        else df[col].iloc[0]
    )


def print_comparison(df: pd.DataFrame, info: dict, reported: dict | None) -> None:
    src = (
        reported["source"]
        if reported
        else "no reported numbers: the id is not in the installed robustbench's Model Zoo tables"
    )
    print(
        f"\n[rbr] RobustBench {info['id']} ({info['dataset']}, {info['threat_model']}): leaderboard vs this run ({src})"
    )
    show = df[["quantity", "eps", "reported", "this_run", "n"]].copy()
    for col in ("reported", "this_run"):
        show[col] = [("-" if v is None or pd.isna(v) else f"{float(v):.4f}") for v in show[col]]
    show["n"] = ["-" if v is None or pd.isna(v) else str(int(v)) for v in show["n"]]
    show["eps"] = ["-" if v is None or pd.isna(v) else f"{float(v):.4g}" for v in show["eps"]]
    print(show.to_string(index=False))
    eps = df["run_eps"].iloc[0]
    lb = LEADERBOARD_EPS.get(info["threat_model"])
    if lb is not None and abs(float(eps) - lb) > 1e-9:
        print(
            f"[rbr] note: data.eps={eps:g} differs from the leaderboard's eps {lb:.4g}; robust rows are at the leaderboard's eps only"
        )
