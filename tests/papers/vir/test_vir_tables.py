"""Paper vir (VIR): table and figure builders on a synthetic folder of runs (real file
layout), the experiment configs at both scales, and the Makefile target."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from rbr_testing import REPO, compose_cfg, reproduce_dry_run
from robustbench_runner.config import validate
from robustbench_runner.papers.vir.tables import class_accuracy
from robustbench_runner.results import METRIC_COLUMNS
from robustbench_runner.tables import build
from robustbench_runner.tables.build import Context
from robustbench_runner.tables.collect import find_runs, load_metrics
from robustbench_runner.tables.render import write_table
from robustbench_runner.tables.spec import load_spec, select_specs

TABLE_DIR = REPO / "robustbench_runner" / "papers" / "vir" / "table_specs"  # the bundle's specs
EPS = 8 / 255
SCHEMES = ["pgd_at", "trades", "mart", "gairat", "mail", "vir_trades", "vir_at"]
SUITE_A = ["clean", "FGSM", "PGD-100", "CW", "FMN-100", "AA", "MDE", "Square", "SPSA"]
VIR_DEFAULT = {"vir_at": {"alpha": 7.0, "beta": 0.007, "gamma": 10.0}, "vir_trades": {"alpha": 8.0, "beta": 1.6, "gamma": 3.0, "trades_beta": 5.0}}


def acc(model, ds, scheme, seed, attack, components="both", alpha=0.0, beta=0.0, gamma=0.0) -> float:
    v = 0.2 + 0.01 * SCHEMES.index(scheme) + 0.003 * seed + 0.04 * (model == "wrn34_10")
    v += 0.05 * ["cifar10", "cifar100", "svhn", "tinyimagenet"].index(ds) + 0.02 * (attack == "clean")
    v += 0.001 * len(attack) + 0.002 * ["both", "sv", "sd"].index(components) + 0.0003 * alpha + 0.01 * beta + 0.0007 * gamma
    return round(v, 6)


def write_run(root: Path, model, ds, scheme, seed, attacks, components="both", tag="", confusion=None, weights=None, **hp) -> Path:
    opts = dict(VIR_DEFAULT.get(scheme, {}))
    opts.update(hp)
    name = f"{ds}-{model}-{scheme}-s{seed}" + (f"-{tag}" if tag else "")
    d = root / name
    d.mkdir(parents=True)
    kw = dict(components=components, **{k: opts[k] for k in ("alpha", "beta", "gamma")}) if scheme.startswith("vir") else {}
    rows = [{"epoch": e, "checkpoint": f"epoch_{e:03d}", "split": "test", "attack": a, "eps": 0.0 if a == "clean" else EPS,
             "metric": "acc", "value": acc(model, ds, scheme, seed, a, **kw) - 0.1 * (e == 50), "n": 100}
            for e in (50, 115) for a in attacks]  # fmt: skip
    df = pd.DataFrame(rows)
    for k, v in {"run": name, "dataset": ds, "model": model, "scheme": scheme, "seed": seed, "batch_size": 128, "config_hash": "x"}.items():
        df[k] = v
    df[METRIC_COLUMNS].to_csv(d / "metrics.csv", index=False)
    scheme_cfg = {"name": scheme, **({"components": components, **opts} if scheme.startswith("vir") else {})}
    config = {"scheme": scheme_cfg, "tag": tag, "data": {"name": ds}, "model": {"name": model}}
    (d / "run.json").write_text(json.dumps({"config_hash": "x", "config": config}))
    (d / "DONE").write_text("finished\n")
    if confusion is not None:
        confusion.to_csv(d / "confusion.csv", index=False)
    if weights is not None:
        weights.to_csv(d / "weights_log.csv", index=False)
    return d


def confusion_rows(seed: int) -> pd.DataFrame:
    """PGD-100 confusion of 10 points per class: class k keeps (k + seed) % 10 + 0 ... points."""
    rows = []
    for e, ckpt in ((50, "epoch_050"), (115, "epoch_115")):
        for k in range(10):
            kept = (k + seed) % 10 if e == 115 else 10
            rows.append({"epoch": e, "checkpoint": ckpt, "split": "test", "attack": "PGD-100", "eps": EPS, "true": k, "pred": k, "count": kept})
            if kept < 10:
                rows.append({"epoch": e, "checkpoint": ckpt, "split": "test", "attack": "PGD-100", "eps": EPS, "true": k, "pred": (k + 1) % 10, "count": 10 - kept})
            rows.append({"epoch": e, "checkpoint": ckpt, "split": "test", "attack": "FGSM", "eps": EPS, "true": k, "pred": k, "count": 10})
    return pd.DataFrame(rows)


def weights_rows(seed: int) -> pd.DataFrame:
    return pd.DataFrame([{"epoch": e, "mean": 1.0, "min": 1.0, "max": 1.0, **{f"sum_class_{k}": float(e * 10 + k + seed) for k in range(10)}}
                         for e in (1, 2, 3)])  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("vir_runs")
    for seed in (0, 1):
        for scheme in SCHEMES:
            conf = confusion_rows(seed) if scheme in ("pgd_at", "vir_at", "vir_trades") else None
            w = weights_rows(seed) if scheme.startswith("vir") else None
            write_run(root, "resnet18", "cifar10", scheme, seed, SUITE_A, confusion=conf, weights=w)
            write_run(root, "wrn34_10", "cifar10", scheme, seed, SUITE_A)
            for ds in ("svhn", "cifar100"):
                write_run(root, "resnet18", ds, scheme, seed, ["clean", "PGD-100", "AA"])
            gamma = {"gamma": 3.0} if scheme == "vir_at" else {}
            write_run(root, "resnet18", "tinyimagenet", scheme, seed, ["clean", "PGD-20", "AA"], **gamma)
        for scheme in ("vir_at", "vir_trades"):
            for comp in ("sv", "sd"):
                write_run(root, "resnet18", "cifar10", scheme, seed, SUITE_A, components=comp, tag=comp)
        hp = ["clean", "PGD-100", "CW", "AA"]
        write_run(root, "resnet18", "cifar10", "vir_at", seed, hp, tag="hp-a1", alpha=1.0)
        write_run(root, "resnet18", "cifar10", "vir_at", seed, hp, tag="hp-b0", beta=0.0)
        write_run(root, "resnet18", "cifar10", "vir_trades", seed, hp, tag="hp-g1", gamma=1.0)
    return root


def build_table(root: Path, name: str):
    spec = load_spec(TABLE_DIR / f"{name}.yaml")
    run_dirs = find_runs([root])
    return spec, build(spec, Context(load_metrics(run_dirs, spec.config_keys()), run_dirs))


def pct_mean(model, ds, scheme, attack, **kw):
    return float(np.mean([100 * acc(model, ds, scheme, s, attack, **kw) for s in (0, 1)]))


def test_table1_paper_rows_columns_and_default_vir_runs_only(runs):
    _, res = build_table(runs, "table1")
    t = res.table
    assert list(t.Defense) == ["AT", "TRADES", "MART", "GAIRAT", "MAIL-AT", "VIR-TRADES", "VIR-AT"]
    assert [c[:-5] for c in t.columns if c.endswith(" mean")] == ["NATURAL", "FGSM", "PGD-100", "CW", "FMN-100", "AA", "MDE"]
    vir = t[t.Defense == "VIR-AT"].iloc[0]
    # the hp runs (alpha 1, beta 0) and the component runs share model/dataset but are excluded
    assert vir["PGD-100 mean"] == pytest.approx(pct_mean("resnet18", "cifar10", "vir_at", "PGD-100", alpha=7.0, beta=0.007, gamma=10.0))
    assert set(res.sources.n) == {2} and set(res.sources.missing) == {2}


def test_table3_dataset_blocks(runs):
    _, res = build_table(runs, "table3")
    cols = [c[:-5] for c in res.table.columns if c.endswith(" mean")]
    assert cols == ["SVHN NATURAL", "SVHN PGD-100", "SVHN AA", "CIFAR-100 NATURAL", "CIFAR-100 PGD-100", "CIFAR-100 AA"]
    row = res.table[res.table.Defense == "MART"].iloc[0]
    assert row["SVHN AA mean"] == pytest.approx(pct_mean("resnet18", "svhn", "mart", "AA"))


def test_table4_tinyimagenet_vir_at_gamma_3(runs):
    _, res = build_table(runs, "table4")
    row = res.table[res.table.Defense == "VIR-AT"].iloc[0]
    assert row["PGD-20 mean"] == pytest.approx(pct_mean("resnet18", "tinyimagenet", "vir_at", "PGD-20", alpha=7.0, beta=0.007, gamma=3.0))


def test_table5_black_box_wrn(runs):
    _, res = build_table(runs, "table5")
    row = res.table[res.table.Defense == "GAIRAT"].iloc[0]
    assert row["SPSA mean"] == pytest.approx(pct_mean("wrn34_10", "cifar10", "gairat", "SPSA"))


@pytest.mark.parametrize("name,scheme,base", [("table6", "vir_at", "pgd_at"), ("table7", "vir_trades", "trades")])
def test_component_ablation_rows(runs, name, scheme, base):
    _, res = build_table(runs, name)
    t = res.table
    assert t.columns[0] == "Reweighting COMPONENT" and len(t) == 4
    assert t.iloc[0, 0].startswith("L_CE(f(x") and t.iloc[1, 0].count("S_v") == 1 and "w(x, x', y)" in t.iloc[3, 0]
    d = VIR_DEFAULT[scheme]
    kw = {k: d[k] for k in ("alpha", "beta", "gamma")}
    assert t.iloc[0]["Square mean"] == pytest.approx(pct_mean("resnet18", "cifar10", base, "Square"))
    assert t.iloc[2]["Square mean"] == pytest.approx(pct_mean("resnet18", "cifar10", scheme, "Square", components="sd", **kw))
    assert t.iloc[3]["AA mean"] == pytest.approx(pct_mean("resnet18", "cifar10", scheme, "AA", **kw))


def test_table9_beta_rows_with_empty_rows_kept(runs):
    _, res = build_table(runs, "table9")
    t = res.table
    assert list(t["β"]) == [0.0, 0.007, 0.1]
    assert t.iloc[0]["CW mean"] == pytest.approx(pct_mean("resnet18", "cifar10", "vir_at", "CW", alpha=7.0, beta=0.0, gamma=10.0))
    assert t.iloc[1]["CW mean"] == pytest.approx(pct_mean("resnet18", "cifar10", "vir_at", "CW", alpha=7.0, beta=0.007, gamma=10.0))
    assert np.isnan(t.iloc[2]["CW mean"]) and res.pretty.iloc[2]["CW"] == ""
    assert int(res.sources[res.sources["β"] == 0.1].n.max()) == 0
    spec, _ = build_table(runs, "table9")
    assert "Empty rows" in spec.note and "β 0.1" in spec.note and "β 0.0" not in spec.note
    assert "std empty" not in spec.note  # two seeds per filled cell


def test_table11_and_12_list_exactly_the_paper_rows(runs):
    _, res = build_table(runs, "table11")
    t = res.table
    assert list(t.columns[:3]) == ["α", "γ", "β"] and len(t) == 10
    assert list(zip(t["α"], t["γ"], strict=False)) == [(a, 10.0) for a in (1.0, 2.0, 3.0, 5.0, 7.0, 8.0)] + [(7.0, g) for g in (2.0, 4.0, 6.0, 8.0)]
    assert t.iloc[0]["AA mean"] == pytest.approx(pct_mean("resnet18", "cifar10", "vir_at", "AA", alpha=1.0, beta=0.007, gamma=10.0))
    assert t.iloc[4]["AA mean"] == pytest.approx(pct_mean("resnet18", "cifar10", "vir_at", "AA", alpha=7.0, beta=0.007, gamma=10.0))
    assert t.iloc[1:4]["AA mean"].isna().all()
    _, res12 = build_table(runs, "table12")
    t12 = res12.table
    assert len(t12) == 9 and list(t12.iloc[6][["α", "γ"]]) == [8.0, 1.0]
    assert t12.iloc[6]["NATURAL mean"] == pytest.approx(pct_mean("resnet18", "cifar10", "vir_trades", "clean", alpha=8.0, beta=1.6, gamma=1.0))


def test_table8_has_the_paper_shape_and_no_values(runs):
    _, res = build_table(runs, "table8")
    t = res.table
    assert list(t.scheme) == ["TRADES", "AT", "VIR-TRADES", "VIR-AT"]
    assert t.filter(like=" mean").isna().all().all() and set(res.sources.n) == {0}


def test_class_accuracy_is_diagonal_over_row_sums():
    conf = pd.DataFrame({"true": [0, 0, 1, 1, 1], "pred": [0, 1, 1, 0, 2], "count": [3, 1, 2, 2, 1]})
    acc_k, counts = class_accuracy(conf, 3)
    assert acc_k[0] == pytest.approx(0.75) and acc_k[1] == pytest.approx(2 / 5) and np.isnan(acc_k[2])
    assert counts.sum() == 9


def test_fig2_per_class_robust_accuracy(runs, tmp_path):
    _, res = build_table(runs, "fig2")
    t = res.table
    assert list(t.scheme) == ["AT", "VIR-AT", "VIR-TRADES"]
    # class k keeps (k + seed) % 10 of 10 points at the last checkpoint
    for k, name in enumerate(["airplane", "automobile", "bird", "cat"]):
        want = [100 * ((k + s) % 10) / 10 for s in (0, 1)]
        assert t.iloc[1][f"{name} mean"] == pytest.approx(np.mean(want))
        assert t.iloc[1][f"{name} std"] == pytest.approx(np.std(want, ddof=1))
    res.figure(tmp_path / "fig2.png")
    assert (tmp_path / "fig2.png").stat().st_size > 1000


def test_fig2_note_names_classes_without_attacked_points(tmp_path):
    conf = confusion_rows(0)
    conf = conf[conf.true != 9]  # no "truck" point evaluated
    write_run(tmp_path, "resnet18", "cifar10", "vir_at", 0, SUITE_A, confusion=conf)
    spec, res = build_table(tmp_path, "fig2")
    assert np.isnan(res.table.set_index("scheme").loc["VIR-AT", "truck mean"])
    assert "Empty columns (no evaluated point of that class: 90 points per run): truck." in spec.note
    assert "std empty: one run per cell; the paper averages 4 seeds." in spec.note


def test_fig3_class_weight_sums_per_epoch(runs, tmp_path):
    _, res = build_table(runs, "fig3")
    t = res.table
    assert list(zip(t.scheme, t.epoch, strict=False)) == [(s, e) for s in ("VIR-AT", "VIR-TRADES") for e in (1, 2, 3)]
    assert t.iloc[1]["cat mean"] == pytest.approx(np.mean([2 * 10 + 3 + s for s in (0, 1)]))
    res.figure(tmp_path / "fig3.png")
    assert (tmp_path / "fig3.png").exists()


def test_every_vir_table_renders(runs, tmp_path):
    run_dirs = find_runs([runs])
    specs = select_specs(["vir"])
    assert {s.id for s in specs} == {f"vir/table{i}" for i in range(1, 13)} | {"vir/fig2", "vir/fig3"}
    ctx = Context(load_metrics(run_dirs, sorted({k for s in specs for k in s.config_keys()})), run_dirs)
    for spec in specs:
        paths = write_table(spec, build(spec, ctx), tmp_path)
        assert all(p.exists() for p in paths)
        assert (tmp_path / f"{spec.file_stem}.sources.csv").exists()


# -- experiment configs ------------------------------------------------------------------------

VIR_SCHEMES = ["at", "trades", "mart", "gairat", "mail", "vir_trades", "vir_at"]
BLOCKS = ["rn18_cifar10", "wrn_cifar10", "rn18_svhn_cifar100", "rn18_tinyimagenet", "ablation_components",
          "hp_at_beta", "hp_trades_beta", "hp_at_alpha", "hp_at_gamma", "hp_trades_alpha", "hp_trades_gamma"]  # fmt: skip
LABELS = {"rn18_cifar10": {"FGSM", "PGD-100", "CW", "FMN-100", "AA", "MDE", "Square", "SPSA"},
          "rn18_svhn_cifar100": {"PGD-100", "AA"}, "rn18_tinyimagenet": {"PGD-20", "AA"}, "hp_at_beta": {"PGD-100", "CW", "AA"}}  # fmt: skip


@pytest.mark.parametrize("scale", ["smoke", "paper"])
def test_experiments_compose_and_validate(scale):
    for i, block in enumerate(BLOCKS):
        scheme = VIR_SCHEMES[i % len(VIR_SCHEMES)] if not block.startswith(("hp_", "ablation")) else ("vir_trades" if "trades" in block else "vir_at")
        cfg = compose_cfg([f"experiment=vir/{block}", f"+experiment/vir/scheme={scheme}", f"scale={scale}"])
        validate(cfg)
        d = OmegaConf.to_container(cfg, resolve=True)
        labels = {a["name"] for a in d["attacks"].values() if a is not None}
        if block in LABELS:
            assert labels == LABELS[block], block
        if scheme.startswith("vir"):
            assert d["tag"].startswith("hp-" if block.startswith("hp_") else d["scheme"]["components"])
            assert d["scheme"]["burn_in"] == (75 if scale == "paper" else 1)


def test_paper_scale_values():
    d = OmegaConf.to_container(compose_cfg(["experiment=vir/rn18_tinyimagenet", "+experiment/vir/scheme=vir_at"]), resolve=True)
    assert d["train"]["epochs"] == 115 and d["train"]["batch_size"] == 128 and d["optim"]["schedule"]["milestones"] == [75, 90]
    assert d["optim"]["optimizer"]["lr"] == 0.01 and d["optim"]["optimizer"]["weight_decay"] == 3.5e-3
    assert d["scheme"]["gamma"] == 3.0 and d["scheme"]["alpha"] == 7.0 and d["scheme"]["beta"] == 0.007
    assert d["attacks"]["pgd20"]["steps"] == 20 and d["attacks"]["pgd20"]["step_size"] == pytest.approx(1 / 255)
    w = OmegaConf.to_container(compose_cfg(["experiment=vir/wrn_cifar10", "+experiment/vir/scheme=trades"]), resolve=True)
    assert w["optim"]["optimizer"]["lr"] == 0.1 and w["optim"]["optimizer"]["weight_decay"] == 7e-4 and w["scheme"]["beta"] == 6.0
    assert w["attacks"]["square"]["n_queries"] == 5000 and w["attacks"]["spsa"]["samples"] == 256
    assert w["attacks"]["pgd100"]["step_size"] == pytest.approx(1 / 255) and w["attacks"]["cw"]["steps"] == 20
    r = OmegaConf.to_container(compose_cfg(["experiment=vir/rn18_cifar10", "+experiment/vir/scheme=trades"]), resolve=True)
    assert r["scheme"]["beta"] == 4.0


def test_makefile_target_runs_every_block_then_the_tables():
    text = "\n".join(reproduce_dry_run("vir", scale="paper", launcher="joblib", data="/data"))
    for block in ["rn18_cifar10", "wrn_cifar10", "rn18_svhn_cifar100", "rn18_tinyimagenet", "ablation_components"]:
        assert f"experiment=vir/{block}" in text
    assert all(f"experiment=vir/hp_{hp}" in text for hp in ("at_beta", "trades_beta", "at_alpha", "at_gamma", "trades_alpha", "trades_gamma"))
    assert "hydra/launcher=local_processes" in text and "scale=paper" in text
    assert "--table vir --out outputs/tables/vir" in text and "table8" in text
    # shared warm-up (docs/warmup.md): AT (and RN-18 CIFAR-10 VIR-TRADES) first, the rest branch
    assert "+experiment/vir/scheme=at,vir_trades warmup=vir" in text
    for scale, save_at in (("paper", [59, 75]), ("smoke", [1])):  # robustbench_runner/papers/vir/conf/warmup/vir.yaml + its smoke overlay
        cfg = compose_cfg(["experiment=vir/rn18_cifar10", "+experiment/vir/scheme=at", "warmup=vir", f"scale={scale}"])
        assert list(cfg.warmup.save_at) == save_at
    assert text.count("warmup.from=${output_root}/sweeps/${sweep_name}") == 11  # every block and ablation run, the 6 hp sweeps included


@pytest.mark.slow
def test_one_smoke_job_end_to_end(tmp_path):
    """VIR-AT on the ResNet-18 CIFAR-10 block at smoke scale, then fig2 / fig3 / table1
    (needs the AutoAttack smoke knobs: /tmp/patches/be-1)."""
    import inspect

    from rbr_testing import cli, tables_cli
    from robustbench_runner.attacks.autoattack import AutoAttackStandard

    if "n_iter" not in inspect.signature(AutoAttackStandard).parameters:
        pytest.skip("smoke-scale AutoAttack knobs not installed")
    data = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "robustbench_runner.data.standin", str(data)], check=True, capture_output=True)
    proc = cli(["-m", "experiment=vir/rn18_cifar10", "+experiment/vir/scheme=vir_at", "scale=smoke", f"data.root={data}",
                f"output_root={tmp_path / 'out'}", "sweep_name=e2e", "progress=false"])  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    sweep = tmp_path / "out" / "sweeps" / "e2e"
    assert (sweep / "cifar10-resnet18-vir_at-s0-both-a7.0-b0.007-g10.0" / "DONE").exists()
    out = tmp_path / "tables"
    tab = tables_cli([str(sweep), "--table", "vir/table1", "--table", "vir/fig2", "--table", "vir/fig3", "--out", str(out), "--quiet"])
    assert tab.returncode == 0, tab.stderr
    t1 = pd.read_csv(out / "vir__table1.csv")
    assert not np.isnan(t1[t1.Defense == "VIR-AT"].iloc[0]["MDE mean"])
    f3 = pd.read_csv(out / "vir__fig3.csv")
    assert list(f3.epoch) == [1, 2] and (out / "vir__fig2.png").exists()
