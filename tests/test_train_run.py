"""Training machinery: every scheme from the CLI, adversarial training helps, "best"
checkpoint selection, continuing from another run, shared initial weights, schedules,
the weight-distribution log."""

from __future__ import annotations

import json

import pytest
import torch

from rbr_testing import TINY, cli, run_inprocess
from robustbench_runner.io import read_csv

# 13 schemes x 2 epochs of 2 steps: the sweeps check that each scheme runs and logs, not what
# it learns (test_pgd_at_raises_pgd_accuracy_over_standard does)
SMALL = [
    "model.batch_norm=true", "data.limit_train=32", "data.limit_test=16", "data.image_size=16",
    "train.epochs=2", "train.batch_size=16", "eval.grid=[2]", "eval.n_eval=8",
    "attacks.pgd20.steps=2", "progress=false",
]  # fmt: skip
REWEIGHTED = ["ewat", "gairat", "mail", "mail_trades", "mr_mail", "mr_wmmr", "vir_at", "vir_trades", "wmmr"]
PLAIN = ["standard", "pgd_at", "trades", "mart"]


@pytest.fixture(scope="module")
def scheme_sweeps(tmp_path_factory):
    """Every scheme, two epochs on digits, through the console entrypoint (two -m sweeps; the
    reweighted schemes with burn-in 1 so that epoch 2 uses their weights)."""
    root = tmp_path_factory.mktemp("schemes")
    plain = cli(["-m", f"scheme={','.join(PLAIN)}", *SMALL, f"output_root={root}", "sweep_name=plain"])
    assert plain.returncode == 0, plain.stderr[-3000:]
    rw = cli(["-m", f"scheme={','.join(REWEIGHTED)}", "++scheme.burn_in=1", "++scheme.attack.steps=2", *SMALL,
              f"output_root={root}", "sweep_name=reweighted"])  # fmt: skip
    assert rw.returncode == 0, rw.stderr[-3000:]
    return root / "sweeps"


@pytest.mark.parametrize("scheme", PLAIN + REWEIGHTED)
def test_every_scheme_trains_two_epochs(scheme_sweeps, scheme):
    sweep = "plain" if scheme in PLAIN else "reweighted"
    run = scheme_sweeps / sweep / f"digits-cnn6-{scheme}-s0"
    assert (run / "DONE").exists()
    log = read_csv(run / "train_log.csv")
    assert list(log.epoch) == [1, 2] and log.loss.notna().all()
    m = read_csv(run / "metrics.csv")
    assert (m.scheme == scheme).all() and set(m.epoch) == {2}


@pytest.mark.parametrize("scheme", REWEIGHTED)
def test_weights_log(scheme_sweeps, scheme):
    """Epoch 1 is burn-in (all weights 1); epoch 2 logs the scheme's weights: mean/min/max
    and per-class sums that add up to the epoch's total weight (paper vir fig. 3)."""
    w = read_csv(scheme_sweeps / "reweighted" / f"digits-cnn6-{scheme}-s0" / "weights_log.csv")
    log = read_csv(scheme_sweeps / "reweighted" / f"digits-cnn6-{scheme}-s0" / "train_log.csv")
    class_cols = [c for c in w.columns if c.startswith("sum_class_")]
    assert len(class_cols) == 10
    e1, e2 = w.set_index("epoch").loc[1], w.set_index("epoch").loc[2]
    assert e1["min"] == e1["max"] == e1["mean"] == 1.0
    n = log.set_index("epoch").loc[2, "n"]
    assert e2[class_cols].sum() == pytest.approx(e2["mean"] * n, rel=1e-9)
    assert e2["min"] <= e2["mean"] <= e2["max"]


