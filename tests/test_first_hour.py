"""A researcher's first hour (issue 24): defaults that follow what is asked, models by name,
schedules, the run's own log, and the small errors that stay on the one-line exit-2 contract.
Fast tests; the README walk is tests/test_readme_walk.py (slow)."""

from __future__ import annotations

import pytest

from rbr_testing import compose_cfg
from robustbench_runner.config import config_hash, validate
from robustbench_runner.errors import UserError
from robustbench_runner.grids import every_and_last

# -- item 3/4: eval.grid follows train.epochs -----------------------------------------------


@pytest.mark.parametrize(
    ("k", "epochs", "grid"),
    [(2, 8, [2, 4, 6, 8]), (2, 1, [1]), (2, 3, [2, 3]), (4, 10, [4, 8, 10]), (1, 3, [1, 2, 3]), (5, 5, [5])],
)
def test_every_and_last(k, epochs, grid):
    assert every_and_last(k, epochs) == grid


def test_every_and_last_refuses_step_zero():
    with pytest.raises(UserError):
        every_and_last(0, 8)


@pytest.mark.parametrize("epochs", [1, 3, 8])
def test_default_grid_follows_train_epochs(epochs):
    cfg = compose_cfg([f"train.epochs={epochs}"])
    grid = list(cfg.eval.grid)
    assert grid[-1] == epochs and all(1 <= e <= epochs for e in grid)
    validate(cfg)  # train.epochs=1 used to fail: the default grid held epoch 2


def test_default_grid_keeps_the_default_experiment_hash():
    """The default experiment (8 epochs) keeps its grid [2, 4, 6, 8], spelled out or derived:
    the same config hash, so existing run folders stay valid."""
    derived = compose_cfg([])
    spelled = compose_cfg(["eval.grid=[2,4,6,8]"])
    assert list(derived.eval.grid) == [2, 4, 6, 8]
    assert config_hash(derived) == config_hash(spelled)


def test_explicit_grid_still_wins():
    cfg = compose_cfg(["train.epochs=4", "eval.grid=[1,3]"])
    assert list(cfg.eval.grid) == [1, 3]


# -- item 2: models by name (timm, torchvision), lazy modules ---------------------------------

DIGITS = {"num_classes": 10, "in_channels": 1, "image_size": 32}


def _build(overrides, dims=DIGITS):
    import torch

    from robustbench_runner.build import build_model

    cfg = compose_cfg(overrides)
    model = build_model(cfg.model, dims, 0)
    out = model(torch.rand(2, dims["in_channels"], dims["image_size"], dims["image_size"]))
    return cfg, model, out


def test_timm_by_name_maps_channels_and_classes(monkeypatch):
    timm = pytest.importorskip("timm")
    seen = {}
    real = timm.create_model

    def spy(name, **kw):
        seen.update(kw, name=name)
        return real(name, **kw)

    monkeypatch.setattr(timm, "create_model", spy)
    cfg, model, out = _build(["model=timm", "model.name=resnet18"])
    assert seen == {"name": "resnet18", "pretrained": False, "num_classes": 10, "in_chans": 1}  # timm's own names, no download
    assert model.conv1.in_channels == 1 and tuple(out.shape) == (2, 10)
    assert cfg.name == "digits-timm_resnet18-standard-s0"  # apart from rbr's own model=resnet18


def test_torchvision_by_name_adapts_the_stem():
    cfg, model, out = _build(["model=torchvision", "model.name=resnet18"])
    assert model.conv1.in_channels == 1 and model.conv1.kernel_size == (7, 7) and model.fc.out_features == 10
    assert tuple(out.shape) == (2, 10)
    assert cfg.name == "digits-tv_resnet18-standard-s0"
    _, model3, _ = _build(["model=torchvision", "model.name=resnet18"], {**DIGITS, "in_channels": 3, "num_classes": 7})
    assert model3.conv1.in_channels == 3 and model3.fc.out_features == 7


def test_adapt_first_conv_keeps_pretrained_response_on_grey_images():
    """One channel gets the sum of the RGB kernels: a grey image (r = g = b) responds the same."""
    import torch
    from torch import nn

    from robustbench_runner.models.by_name import adapt_first_conv

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    grey = torch.rand(2, 1, 8, 8)
    want = net(grey.expand(-1, 3, -1, -1))
    adapt_first_conv(net, 1, keep_weights=True)
    assert net[0].in_channels == 1
    torch.testing.assert_close(net(grey), want)


