"""Paper irat (margin reweighting for IRAT, paper irat): the margins analysis against hand values,
the table and figure builders on a synthetic folder of runs (real file layout), the
experiment configs at both scales, and the Makefile target."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from rbr_testing import REPO, compose_cfg, reproduce_dry_run, tables_cli
from robustbench_runner.analysis.checkpoint import AnalysisContext
from robustbench_runner.config import validate
from robustbench_runner.papers.irat.margins import (
    MARGINS_CSV,
    MarginsAnalysis,
    margin_table,
    pearson_r,
)
from robustbench_runner.results import METRIC_COLUMNS
from robustbench_runner.tables import build
from robustbench_runner.tables.build import Context
from robustbench_runner.tables.collect import find_runs, load_metrics
from robustbench_runner.tables.spec import load_spec

TABLE_DIR = REPO / "robustbench_runner" / "papers" / "irat" / "table_specs"  # the bundle's specs
EPS = 8 / 255
NAN = float("nan")


# -- margins analysis ------------------------------------------------------------------------


def test_margin_terms_match_the_hand_check_of_definitions_md():
    # robustbench_runner/papers/irat/README.md: p' = (0.5, 0.3, 0.2), y = 0: m = 0.2, p2 = 0.3, pbar = 0.5, o = 0.6,
    # c = 0.13 / (sqrt(0.38) sqrt(0.13)) = 0.5849
    logits = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]]).log()
    t = margin_table(logits, torch.tensor([0, 1]))
    r = t.iloc[0]
    assert r.p_y == pytest.approx(0.5) and r.p2 == pytest.approx(0.3) and r.margin == pytest.approx(0.2)
    assert r.incorrect_rate == pytest.approx(0.5) and r.top2_ratio == pytest.approx(0.6)
    assert r.similarity == pytest.approx(0.13 / (math.sqrt(0.38) * math.sqrt(0.13)), abs=1e-6)
    assert bool(r.correct) and int(r.pred) == 0
    second = t.iloc[1]  # y = 1 with p = (0.1, 0.2, 0.7): misclassified, m = 0.2 - 0.7
    assert second.margin == pytest.approx(-0.5) and not bool(second.correct) and int(second.pred) == 2


def test_pearson_r_is_eq_23_and_nan_when_constant():
    rng = np.random.default_rng(0)
    a = rng.normal(size=50)
    b = 0.5 * a + rng.normal(size=50)
    ac, bc = a - a.mean(), b - b.mean()
    by_hand = (ac * bc).mean() / math.sqrt((ac * ac).mean() * (bc * bc).mean())  # eq. 23
    assert pearson_r(a, b) == pytest.approx(by_hand)
    assert math.isnan(pearson_r(a, np.ones(50)))
    assert math.isnan(pearson_r([1.0], [2.0]))


def test_margins_analysis_writes_per_sample_csv_and_summary_rows(tmp_path):
    from robustbench_runner.attacks.pgd import PGD
    from robustbench_runner.build import build_model, model_dims
    from robustbench_runner.data import load_dataset

    cfg = compose_cfg(["data.val_size=30", "data.limit_train=200", "data.image_size=16"])
    bundle = load_dataset(cfg.data)
    model = build_model(cfg.model, model_dims(bundle), 0).eval()
    ctx = AnalysisContext(model, bundle, torch.device("cpu"), cfg, "epoch_002", 2, batch_size=16)
    ctx.run_dir = tmp_path

    def attack(model):
        return PGD(model, eps=0.1, name="PGD-3", steps=3, step_size=0.04, loss="ce", start="uniform")

    rows = MarginsAnalysis(attack=attack, split="val").rows(ctx)
    per_sample = pd.read_csv(tmp_path / MARGINS_CSV)
    assert set(per_sample.inputs) == {"natural", "PGD-3"}
    assert len(per_sample) == 2 * 30 and set(per_sample.checkpoint) == {"epoch_002"}
    nat = per_sample[per_sample.inputs == "natural"].sort_values("index")
    # the natural rows are the model's own softmax outputs on the val split
    with torch.no_grad():
        p = torch.softmax(model(bundle.val.float_x()), 1)
    y = bundle.val.y
    np.testing.assert_allclose(nat.p_y.to_numpy(), p[torch.arange(len(y)), y].numpy(), atol=1e-6)
    np.testing.assert_allclose(nat.incorrect_rate.to_numpy(), 1 - nat.p_y.to_numpy(), atol=1e-9)
    # adversarial inputs lower the true-class probability on average
    adv = per_sample[per_sample.inputs == "PGD-3"].sort_values("index")
    assert adv.p_y.mean() < nat.p_y.mean()
    summary = {(r["eps"], r["metric"]): r["value"] for r in rows}
    assert summary[(0.0, "pearson_r_similarity_incorrect")] == pytest.approx(pearson_r(nat.similarity, nat.incorrect_rate))
    assert summary[(0.1, "fraction_correct")] == pytest.approx(adv.correct.mean())
    # a second call (resume) does not duplicate rows
    MarginsAnalysis(attack=attack, split="val").rows(ctx)
    assert len(pd.read_csv(tmp_path / MARGINS_CSV)) == 60


# -- a synthetic folder of runs ----------------------------------------------------------------

SCHEMES = ["pgd_at", "gairat", "ewat", "wmmr", "mail", "mr_wmmr", "mr_mail"]
ATTACKS = ["clean", "FGSM", "PGD-100", "CW-PGD", "APGD-CE", "AA"]
DEFAULT_TAU = {("resnet18", "cifar10"): 2, ("resnet18", "cifar100"): 3, ("wrn34_10", "cifar10"): 2, ("wrn34_10", "cifar100"): 2}


def acc(model, ds, scheme, seed, ckpt, attack, tau=None, sim=True) -> float:
    """A distinct, hand-recomputable value per cell."""
    v = 0.3 + 0.1 * ATTACKS.index(attack) / 10 + 0.01 * SCHEMES.index(scheme) + 0.002 * seed
    v += 0.05 * (model == "wrn34_10") + 0.07 * (ds == "cifar100") + 0.03 * (ckpt == "best")
    v += 0.004 * (tau or 0) + 0.0005 * (not sim)
    return round(v, 6)


def write_run(root: Path, model, ds, scheme, seed, tau=None, sim=True, last_epoch=120, done=True, margins=None) -> Path:
    tag = f"-tau{tau}-sim{sim}" if tau is not None else ""
    name = f"{ds}-{model}-{scheme}-s{seed}{tag}"
    d = root / name
    d.mkdir(parents=True)
    rows = []
    for ckpt, epoch in (("epoch_060", 60), (f"epoch_{last_epoch:03d}", last_epoch), ("best", 100)):
        for a in ATTACKS:
            value = acc(model, ds, scheme, seed, "best" if ckpt == "best" else "last", a, tau, sim)
            value -= 0.2 * (epoch == 60)  # an earlier grid checkpoint the "last" tables must ignore
            rows.append({"epoch": epoch, "checkpoint": ckpt, "split": "test", "attack": a, "eps": 0.0 if a == "clean" else EPS,
                         "metric": "acc", "value": value, "n": 100})  # fmt: skip
    df = pd.DataFrame(rows)
    ident = {"run": name, "dataset": ds, "model": model, "scheme": scheme, "seed": seed, "batch_size": 128, "config_hash": "x"}
    for k, v in ident.items():
        df[k] = v
    df[METRIC_COLUMNS].to_csv(d / "metrics.csv", index=False)
    scheme_cfg = {"name": scheme}
    if tau is not None:
        scheme_cfg.update(tau=tau, similarity=sim)
    config = {"scheme": scheme_cfg, "seed": seed, "data": {"name": ds}, "model": {"name": model}}
    (d / "run.json").write_text(json.dumps({"config_hash": "x", "config": config}))
    if done:
        (d / "DONE").write_text("finished\n")
    if margins is not None:
        margins.to_csv(d / MARGINS_CSV, index=False)
    return d


def margins_rows(seed: int, n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for ckpt, epoch in (("epoch_120", 120), ("best", 100)):
        for inputs in ("natural", "PGD-10"):
            p_y = rng.uniform(0.05, 0.95, n)
            pbar = 1 - p_y
            frames.append(pd.DataFrame({
                "checkpoint": ckpt, "epoch": epoch, "split": "val", "inputs": inputs, "eps": 0.0 if inputs == "natural" else EPS,
                "index": np.arange(n), "y": 0, "pred": np.where(p_y > 0.5, 0, 1), "correct": p_y > 0.5, "p_y": p_y,
                "p2": pbar * 0.6, "margin": p_y - pbar * 0.6, "incorrect_rate": pbar, "top2_ratio": 0.6,
                "similarity": 0.9 * pbar + rng.normal(0, 0.02, n),
            }))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("irat_runs")
    for model in ("resnet18", "wrn34_10"):
        for ds in ("cifar10", "cifar100"):
            for scheme in SCHEMES:
                for seed in (0, 1):
                    tau = DEFAULT_TAU[(model, ds)] if scheme.startswith("mr_") else None
                    m = margins_rows(seed) if (scheme == "pgd_at" and ds == "cifar10") else None
                    write_run(root, model, ds, scheme, seed, tau=tau, margins=m)
            for tau in (2, 3, 4):  # tau ablation of Ours+MAIL, non-default values
                if tau != DEFAULT_TAU[(model, ds)]:
                    for seed in (0, 1):
                        write_run(root, model, ds, "mr_mail", seed, tau=tau)
    for seed in (0, 1):
        write_run(root, "wrn34_10", "cifar10", "mr_mail", seed, tau=2, sim=False)
    write_run(root, "resnet18", "cifar10", "pgd_at", 7, done=False)  # unfinished: never "last"
    return root


def build_table(root: Path, name: str):
    spec = load_spec(TABLE_DIR / f"{name}.yaml")
    run_dirs = find_runs([root])
    return spec, build(spec, Context(load_metrics(run_dirs, spec.config_keys()), run_dirs))


def mean(vals):
    return float(np.mean(vals))


def test_table1_rows_columns_and_default_tau(runs):
    spec, res = build_table(runs, "table1")
    t = res.table
    assert list(t.columns[:2]) == ["model", "scheme"]
    assert [c for c in t.columns if c.endswith(" mean")] == [f"{c} mean" for c in ["Clean", "PGD-100", "CW-PGD", "APGD-CE", "AA"]]
    assert list(zip(t.model, t.scheme, strict=False)) == [(m, s) for m in ("ResNet-18", "WRN34-10") for s in ("Standard", "WMMR", "MAIL", "Ours+WMMR", "Ours+MAIL")]
    row = t[(t.model == "WRN34-10") & (t.scheme == "Ours+MAIL")].iloc[0]
    # only the tau-2 runs (not the ablation's tau 3, 4), last checkpoint, in %
    want = [100 * acc("wrn34_10", "cifar10", "mr_mail", s, "last", "PGD-100", tau=2) for s in (0, 1)]
    assert row["PGD-100 mean"] == pytest.approx(mean(want))
    assert row["PGD-100 std"] == pytest.approx(np.std(want, ddof=1))
    src = res.sources
    assert set(src.n) == {2} and set(src.missing) == {3}  # 2 of the paper's 5 seeds
    assert res.pretty.iloc[0]["Clean"].count("±") == 1


def test_table2_resnet18_cifar100_uses_tau_3(runs):
    _, res = build_table(runs, "table2")
    row = res.table[(res.table.model == "ResNet-18") & (res.table.scheme == "Ours+MAIL")].iloc[0]
    want = [100 * acc("resnet18", "cifar100", "mr_mail", s, "last", "AA", tau=3) for s in (0, 1)]
    assert row["AA mean"] == pytest.approx(mean(want))


def test_table5_best_checkpoint_with_all_seven_schemes(runs):
    _, res = build_table(runs, "table5")
    t = res.table
    assert list(t.scheme[:7]) == ["Standard", "GAIRAT", "EWAT", "WMMR", "MAIL", "Ours+WMMR", "Ours+MAIL"]
    row = t[(t.model == "ResNet-18") & (t.scheme == "GAIRAT")].iloc[0]
    assert row["FGSM mean"] == pytest.approx(mean([100 * acc("resnet18", "cifar10", "gairat", s, "best", "FGSM") for s in (0, 1)]))


def test_table3_tau_rows_and_dataset_columns(runs):
    _, res = build_table(runs, "table3")
    t = res.table
    assert list(t["τ"]) == ["τ = 2", "τ = 3", "τ = 4"]
    assert "CIFAR-100 APGD-CE mean" in t.columns
    got = t[t["τ"] == "τ = 4"].iloc[0]["CIFAR-100 APGD-CE mean"]
    assert got == pytest.approx(mean([100 * acc("wrn34_10", "cifar100", "mr_mail", s, "last", "APGD-CE", tau=4) for s in (0, 1)]))


def test_table8_resnet18_tau_by_dataset(runs):
    _, res = build_table(runs, "table8")
    assert list(zip(res.table.dataset, res.table["τ"], strict=False)) == [(d, f"τ = {k}") for d in ("CIFAR-10", "CIFAR-100") for k in (2, 3, 4)]
    row = res.table[(res.table.dataset == "CIFAR-100") & (res.table["τ"] == "τ = 2")].iloc[0]
    assert row["Clean mean"] == pytest.approx(mean([100 * acc("resnet18", "cifar100", "mr_mail", s, "last", "clean", tau=2) for s in (0, 1)]))


def test_table4_attacks_as_rows_similarity_as_columns(runs):
    _, res = build_table(runs, "table4")
    t = res.table
    assert list(t.iloc[:, 0]) == ["Clean", "CW-PGD", "APGD-CE"]
    assert list(t.columns[1:]) == ["w/ sim. mean", "w/ sim. std", "w/o sim. mean", "w/o sim. std"]
    want = mean([100 * acc("wrn34_10", "cifar10", "mr_mail", s, "last", "CW-PGD", tau=2, sim=False) for s in (0, 1)])
    assert t.iloc[1]["w/o sim. mean"] == pytest.approx(want)


def test_table7_last_and_best_rows(runs):
    _, res = build_table(runs, "table7")
    t = res.table
    assert list(zip(t.iloc[:, 0], t.iloc[:, 1], strict=False)) == [("Last", "w/ sim."), ("Last", "w/o sim."), ("Best", "w/ sim."), ("Best", "w/o sim.")]
    best_sim = t.iloc[2]["AA mean"]
    assert best_sim == pytest.approx(mean([100 * acc("wrn34_10", "cifar10", "mr_mail", s, "best", "AA", tau=2) for s in (0, 1)]))
    assert t.iloc[0]["AA mean"] != pytest.approx(best_sim)


def test_empty_cells_when_no_run_qualifies(tmp_path):
    write_run(tmp_path, "resnet18", "cifar10", "pgd_at", 0)
    _, res = build_table(tmp_path, "table1")
    assert len(res.table) == 10  # every paper row, even without runs
    wrn = res.table[res.table.model == "WRN34-10"]
    assert wrn.filter(like=" mean").isna().all().all()
    assert (res.pretty[res.pretty.model == "WRN34-10"]["AA"] == "").all()
    # the .md note says why cells are empty: one seed (no std) and the rows without runs
    spec, _ = build_table(tmp_path, "table1")
    assert "std empty: one run per cell; the paper averages 5 seeds." in spec.note
    assert "model WRN34-10; scheme Standard" in spec.note and "model ResNet-18; scheme Standard" not in spec.note


def test_notes_stay_silent_when_every_cell_has_several_runs(runs):
    spec, _ = build_table(runs, "table1")
    assert "std empty" not in spec.note and "Empty rows" not in spec.note


def test_fig_notes_one_run_and_missing_outcome(tmp_path):
    m = margins_rows(0)
    m = m.assign(correct=False)  # every point misclassified
    write_run(tmp_path, "resnet18", "cifar10", "pgd_at", 0, margins=m)
    write_run(tmp_path, "wrn34_10", "cifar10", "pgd_at", 0, margins=margins_rows(0))
    spec2, _ = build_table(tmp_path, "fig2")
    assert "No correct points among the 40 plotted." in spec2.note and "No incorrect" not in spec2.note
    spec4, _ = build_table(tmp_path, "fig4")
    assert "std empty: one run" in spec4.note


def test_fig2_scatter_data_and_figure(runs, tmp_path):
    spec, res = build_table(runs, "fig2")
    t = res.table
    m = margins_rows(0)  # the lowest seed, last checkpoint, PGD-10 outputs
    m = m[(m.checkpoint == "epoch_120") & (m.inputs == "PGD-10")]
    assert len(t) == len(m) and set(t.seed) == {0}
    np.testing.assert_allclose(np.sort(t.p_y), np.sort(m.p_y))
    assert set(t.outcome) == {"correct", "incorrect"}
    assert int(res.pretty.set_index("outcome").loc["correct", "points"]) == int(m.correct.sum())
    res.figure(tmp_path / "fig2.png")
    assert (tmp_path / "fig2.png").stat().st_size > 1000


def test_fig4_pearson_r_per_run(runs):
    _, res = build_table(runs, "fig4")
    expected = []
    for seed in (0, 1):
        m = margins_rows(seed)
        m = m[(m.checkpoint == "epoch_120") & (m.inputs == "PGD-10")]
        expected.append(pearson_r(m.similarity, m.incorrect_rate))
    per_run = res.pretty[res.pretty.run != "mean ± std"]
    assert [float(x) for x in per_run["Pearson r"]] == pytest.approx(expected, abs=1e-3)
    assert res.pretty.iloc[-1]["Pearson r"].startswith(f"{np.mean(expected):.3f}")
    assert set(res.table.columns) >= {"incorrect_rate", "similarity"} and len(res.table) == 80


@pytest.mark.slow
def test_rbr_tables_cli_writes_every_irat_table(runs, tmp_path):
    out = tmp_path / "tables"
    proc = tables_cli([str(runs), "--table", "irat", "--out", str(out), "--quiet"])
    assert proc.returncode == 0, proc.stderr
    for tid in [f"table{i}" for i in range(1, 9)] + ["fig2", "fig4"]:
        for suffix in (".csv", ".pretty.csv", ".md", ".sources.csv"):
            assert (out / f"irat__{tid}{suffix}").exists(), (tid, suffix)
    assert (out / "irat__fig2.png").exists() and (out / "irat__fig4.png").exists()


# -- experiment configs ------------------------------------------------------------------------

IRAT_SCHEMES = ["standard", "wmmr", "mail", "gairat", "ewat", "ours_wmmr", "ours_mail"]


# every scheme file on the main grid, the ablations with the scheme they sweep; both models
COMBOS = [("main", s, m) for s, m in zip(IRAT_SCHEMES, ["resnet18", "wrn34_10"] * 4, strict=False)] + [
    ("ablation_tau", "ours_mail", "resnet18"), ("ablation_sim", "ours_mail", "wrn34_10")]


@pytest.mark.parametrize("scale", ["smoke", "paper"])
def test_experiments_compose_and_validate(scale):
    for experiment, scheme, model in COMBOS:
        cfg = compose_cfg([f"experiment=irat/{experiment}", f"+experiment/irat/scheme={scheme}", f"model={model}", "dataset=cifar100", f"scale={scale}"])
        validate(cfg)
        d = OmegaConf.to_container(cfg, resolve=True)
        assert d["attacks"]["pgd100"]["name"] == "PGD-100" and d["attacks"]["cw_pgd"]["name"] == "CW-PGD"
        assert d["select"]["attack"]["name"] == "PGD-20" and d["data"]["val_size"] > 0
        assert d["analysis"]["margins"]["attack"]["name"] == "PGD-10"
        if scheme in ("ours_wmmr", "ours_mail"):
            assert d["tag"] == f"tau{d['scheme']['tau']}-simTrue"
        if scheme != "standard":
            assert d["scheme"]["burn_in"] == (75 if scale == "paper" else 1)


def test_paper_scale_values():
    cfg = OmegaConf.to_container(compose_cfg(["experiment=irat/main", "+experiment/irat/scheme=ours_mail", "model=resnet18", "dataset=cifar100"]), resolve=True)
    assert cfg["train"]["epochs"] == 120 and cfg["train"]["batch_size"] == 128
    assert cfg["optim"]["optimizer"]["lr"] == 0.01 and cfg["optim"]["optimizer"]["weight_decay"] == 3.5e-3
    assert cfg["optim"]["schedule"]["milestones"] == [75, 90, 100]
    assert cfg["scheme"]["tau"] == 3 and cfg["scheme"]["attack"]["steps"] == 10
    assert cfg["attacks"]["pgd100"]["steps"] == 100 and cfg["attacks"]["aa"]["n_queries"] is None
    assert cfg["eval"]["grid"] == [120] and cfg["eval"]["n_eval"] is None
    wrn = OmegaConf.to_container(compose_cfg(["experiment=irat/main", "+experiment/irat/scheme=ours_wmmr", "model=wrn34_10", "dataset=cifar100"]), resolve=True)
    assert wrn["optim"]["optimizer"]["lr"] == 0.1 and wrn["optim"]["optimizer"]["weight_decay"] == 5e-4 and wrn["scheme"]["tau"] == 2


def test_ablation_default_tau_run_is_the_main_run():
    """The tau-ablation job at the default tau has the main grid's run name and config hash,
    so the sweep reuses the finished run instead of refusing or retraining it."""
    from robustbench_runner.config import config_hash

    main = compose_cfg(["experiment=irat/main", "+experiment/irat/scheme=ours_mail", "model=wrn34_10", "dataset=cifar10"])
    abl = compose_cfg(["experiment=irat/ablation_tau", "+experiment/irat/scheme=ours_mail", "model=wrn34_10", "dataset=cifar10", "scheme.tau=2"])
    assert main.name == abl.name and config_hash(main) == config_hash(abl)
    other = compose_cfg(["experiment=irat/ablation_tau", "+experiment/irat/scheme=ours_mail", "model=wrn34_10", "dataset=cifar10", "scheme.tau=3"])
    assert other.name != main.name


def test_makefile_target_runs_every_sweep_then_the_tables():
    lines = [ln for ln in reproduce_dry_run("irat", scale="paper", launcher="slurm", data="/data") if "rbr-" in ln]
    runs = [ln for ln in lines if "experiment=" in ln]
    assert [ln.split("experiment=")[1].split()[0] for ln in runs] == ["irat/main", "irat/main", "irat/ablation_tau", "irat/ablation_sim"]
    # shared warm-up (docs/warmup.md): the Standard runs keep their state after epoch 75, the rest branch there
    assert "+experiment/irat/scheme=standard warmup=irat" in runs[0]
    for scale, save_at in (("paper", [75]), ("smoke", [1])):  # robustbench_runner/papers/irat/conf/warmup/irat.yaml + its smoke overlay
        cfg = compose_cfg(["experiment=irat/main", "+experiment/irat/scheme=standard", "warmup=irat", f"scale={scale}"])
        assert list(cfg.warmup.save_at) == save_at
    assert all("'warmup.from=${output_root}/sweeps/${sweep_name}'" in ln for ln in runs[1:])
    assert all("scale=paper" in ln and "hydra/launcher=slurm" in ln and "data.root=/data" in ln for ln in lines[:3])
    plain = reproduce_dry_run("irat", scale="paper", warmup="none")
    assert not any("warmup." in ln for ln in plain)
    assert "--table irat --out outputs/tables/irat" in lines[-1]


# -- end to end (slow; needs the AutoAttack and WRN smoke knobs: /tmp/patches/be-1, be-2) -----


@pytest.mark.slow
def test_one_smoke_job_end_to_end(tmp_path):
    from rbr_testing import cli

    data = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "robustbench_runner.data.standin", str(data)], check=True, capture_output=True)
    proc = cli(["-m", "experiment=irat/main", "+experiment/irat/scheme=ours_mail", "model=wrn34_10", "dataset=cifar10",
                "scale=smoke", f"data.root={data}", f"output_root={tmp_path / 'out'}", "sweep_name=e2e", "progress=false"])  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = tmp_path / "out" / "sweeps" / "e2e" / "cifar10-wrn34_10-mr_mail-s0-tau2-simTrue"
    assert (run / "DONE").exists() and (run / MARGINS_CSV).exists() and (run / "ckpt" / "best.pt").exists()
    out = tmp_path / "tables"
    tab = tables_cli([str(tmp_path / "out" / "sweeps" / "e2e"), "--table", "irat/table1", "--table", "irat/table5", "--out", str(out), "--quiet"])
    assert tab.returncode == 0, tab.stderr
    t1 = pd.read_csv(out / "irat__table1.csv")
    row = t1[(t1.model == "WRN34-10") & (t1.scheme == "Ours+MAIL")].iloc[0]
    assert not np.isnan(row["AA mean"]) and not np.isnan(row["Clean mean"])
    t5 = pd.read_csv(out / "irat__table5.csv")
    assert not np.isnan(t5[(t5.model == "WRN34-10") & (t5.scheme == "Ours+MAIL")].iloc[0]["FGSM mean"])
