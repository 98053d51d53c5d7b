"""A run is a loop with hooks (robustbench_runner/loop.py): the hooks are called in the
documented order, a user's callback comes from the config after the built-in ones, the
docs/byo.md example runs as written."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from test_byo import doc_blocks, run_as_written, section

from rbr_testing import REPO, TINY, run_inprocess
from robustbench_runner.build import build_model
from robustbench_runner.callbacks import (
    BestCheckpoint,
    CurvesCallback,
    DropResumeState,
    GridCheckpoints,
    TrackerCallback,
    WarmupCallback,
    train_callbacks,
)
from robustbench_runner.errors import UserError
from robustbench_runner.loop import HOOKS, Callback

SMALL = [o for o in TINY if not o.startswith(("data.limit_train", "eval.n_eval", "eval.grid"))]
SMALL += ["data.limit_train=64", "eval.n_eval=8", "eval.grid=[1,2]"]

CALLS: list[tuple] = []


class Recorder(Callback):
    """Records every hook it gets (with the arguments that name where the loop is)."""

    def __init__(self, tag: str = "rec"):
        self.tag = tag

    def on_start(self, loop):
        CALLS.append(("on_start", type(loop).__name__, loop.model is not None))

    def on_resume(self, loop, epoch):
        CALLS.append(("on_resume", epoch))

    def on_epoch_end(self, loop, epoch, row):
        row[f"{self.tag}_epoch_twice"] = 2 * epoch  # a column of the user's own
        CALLS.append(("on_epoch_end", epoch))

    def on_checkpoint(self, loop, epoch, state):
        CALLS.append(("on_checkpoint", epoch, state["epoch"], "optimizer" in state, loop.files.ckpt("last").exists()))

    def on_evaluated(self, loop, label, epoch):
        have = set(loop.files.read_metrics().checkpoint)
        CALLS.append(("on_evaluated", label, epoch, label in have))

    def on_finish(self, loop):
        m = loop.files.read_metrics()
        written = set(zip(m.checkpoint, m.attack, strict=True))
        CALLS.append(("on_finish", loop.files.done.exists()))
        CALLS.append(("missing before DONE", sorted(loop.expected_rows() - written), len(loop.expected_rows()) > 2))

    def on_done(self, loop):
        CALLS.append(("on_done", loop.files.done.exists()))


def test_hooks_are_called_in_order_and_a_hook_adds_a_column(tmp_path):
    CALLS.clear()
    run = run_inprocess([*SMALL, f"output_root={tmp_path}", "+callbacks.rec._target_=test_loop.Recorder"])
    assert CALLS == [
        ("on_start", "TrainRun", True),
        ("on_resume", 0),
        ("on_epoch_end", 1),
        # the built-in GridCheckpoints evaluates in its on_checkpoint, before the user's one
        ("on_evaluated", "epoch_001", 1, True),
        ("on_checkpoint", 1, 1, True, True),
        ("on_epoch_end", 2),
        ("on_evaluated", "epoch_002", 2, True),
        ("on_checkpoint", 2, 2, True, True),
        ("on_finish", False),
        ("missing before DONE", [], True),
        ("on_done", True),
    ]
    log = pd.read_csv(run / "train_log.csv")
    assert list(log.rec_epoch_twice) == [2, 4]
    # a finished run is a no-op: no hook is called
    CALLS.clear()
    run_inprocess([*SMALL, f"output_root={tmp_path}", "+callbacks.rec._target_=test_loop.Recorder"])
    assert CALLS == []


def test_an_eval_run_calls_the_same_hooks(tmp_path):
    trained = run_inprocess([*SMALL, f"output_root={tmp_path}", "train.epochs=1", "eval.grid=[1]"])
    CALLS.clear()
    run_inprocess(["mode=eval", f"checkpoint={trained}", f"output_root={tmp_path}", "eval.n_eval=8",
                   "attacks.pgd20.steps=2", "progress=false", "device=cpu", "+callbacks.rec._target_=test_loop.Recorder"])  # fmt: skip
    assert CALLS == [("on_start", "EvalRun", True), ("on_evaluated", "epoch_001", 1, True), ("on_finish", False), ("missing before DONE", [], True), ("on_done", True)]


def test_built_in_callbacks_follow_the_config():
    from rbr_testing import compose_cfg

    plain = [type(c) for c in train_callbacks(compose_cfg([*SMALL, "train.keep_optimizer_state=true"]))]
    assert plain == [WarmupCallback, GridCheckpoints, TrackerCallback, CurvesCallback]
    full = [type(c) for c in train_callbacks(compose_cfg([*SMALL, "select=pgd20", "train.keep_optimizer_state=false"]))]
    assert full == [WarmupCallback, BestCheckpoint, GridCheckpoints, TrackerCallback, DropResumeState, CurvesCallback]
    assert set(HOOKS) == {"on_start", "on_resume", "on_epoch_end", "on_checkpoint", "on_evaluated", "on_finish", "on_done"}


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ("+callbacks.x._target_=collections.OrderedDict", "is not a robustbench_runner.loop.Callback"),
        ("+callbacks.x._target_=no_such_module.Thing", "callbacks.x: cannot create no_such_module.Thing"),
        ("+callbacks.x.column=3", "callbacks.x names no _target_"),
    ],
)
def test_a_bad_callback_is_a_one_line_error_before_anything_runs(tmp_path, override, says):
    with pytest.raises(UserError, match=says):
        run_inprocess([*SMALL, f"output_root={tmp_path}", override])
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("metrics.csv"))


@pytest.mark.slow
def test_docs_callback_example_runs_as_written(tmp_path):
    text = section((REPO / "docs" / "byo.md").read_text(), "Your own hooks: callbacks")
    files, commands = doc_blocks(text)
    assert set(files) == {"weightnorm_callback.py"}
    (command,) = commands
    shrink = " ".join(o for o in SMALL if not o.startswith("eval.grid")) + " train.epochs=2 eval.grid=[2]"
    res = run_as_written(tmp_path, files, f"{command} {shrink}")
    assert res.returncode == 0, res.stderr[-2000:]
    run = tmp_path / "outputs" / "runs" / "digits-cnn6-standard-s0"
    log = pd.read_csv(run / "train_log.csv")
    ck = torch.load(run / "ckpt" / "last.pt", weights_only=True)
    model = build_model(OmegaConf.create(ck["config"]).model, ck["dims"], 0)
    model.load_state_dict(ck["model"])
    norm = sum(float((p.double() ** 2).sum()) for p in model.parameters()) ** 0.5
    assert list(log.epoch) == [1, 2] and log.weight_norm.iloc[-1] == pytest.approx(norm, rel=1e-9)


@pytest.mark.slow
def test_a_grid_checkpoint_lost_before_its_evaluation_is_named(tmp_path):
    """Killed right after ``last.pt`` of epoch 1 (its grid checkpoint saved, not evaluated);
    the grid checkpoint is then lost: the resumed run says so, computes what it can, and
    stops with one line at DONE's precondition (``write_done``: every expected row), which
    names the rows ``expected_rows`` still misses; no DONE is written."""
    from rbr_testing import cli

    args = [*SMALL, f"output_root={tmp_path}", "train.epochs=2"]
    assert cli(args, env={"RBR_CRASH_AT": "checkpoint:2"}).returncode != 0
    run = tmp_path / "runs" / "digits-cnn6-standard-s0"
    (run / "ckpt" / "epoch_001.pt").unlink()
    proc = cli(args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"{run / 'ckpt' / 'epoch_001.pt'} is missing, so epoch 1's results cannot be computed" in proc.stderr
    assert "metrics.csv lacks the results of epoch_001/" in proc.stderr.strip().splitlines()[-1]
    assert not (run / "DONE").exists()
    m = pd.read_csv(run / "metrics.csv")
    assert set(m.checkpoint) == {"epoch_002"}