def test_by_name_weights_from_a_local_file(tmp_path):
    import torch

    _, model, _ = _build(["model=torchvision", "model.name=resnet18"])
    with torch.no_grad():
        model.fc.bias.fill_(0.25)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    _, loaded, _ = _build(["model=torchvision", "model.name=resnet18", f"model.weights={tmp_path / 'w.pt'}"])
    assert torch.equal(loaded.fc.bias, torch.full((10,), 0.25))


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["model=torchvision", "model.name=no_such_net"], "torchvision has no model 'no_such_net'"),
        (["model=torchvision", "model.name=resnet18", "model.weights=/nonexistent/w.pt"], "is not a file"),
    ],
)
def test_by_name_errors_are_one_line(overrides, needle):
    with pytest.raises(UserError) as e:
        _build(overrides)
    assert needle in e.value.one_line() and "\n" not in e.value.one_line()


def test_by_name_without_a_name_is_one_line_exit_2(monkeypatch, capsys, tmp_path):  # QUICK: below
    from rbr_testing import main_inprocess

    code, err = main_inprocess([*QUICK[:1], *QUICK[2:], "model=torchvision", "model.name=null", f"output_root={tmp_path}"], monkeypatch, capsys)
    assert code == 2 and "model=torchvision needs the model's name" in err and len(err.strip().splitlines()) == 1, err
    assert not any(tmp_path.rglob("*.*"))  # a command that computed nothing leaves no run folder (nor run.log)


def test_a_missing_value_is_one_line_exit_2(monkeypatch, capsys, tmp_path):
    from rbr_testing import main_inprocess

    code, err = main_inprocess(["model=torchvision", "model.name=???", f"output_root={tmp_path}"], monkeypatch, capsys)
    assert code == 2 and "model.name has no value" in err and len(err.strip().splitlines()) == 1, err


def test_by_name_targets_may_come_from_a_checkpoint():
    """mode=eval rebuilds the model from a checkpoint's stored config: the by-name builders
    are shipped targets (conf/model/*.yaml name them)."""
    from robustbench_runner.models.by_name import TIMM, TORCHVISION
    from robustbench_runner.targets import is_allowed

    assert is_allowed(TIMM) and is_allowed(TORCHVISION)


def lazy_net(num_classes: int):
    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.LazyLinear(32), nn.ReLU(), nn.LazyLinear(num_classes))


def test_lazy_modules_are_materialized_before_the_optimizer():
    from torch.nn.parameter import UninitializedParameter

    from robustbench_runner.build import build_optimizer

    cfg, model, out = _build(["model=custom", "model._target_=test_first_hour.lazy_net"])
    assert not any(isinstance(p, UninitializedParameter) for p in model.parameters())
    assert model[1].in_features == 32 * 32 and tuple(out.shape) == (2, 10)
    opt, _ = build_optimizer(cfg.optim, model)
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == 32 * 32 * 32 + 32 + 32 * 10 + 10


def test_lazy_modules_are_seeded_by_init_seed():
    import torch

    _, a, _ = _build(["model=custom", "model._target_=test_first_hour.lazy_net"])
    _, b, _ = _build(["model=custom", "model._target_=test_first_hour.lazy_net"])
    torch.testing.assert_close(a[1].weight, b[1].weight)


def test_a_model_too_deep_for_the_input_size_is_one_line():
    """torchvision's VGG-11 (five max-pools) cannot take 16x16 digits: a UserError naming the
    shape when the model is built, not a raw RuntimeError in the first training batch."""
    with pytest.raises(UserError, match=r"forward pass on inputs of shape \[1, 16, 16\] failed.*Output size is too small") as e:
        _build(["model=torchvision", "model.name=vgg11"], dims={"num_classes": 10, "in_channels": 1, "image_size": 16})
    assert "data.image_size=32" in e.value.one_line() and "\n" not in e.value.one_line()


# -- item 4: run.log, item 7: small errors on the one-line exit-2 contract ----------------------

QUICK = ["device=cpu", "model.batch_norm=true", "data.limit_train=64", "data.limit_test=40", "data.image_size=16",
         "train.epochs=1", "train.batch_size=32", "eval.n_eval=16", "eval.batch_size=16", "attacks.pgd20.steps=2",
         "progress=false"]  # fmt: skip


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    from rbr_testing import run_inprocess

    root = tmp_path_factory.mktemp("quick")
    return run_inprocess([*QUICK, f"output_root={root}"]), root


