"""Experiment trackers (``logger=...``): what they hold is read back with each library's own
reader (TensorBoard's EventAccumulator, MLflow's MlflowClient); a resumed run continues the
same tracker run with no duplicate points."""

from __future__ import annotations

import json
import sys
from collections import Counter

import pytest

from rbr_testing import TINY, cli, compose_cfg
from robustbench_runner.errors import UserError
from robustbench_runner.loggers import open_tracker
from robustbench_runner.loggers.points import metric_key, run_points
from robustbench_runner.results import RunFiles, RunIdentity

IDENT = RunIdentity(run="r", dataset="digits", model="cnn6", scheme="standard", seed=0, batch_size=16, config_hash="abc123")


def write_epoch(files: RunFiles, epoch: int, loss: float) -> None:
    files.add_train_log({"epoch": epoch, "loss": loss, "acc": 1 - loss / 3, "lr": 0.001, "seconds": 1.0, "n": 320})
    rows = [{"attack": "clean", "eps": 0.0, "metric": "acc", "value": 0.5 + 0.1 * epoch, "n": 80}]
    rows += [{"attack": "FGSM", "eps": e, "metric": "acc", "value": 0.5 - e, "n": 40} for e in (0.0, 0.1, 0.2)]
    rows += [{"attack": "FGSM", "eps": float("nan"), "metric": "auc_norm", "value": 0.8, "n": 40}]
    rows += [{"attack": "PGD-20", "eps": 0.1, "metric": "acc", "value": 0.3, "n": 40}]
    files.add_metrics(IDENT, epoch, f"epoch_{epoch:03d}", "test", rows)


def tb_scalars(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "tensors": 0})
    ea.Reload()
    return ea, {t: [(e.step, e.value) for e in ea.Scalars(t)] for t in ea.Tags()["scalars"]}


def test_series_names():
    assert metric_key("epoch_004", "test", "PGD-20", "acc", 0.3) == "test/PGD-20/acc/eps_0.3"
    assert metric_key("best", "test", "clean", "acc", 0.0) == "best/test/clean/acc"
    assert metric_key("epoch_004", "test", "FGSM", "auc_norm", float("nan")) == "test/FGSM/auc_norm"
    assert metric_key("epoch_001", "val", "a@b=c", "acc", 1 / 255) == "val/a_b_c/acc/eps_0.003922"


def test_tensorboard_and_mlflow_read_back_and_resume_without_duplicates(tmp_path):
    pytest.importorskip("tensorboard")
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    files = RunFiles(tmp_path / "run")
    files.dir.mkdir()
    cfg = compose_cfg(["logger=[tensorboard,mlflow]", *TINY])
    tracker = open_tracker(cfg, files, "abc123")
    write_epoch(files, 1, 2.0)
    assert tracker.sync() == 2 * (5 + 6)  # 5 train columns + 6 metric series, to each tracker
    assert tracker.sync() == 0
    # a kill here: the tracker process dies without close(); the run resumes in a new process
    del tracker
    tracker = open_tracker(cfg, files, "abc123")
    assert tracker.sync() == 0  # both stores already hold epoch 1
    write_epoch(files, 2, 1.0)
    tracker.sync()
    tracker.close()

    want = {(p.key, p.step): p.value for p in run_points(files)}
    assert ("test/PGD-20/acc/eps_0.1", 2) in want and ("train/loss", 1) in want

    ea, scalars = tb_scalars(files.dir / "tensorboard")
    got = Counter((t, s) for t, pts in scalars.items() for s, _ in pts)
    assert set(got) == set(want) and max(got.values()) == 1  # every point, once
    assert dict(scalars["train/loss"]) == {1: 2.0, 2: 1.0}
    assert "config/text_summary" in ea.Tags()["tensors"]
    assert len(list((files.dir / "tensorboard").glob("events.out.tfevents.*"))) == 2  # two processes, one series

    state = json.loads((files.dir / "trackers.json").read_text())
    client = MlflowClient(tracking_uri=state["mlflow"]["tracking_uri"])
    assert state["mlflow"]["tracking_uri"].startswith("sqlite:///") and (files.dir / "mlflow.db").exists()
    runs = client.search_runs([client.get_experiment_by_name("robustbench_runner").experiment_id])
    assert len(runs) == 1  # the resumed run continued the same MLflow run
    run = runs[0]
    assert run.info.run_name == "run" and run.info.status == "FINISHED"
    assert run.data.tags["rbr.config_hash"] == "abc123" and run.data.tags["rbr.run"] == "run"
    assert run.data.params["train.epochs"] == "2" and run.data.params["model.name"] == "cnn6"
    assert "logger.mlflow.experiment" not in run.data.params  # trackers are not part of what a run computes
    history = Counter()
    for key in run.data.metrics:
        for m in client.get_metric_history(run.info.run_id, key):
            history[(key, m.step)] += 1
            assert m.value == pytest.approx(want[(key, m.step)])
    assert set(history) == set(want) and max(history.values()) == 1


