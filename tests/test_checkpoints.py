"""The checkpoint files rbr-run writes (``robustbench_runner/checkpoints.py``) on their own:
names, what a checkpoint holds, which file a resume finds, and that the reader of users'
checkpoints (``user_checkpoints.py``) recognises them."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from rbr_testing import compose_cfg
from robustbench_runner.checkpoints import (
    CKPT_FORMAT,
    RESUME_STATE_KEYS,
    checkpoint_epoch,
    checkpoint_paths,
    checkpoint_payload,
    ckpt_label,
    drop_resume_state,
    grid_checkpoints,
    newest_checkpoint,
    schedule_state,
)
from robustbench_runner.config import config_hash
from robustbench_runner.errors import UserError
from robustbench_runner.io import load_checkpoint, save_checkpoint
from robustbench_runner.results import RunFiles
from robustbench_runner.user_checkpoints import read_checkpoint


@pytest.mark.parametrize("epoch", [0, 7, 42, 300, 1234])
def test_label_and_epoch_round_trip(tmp_path, epoch):
    files = RunFiles(tmp_path)
    path = files.ckpt(ckpt_label(epoch))
    assert path.parent.name == "ckpt" and path.name.startswith("epoch_") and path.suffix == ".pt"
    assert checkpoint_epoch(path) == epoch


def test_label_has_three_digits():
    assert [ckpt_label(e) for e in (0, 7, 42, 300)] == ["epoch_000", "epoch_007", "epoch_042", "epoch_300"]


def _payload(epoch: int, **extra) -> dict:
    cfg = compose_cfg([])
    model = torch.nn.Linear(3, 2)
    return {**checkpoint_payload(cfg, config_hash(cfg), {"image_size": 0}, epoch, model), **extra}


def test_payload_holds_what_a_resume_and_an_eval_read(tmp_path):
    cfg = compose_cfg(["seed=5"])
    model = torch.nn.Linear(3, 2)
    p = checkpoint_payload(cfg, config_hash(cfg), {"image_size": 16, "channels": 1}, 4, model)
    assert p["format"] == CKPT_FORMAT and p["epoch"] == 4 and p["config_hash"] == config_hash(cfg)
    assert OmegaConf.create(p["config"]).seed == 5 and p["dims"] == {"image_size": 16, "channels": 1}
    assert torch.equal(p["model"]["weight"], model.weight)
    save_checkpoint(tmp_path / "epoch_004.pt", p)
    ck = read_checkpoint(tmp_path / "epoch_004.pt")  # the user-checkpoint reader knows the format
    assert (ck.kind, ck.epoch, ck.config_hash, ck.config.seed) == ("rbr", 4, config_hash(cfg), 5)


def test_grid_checkpoints_sort_by_epoch_and_skip_other_names(tmp_path):
    files = RunFiles(tmp_path)
    files.ckpt_dir.mkdir()
    for name in ("epoch_1000.pt", "epoch_020.pt", "epoch_003.pt", "epoch_x.pt", "last.pt", "best.pt", "epoch_004.pt.tmp"):
        (files.ckpt_dir / name).write_bytes(b"")
    assert [p.name for p in grid_checkpoints(files)] == ["epoch_003.pt", "epoch_020.pt", "epoch_1000.pt"]
    assert grid_checkpoints(RunFiles(tmp_path / "none")) == []


def test_newest_checkpoint_skips_damaged_and_foreign_files(tmp_path):
    files = RunFiles(tmp_path)
    files.ckpt_dir.mkdir()
    damaged, foreign, good = (files.ckpt(n) for n in ("epoch_003", "epoch_002", "epoch_001"))
    damaged.write_bytes(b"not a checkpoint")
    torch.save({"weight": torch.zeros(2)}, foreign)  # a plain state dict: not rbr's format
    save_checkpoint(good, _payload(1))
    found = newest_checkpoint(files, [files.ckpt("last"), damaged, foreign, good])
    assert found is not None and found[0] == good and found[1]["epoch"] == 1
    assert newest_checkpoint(files, [damaged, foreign]) is None


def test_drop_resume_state_keeps_weights_epoch_and_config(tmp_path):
    path = tmp_path / "last.pt"
    opt = torch.optim.SGD(torch.nn.Linear(3, 2).parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 4])
    save_checkpoint(path, _payload(2, optimizer=opt.state_dict(), schedule=schedule_state(sched), best=None))
    assert set(RESUME_STATE_KEYS) <= set(load_checkpoint(path))  # the Counter became a dict: loadable
    drop_resume_state(path)
    after = load_checkpoint(path)
    assert not set(RESUME_STATE_KEYS) & set(after)
    assert after["format"] == CKPT_FORMAT and after["epoch"] == 2 and "weight" in after["model"]
    assert schedule_state(None) is None


def test_checkpoint_paths_of_a_run_directory(tmp_path):
    files = RunFiles(tmp_path / "run")
    files.ckpt_dir.mkdir(parents=True)
    for label in ("best", "epoch_002", "epoch_001", "last"):
        files.ckpt(label).write_bytes(b"")
    assert [p.name for p in checkpoint_paths(files.dir)] == ["epoch_001.pt", "epoch_002.pt", "best.pt"]
    assert checkpoint_paths(files.ckpt("last")) == [files.ckpt("last")]  # a file is itself
    with pytest.raises(UserError, match="no checkpoint found at"):
        checkpoint_paths(tmp_path)
