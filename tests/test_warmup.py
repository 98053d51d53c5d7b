"""Shared warm-up (docs/warmup.md): a run branched from a warm-up run's state at its burn-in
epoch writes the same results, byte for byte, as the run trained straight through."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from rbr_testing import TINY, compose_cfg, run_dir_of, run_inprocess
from robustbench_runner.config import config_hash
from robustbench_runner.errors import UserError
from robustbench_runner.warmup import branch_file, differing_keys, scheme_signature

# 4 epochs, weights from epoch 3 (burn_in 2), every epoch a grid checkpoint, best-by-PGD
# selection on held-out data: the paper irat protocol (MAIL training attack, SGD) at toy size.
PROTO = [
    *[
        o
        for o in TINY
        if not o.startswith(("train.epochs", "eval.grid", "data.limit_train", "eval.n_eval"))
    ],
    "data.limit_train=192",  # 160 after the hold-out: 10 steps per epoch
    "eval.n_eval=24",
    "train.epochs=4",
    "eval.grid=[0,1,2,3,4]",
    "train_attack=mail",
    "optim=sgd",
    "optim.optimizer.lr=0.05",
    "optim.schedule.milestones=[2,3]",  # the lr drops at the branch epoch, as paper irat's at 75
    "scheme.attack.steps=3",
    "data.val_size=32",
    "select=pgd20",
    "select.n_eval=32",
    "select.attack.steps=2",
]
WALL_CLOCK = ["seconds"]  # the only train_log.csv column that legitimately differs


def _run(tmp_path, sub: str, extra: list[str]):
    return run_inprocess([*PROTO, f"output_root={tmp_path / sub}", *extra])


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """The warm-up run: plain PGD-AT keeping its state after epoch 2."""
    tmp = tmp_path_factory.mktemp("warm")
    return _run(tmp, "warm", ["scheme=pgd_at", "warmup.save_at=[2]"])


def _same_bytes(a, b, name):
    assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.parametrize("scheme", ["mail", pytest.param("vir_at", marks=pytest.mark.slow)])  # vir_at: the same path, ~20 s
def test_branched_run_equals_the_straight_run(tmp_path, warm, scheme):
    extra = [f"scheme={scheme}", "scheme.burn_in=2"]
    straight = _run(tmp_path, "straight", extra)
    source = warm if scheme == "mail" else warm.parent  # a run dir, or a folder of runs (a sweep)
    branched = _run(tmp_path, "branched", [*extra, f"warmup.from={source}"])
    assert straight.name == branched.name  # same run identity: warmup.* is not hashed
    for name in ("metrics.csv", "confusion.csv", "weights_log.csv"):
        _same_bytes(straight, branched, name)
    a, b = (pd.read_csv(d / "train_log.csv") for d in (straight, branched))
    assert list(a.columns) == list(b.columns) and any(
        c.startswith("select_val_") for c in a.columns
    )
    assert a.drop(columns=WALL_CLOCK).to_csv() == b.drop(columns=WALL_CLOCK).to_csv()
    info = json.loads((branched / "run.json").read_text())
    parent_hash = json.loads((warm / "run.json").read_text())["config_hash"]
    assert info["warmup"]["epoch"] == 2 and info["warmup"]["parent_config_hash"] == parent_hash
    assert info["warmup"]["parent_run"] == warm.name and "warmup" not in json.loads(
        (straight / "run.json").read_text()
    )
    assert info["config_hash"] == json.loads((straight / "run.json").read_text())["config_hash"]
    # the reweighting really acted after the branch (else the test would prove little)
    w = pd.read_csv(branched / "weights_log.csv").set_index("epoch")
    assert (w.loc[[1, 2], "mean"] == 1.0).all() and (w.loc[[3, 4], "max"] != 1.0).all()


def test_warmup_run_keeps_a_resume_state(warm):
    import torch

    state = torch.load(branch_file(warm, 2), weights_only=True)
    assert state["epoch"] == 2 and {"model", "optimizer", "schedule", "best", "best_model"} <= set(
        state
    )
    assert (warm / "DONE").exists() and not branch_file(warm, 1).exists()


def test_refuses_a_different_training_attack(tmp_path, warm):
    with pytest.raises(UserError) as e:
        _run(
            tmp_path,
            "madry",
            ["scheme=mail", "scheme.burn_in=2", "train_attack=madry", f"warmup.from={warm}"],
        )
    msg = e.value.message
    assert "attack_bn_mode" in msg and "start" in msg and "\n" not in msg


def test_refuses_a_burn_in_shorter_than_the_branch_epoch(tmp_path, warm):
    with pytest.raises(UserError, match="burn_in 1 < branch epoch 2"):
        _run(
            tmp_path,
            "short",
            ["scheme=mail", "scheme.burn_in=1", "warmup.epoch=2", f"warmup.from={warm}"],
        )


@pytest.mark.slow  # ~9 s; the warm-up missing rules keep fast unit tests
def test_a_sweep_folder_without_an_equivalent_run(tmp_path, warm):
    folder = warm.parent  # outputs/runs: holds the warm-up run only
    cfg = [f"warmup.from={folder}", "scheme=mail", "scheme.burn_in=2", "seed=1"]
    with pytest.raises(UserError, match="no warm-up-equivalent run"):
        _run(tmp_path, "s1", cfg)
    run = _run(tmp_path, "s1", [*cfg, "warmup.missing=train"])
    assert (run / "DONE").exists() and "warmup" not in json.loads((run / "run.json").read_text())


# -- the warm-up-equivalence rule, without training ------------------------------------------


def _sem(overrides):
    from robustbench_runner.config import semantic_dict

    return semantic_dict(compose_cfg(overrides))


@pytest.mark.parametrize(
    ("paper", "parent", "child", "shares"),
    [
        ("irat/main", "standard", "mail", True),
        (
            "irat/main",
            "standard",
            "ours_wmmr",
            True,
        ),  # mr_wmmr's own config is Madry-style; the paper block is not
        ("irat/main", "standard", "gairat", True),
        ("vir/rn18_cifar10", "at", "vir_at", True),
        ("vir/rn18_cifar10", "at", "mail", True),
        (
            "vir/rn18_cifar10",
            "trades",
            "vir_trades",
            False,
        ),  # 1/lambda 4 (TRADES) vs 5 (VIR-TRADES)
        ("vir/rn18_cifar10", "at", "mart", False),
    ],
)
def test_paper_schemes_share_their_warm_up(paper, parent, child, shares):
    group = paper.split("/")[0]
    base = [f"experiment={paper}", "scale=paper"]
    p = _sem([*base, f"+experiment/{group}/scheme={parent}"])
    c = _sem([*base, f"+experiment/{group}/scheme={child}"])
    epoch = scheme_signature(c["scheme"])[1] or 75
    diff = differing_keys(p, c, epoch)
    assert (diff == []) == shares, diff


def test_gairat_in_vir_branches_at_60():
    base = ["experiment=vir/rn18_cifar10", "scale=paper"]
    p, c = (
        _sem([*base, "+experiment/vir/scheme=at"]),
        _sem([*base, "+experiment/vir/scheme=gairat"]),
    )
    assert scheme_signature(c["scheme"])[1] == 59 and differing_keys(p, c, 59) == []
    assert differing_keys(p, c, 75)  # its weights start at epoch 60


def test_warmup_keys_do_not_change_the_config_hash():
    a = compose_cfg([*PROTO, "scheme=mail"])
    b = compose_cfg([*PROTO, "scheme=mail", "warmup.from=/x", "warmup.save_at=[2]"])
    assert config_hash(a) == config_hash(b) and run_dir_of(a) == run_dir_of(b)


@pytest.mark.parametrize(
    ("child", "parent_scheme"),
    [
        (
            [
                "experiment=vir/hp_trades_beta",
                "+experiment/vir/scheme=vir_trades",
                "scheme.beta=0.5",
            ],
            "vir_trades",
        ),
        (["experiment=vir/hp_at_alpha", "+experiment/vir/scheme=vir_at", "scheme.alpha=1.0"], "at"),
        (
            [
                "experiment=vir/ablation_components",
                "+experiment/vir/scheme=vir_at",
                "scheme.components=sd",
            ],
            "at",
        ),
        (
            [
                "experiment=vir/ablation_components",
                "+experiment/vir/scheme=vir_trades",
                "scheme.components=sv",
            ],
            "vir_trades",
        ),
    ],
)
def test_vir_ablations_branch_from_the_main_block(child, parent_scheme):
    """The ablations change weight constants and evaluation columns only (what the Makefile's
    shared warm-up relies on)."""
    p = _sem(
        ["experiment=vir/rn18_cifar10", "scale=paper", f"+experiment/vir/scheme={parent_scheme}"]
    )
    assert differing_keys(p, _sem([*child, "scale=paper"]), 75) == []


@pytest.mark.slow
def test_a_branched_run_killed_after_the_branch_resumes_exactly(tmp_path, warm):
    """SIGKILL in the first training batch after the branch; the rerun resumes from the
    branched last.pt (no new branch), keeps the provenance and still equals the straight run."""
    from rbr_testing import cli

    extra = ["scheme=mail", "scheme.burn_in=2"]
    straight = _run(tmp_path, "straight", extra)
    args = [*PROTO, f"output_root={tmp_path / 'killed'}", *extra, f"warmup.from={warm}"]
    proc = cli(args, env={"RBR_CRASH_AT": "batch:1"})
    assert proc.returncode != 0 and "branching from" in proc.stdout
    proc = cli(args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "branching from" not in proc.stdout and "resuming" in proc.stdout
    killed = tmp_path / "killed" / "runs" / straight.name
    for name in ("metrics.csv", "confusion.csv", "weights_log.csv"):
        _same_bytes(straight, killed, name)
    assert json.loads((killed / "run.json").read_text())["warmup"]["parent_run"] == warm.name


def test_save_at_must_name_epochs_of_the_run(tmp_path):
    with pytest.raises(UserError, match=r"warmup.save_at=\[9\]: 9 is not an epoch in 1..4"):
        _run(tmp_path, "bad", ["scheme=pgd_at", "warmup.save_at=[9]"])