def test_no_logger_is_a_no_op(tmp_path):
    files = RunFiles(tmp_path)
    write_epoch(files, 1, 2.0)
    tracker = open_tracker(compose_cfg(TINY), files, "abc123")
    assert tracker.sync() == 0 and not (tmp_path / "trackers.json").exists()


@pytest.mark.parametrize("name, module", [("tensorboard", "torch.utils.tensorboard"), ("mlflow", "mlflow"), ("wandb", "wandb")])
def test_missing_package_is_one_line_with_the_pip_command(tmp_path, monkeypatch, name, module):
    for loaded in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.setitem(sys.modules, loaded, None)  # importing it raises ImportError
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(UserError) as e:
        open_tracker(compose_cfg([f"logger={name}"]), RunFiles(tmp_path), "abc123")
    msg = e.value.one_line()
    assert "\n" not in msg and f"pip install 'robustbench_runner[{name}]'" in msg


def test_unknown_tracker_is_refused(tmp_path):
    cfg = compose_cfg(["+logger.neptune.x=1"])
    with pytest.raises(UserError, match="neptune"):
        open_tracker(cfg, RunFiles(tmp_path), "abc123")


def test_logger_does_not_change_the_config_hash():
    from robustbench_runner.config import config_hash

    assert config_hash(compose_cfg(["logger=[tensorboard,mlflow]"])) == config_hash(compose_cfg([]))
    assert config_hash(compose_cfg(["progress_every=5"])) == config_hash(compose_cfg([]))


@pytest.mark.slow
def test_wandb_offline_resume_keeps_its_id_and_sends_each_point_once(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    files = RunFiles(tmp_path / "run")
    files.dir.mkdir()
    cfg = compose_cfg(["logger=wandb", *TINY])
    write_epoch(files, 1, 2.0)
    t = open_tracker(cfg, files, "abc123")
    t.close()
    run_id = json.loads((files.dir / "trackers.json").read_text())["wandb"]["id"]
    write_epoch(files, 2, 1.0)
    t = open_tracker(cfg, files, "abc123")
    assert json.loads((files.dir / "trackers.json").read_text())["wandb"]["id"] == run_id
    assert t.sync() == 11  # only epoch 2
    t.close()
    ledger = json.loads((files.dir / "wandb_logged.json").read_text())
    assert len(ledger) == len({tuple(p) for p in ledger}) == 22
    assert list((files.dir / "wandb").glob(f"offline-run-*-{run_id}"))


@pytest.mark.slow
def test_killed_run_resumes_the_same_tracker_runs(tmp_path):
    """End to end through rbr-run: SIGKILL after the 3rd metrics write (inside epoch 1's
    evaluation), resume, and every train_log/metrics row is in TensorBoard and MLflow once."""
    pytest.importorskip("tensorboard")
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    args = [*TINY, f"output_root={tmp_path}", "logger=[tensorboard,mlflow]"]
    killed = cli(args, env={"RBR_CRASH_AT": "metrics:3"})
    assert killed.returncode != 0
    done = cli(args)
    assert done.returncode == 0, done.stderr[-2000:]
    files = RunFiles(tmp_path / "runs" / "digits-cnn6-standard-s0")
    assert (files.dir / "DONE").exists() and (files.dir / "curves.png").exists()
    want = {(p.key, p.step) for p in run_points(files)}
    _, scalars = tb_scalars(files.dir / "tensorboard")
    got = Counter((t, s) for t, pts in scalars.items() for s, _ in pts)
    assert set(got) == want and max(got.values()) == 1
    state = json.loads((files.dir / "trackers.json").read_text())["mlflow"]
    client = MlflowClient(tracking_uri=state["tracking_uri"])
    run = client.get_run(state["run_id"])
    assert len(client.search_runs([run.info.experiment_id])) == 1
    history = Counter((k, m.step) for k in run.data.metrics for m in client.get_metric_history(run.info.run_id, k))
    assert set(history) == want and max(history.values()) == 1