@pytest.mark.slow  # ~40 s of training; test_every_scheme_trains_two_epochs keeps PGD-AT in the fast suite
def test_pgd_at_raises_pgd_accuracy_over_standard(tmp_path):
    common = ["model.batch_norm=true", "data.limit_train=600", "data.limit_test=200", "data.image_size=16",
              "train.epochs=4", "train.batch_size=32", "eval.grid=[4]", "eval.n_eval=100",
              "attacks.pgd20.steps=10", "progress=false", f"output_root={tmp_path}"]  # fmt: skip
    std = read_csv(run_inprocess([*common, "scheme=standard"]) / "metrics.csv")
    at = read_csv(run_inprocess([*common, "scheme=pgd_at", "scheme.attack.steps=5"]) / "metrics.csv")

    def pgd(m):
        return m[(m.attack == "PGD-10") & (m.metric == "acc")].value.item()

    assert pgd(at) > pgd(std) + 0.15, (pgd(at), pgd(std))


def test_best_checkpoint_selected_on_validation(tmp_path):
    run = run_inprocess([*TINY, f"output_root={tmp_path}", "train.epochs=3", "eval.grid=[3]", "select=pgd20",
                         "data.val_size=40", "select.attack.steps=3"])  # fmt: skip
    log = read_csv(run / "train_log.csv")
    col = "select_val_PGD-3"
    assert col in log.columns
    best_epoch = int(log.epoch[log[col].idxmax()])  # first maximum: ties keep the earlier epoch
    best = torch.load(run / "ckpt" / "best.pt", weights_only=True)
    assert best["epoch"] == best_epoch and best["select"]["value"] == log[col].max()
    m = read_csv(run / "metrics.csv")
    assert set(m.checkpoint) == {"epoch_003", "best"}
    assert (m[m.checkpoint == "best"].epoch == best_epoch).all()
    assert (m[m.checkpoint == "best"].attack == "PGD-5").any()
    assert log.n.iloc[0] == 320 - 40  # the validation samples left the training set


def test_select_on_missing_validation_split_is_an_error(tmp_path):
    from robustbench_runner.errors import UserError

    with pytest.raises(UserError, match="has no validation split.*data.val_size"):
        run_inprocess([*TINY, f"output_root={tmp_path}", "select=pgd20"])


@pytest.mark.slow  # ~11 s; the README walk runs init_from as written
def test_continue_from_another_run_records_parent(tmp_path):
    parent = run_inprocess([*TINY, f"output_root={tmp_path}"])
    child = run_inprocess([*TINY, f"output_root={tmp_path}", f"init_from={parent}", "scheme=pgd_at",
                           "scheme.attack.steps=2", "tag=ft", "eval.grid=[0,2]"])  # fmt: skip
    assert child.name == "digits-cnn6-pgd_at-s0-ft"
    info = json.loads((child / "run.json").read_text())
    assert info["parent"]["run"] == parent.name and info["parent"]["epoch"] == 2
    assert info["parent"]["scheme"] == "standard"
    start = torch.load(child / "ckpt" / "epoch_000.pt", weights_only=True)["model"]
    final = torch.load(parent / "ckpt" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(start[k], final[k]) for k in final)


def test_init_seed_shares_initial_weights_across_seeds(tmp_path):
    a = run_inprocess([*TINY, f"output_root={tmp_path}", "seed=1", "init_seed=7", "train.epochs=1", "eval.grid=[0]"])
    b = run_inprocess([*TINY, f"output_root={tmp_path}", "seed=2", "init_seed=7", "train.epochs=1", "eval.grid=[0]"])
    c = run_inprocess([*TINY, f"output_root={tmp_path}", "seed=3", "train.epochs=1", "eval.grid=[0]"])

    def w0(run):
        return torch.load(run / "ckpt" / "epoch_000.pt", weights_only=True)["model"]

    assert all(torch.equal(w0(a)[k], w0(b)[k]) for k in w0(a))
    assert not torch.equal(w0(a)["body.0.0.weight"], w0(c)["body.0.0.weight"])
    # the data order differs (seed), so the trained weights differ
    la, lb = read_csv(a / "train_log.csv"), read_csv(b / "train_log.csv")
    assert la.loss.item() != lb.loss.item()


def test_schedule_decays_at_half_of_training(tmp_path):
    run = run_inprocess([*TINY, f"output_root={tmp_path}", "optim=sgd_half", "train.epochs=4", "eval.grid=[4]"])
    lr = read_csv(run / "train_log.csv").lr.tolist()
    assert lr == pytest.approx([0.01, 0.01, 0.001, 0.001])