def test_run_log_tells_the_story(quick_run, capsys):
    from rbr_testing import run_inprocess
    from robustbench_runner.io import read_manifest

    run, tmp_path = quick_run
    log = (run / "run.log").read_text()
    assert log.splitlines()[0].split(" ", 2)[2].startswith("=== rbr-run")  # date, time, the invocation
    assert "[rbr] epoch 1/1 loss" in log  # the epoch line, with loss and accuracy
    assert "epoch_001 PGD-2:" in log and "pts robust" in log  # attack closing lines
    assert "worst-case" in log and "clean-attacked" in log  # the summary table
    assert "run.log" in read_manifest(run)  # overwrite=true deletes it with the run
    size = (run / "run.log").stat().st_size
    capsys.readouterr()
    run_inprocess([*QUICK, f"output_root={tmp_path}"])  # DONE: nothing to do, the folder untouched
    assert "is complete (DONE)" in capsys.readouterr().out
    assert (run / "run.log").stat().st_size == size


def test_tracker_asked_on_a_finished_run_is_backfilled(quick_run, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from rbr_testing import run_inprocess

    run, root = quick_run
    run_inprocess([*QUICK, f"output_root={root}", "logger=tensorboard"])  # DONE, and a tracker asked for
    assert "copied this finished run's train_log.csv and metrics.csv rows" in capsys.readouterr().out
    ea = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    ea.Reload()
    tags = ea.Tags()["scalars"]
    assert "train/loss" in tags and any(t.startswith("test/PGD-2/acc") for t in tags)


def test_val_size_at_least_the_data_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    from rbr_testing import main_inprocess

    code, err = main_inprocess([*QUICK, "data.val_size=64", f"output_root={tmp_path}"], monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "data.val_size=64 is not smaller than the training split" in err and "fix: set data.val_size below 64" in err
    assert not any(tmp_path.rglob("run.log"))  # a command that computed nothing leaves no folder behind
    assert not (tmp_path / "runs" / "digits-cnn6-standard-s0").exists()


# -- item 6: schedules from torch's own schedulers; rbr-tables --list in natural order ------------


@pytest.mark.parametrize("optim", ["sgd_cosine", "adamw_cosine"])
def test_cosine_with_warmup(optim):
    """Linear warm-up to lr, then cosine to eta_min: the lr per epoch follows the formula."""
    import math

    import torch

    from robustbench_runner.build import build_optimizer

    cfg = compose_cfg([f"optim={optim}", "train.epochs=40"])
    assert cfg.optim.schedule.warmup_epochs == 2  # 5% of 40
    model = torch.nn.Linear(2, 2)
    opt, sched = build_optimizer(cfg.optim, model)
    lr0, warm = float(cfg.optim.optimizer.lr), 2
    lrs = []
    for _ in range(40):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.01 * lr0) and lrs[warm] == pytest.approx(lr0)
    assert lrs[1] == pytest.approx(lr0 * (0.01 + 0.99 / 2))  # linear in between
    for t in (5, 20, 39):
        assert lrs[t] == pytest.approx(lr0 * (1 + math.cos(math.pi * (t - warm) / (40 - warm))) / 2, rel=1e-6)


def test_cosine_warmup_errors_are_user_errors():
    import torch

    from robustbench_runner.schedules import warmup_cosine

    opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    with pytest.raises(UserError, match="warmup_epochs=5 must be"):
        warmup_cosine(opt, epochs=5, warmup_epochs=5)
    assert isinstance(warmup_cosine(opt, epochs=3), torch.optim.lr_scheduler.CosineAnnealingLR)  # short runs: no warm-up


def test_tables_list_is_in_natural_order(capsys):
    from robustbench_runner.tables import cli
    from robustbench_runner.tables.cli import natural_key

    assert sorted(["prs/table10", "prs/table2", "prs/fig1"], key=natural_key) == ["prs/fig1", "prs/table2", "prs/table10"]
    cli.run(cli.parse_args(["--list"]))
    ids = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert ids == sorted(ids, key=natural_key) and len(ids) > 10


# -- item 5: curves.png and the summary say what they show -------------------------------------


def _metrics_rows():
    import pandas as pd

    rows = []
    for epoch, (clean, ca, fgsm, pgd) in {2: (0.80, 0.81, 0.30, 0.20), 4: (0.90, 0.91, 0.35, 0.25)}.items():
        for attack, eps, value, n in [("clean", 0.0, clean, 450), ("clean-attacked", 0.0, ca, 300), ("FGSM", 0.1, fgsm, 300),
                                      ("PGD-20", 0.1, pgd, 300), ("worst-case", 0.1, pgd, 300)]:  # fmt: skip
            rows.append({"epoch": epoch, "checkpoint": f"epoch_{epoch:03d}", "split": "test", "attack": attack, "eps": eps, "metric": "acc", "value": value, "n": n})
    return pd.DataFrame(rows)


def test_worst_case_does_not_hide_pgd20():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from robustbench_runner.plots import _epoch_panel, _single_eps

    m = _metrics_rows()
    fig, ax = plt.subplots()
    _epoch_panel(ax, m, _single_eps(m, []), set())
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    worst = next(ln for label, ln in lines.items() if label.startswith("worst-case"))
    pgd = lines["PGD-20 @ 0.1"]
    assert "(= PGD-20 at every epoch)" in worst.get_label()
    assert worst.get_zorder() < pgd.get_zorder() and worst.get_linewidth() > 2 * pgd.get_linewidth()  # a band under the line
    assert "clean, whole test split (n=450)" in lines and "clean, attacked points (n=300)" in lines
    plt.close(fig)


def test_summary_says_why_the_clean_n_differ(tmp_path, capsys):
    from robustbench_runner.results import RunFiles, RunIdentity
    from robustbench_runner.summary import print_summary

    files = RunFiles(tmp_path)
    ident = RunIdentity(run="r", dataset="digits", model="cnn6", scheme="standard", seed=0, batch_size=64, config_hash="abc")
    for (epoch, ckpt), grp in _metrics_rows().groupby(["epoch", "checkpoint"]):
        files.add_metrics(ident, int(epoch), ckpt, "test", grp[["attack", "eps", "metric", "value", "n"]].to_dict("records"))
    print_summary(files)
    out = capsys.readouterr().out
    assert "clean: accuracy on the whole test split (n=450); clean-attacked: on the n=300 points given to the attacks" in out


# -- item 7: rbr-tables over a select= run next to a plain one ------------------------------------


def _plain_and_select_runs(root):
    from test_report import make_run

    from robustbench_runner.results import RunIdentity

    make_run(root, 0)
    sel = make_run(root / "s", 0)  # the same run with select=pgd20: also a `best` checkpoint
    sel.dir.rename(root / "digits-cnn6-standard-s0-select")
    from robustbench_runner.results import RunFiles

    sel = RunFiles(root / "digits-cnn6-standard-s0-select")
    ident = RunIdentity(run=sel.dir.name, dataset="digits", model="cnn6", scheme="standard", seed=0, batch_size=16, config_hash="h0s")
    sel.add_metrics(ident, 2, "best", "test", [{"attack": "clean", "eps": 0.0, "metric": "acc", "value": 0.8, "n": 300},
                                               {"attack": "PGD-20", "eps": 0.3, "metric": "acc", "value": 0.3, "n": 300}])  # fmt: skip
    (root / "s").rmdir()


def test_tables_over_a_select_run_next_to_a_plain_one(tmp_path):
    from rbr_testing import tables_cli

    _plain_and_select_runs(tmp_path)
    r = tables_cli([str(tmp_path), "--out", str(tmp_path / "tables")])
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "tables" / "summary.csv").exists()


def test_ambiguous_cell_names_the_differing_key(tmp_path):
    from rbr_testing import tables_cli

    _plain_and_select_runs(tmp_path)
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "mine.yaml").write_text(
        "id: mine\ntitle: PGD-20 per epoch\ncheckpoint: any\nwhere: {split: test}\nrows: [dataset, model, scheme, epoch]\n"
        "columns:\n  - {label: PGD-20, where: {attack: PGD-20, metric: acc}}\n"
    )
    r = tables_cli([str(tmp_path), "--specs", str(specs), "--table", "mine", "--out", str(tmp_path / "t")])
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(err) == 1, r.stderr
    assert "they differ in checkpoint (epoch_002, best)" in err[0] and "add a where filter on checkpoint" in err[0]
