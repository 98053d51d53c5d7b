"""Run safety (issue 13): a checkpoint cannot choose what to import, overwrite deletes only
what the run wrote, run paths stay under output_root, the config guard holds without
run.json, divergence is an error (never a metric), damaged files and full disks do not block
or corrupt a run, written files honour the umask, failed commands leave no run folders."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat

import pytest
import torch

from rbr_testing import TINY, cli, main_inprocess, run_inprocess
from robustbench_runner.config import train_run_name
from robustbench_runner.errors import UserError
from robustbench_runner.io import MANIFEST, atomic_write_text, read_csv

NAME = train_run_name("digits", "cnn6", "standard", 0)  # the default config's run


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("[rbr]")]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "\x1b[" not in err
    assert lines[0].startswith("rbr-run: error: ") and "(fix: " in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    return run_inprocess([*TINY, f"output_root={root}"])


def copy_run(reference, root):
    dst = root / "runs" / reference.name
    shutil.copytree(reference, dst, symlinks=True)
    return dst


def tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# -- 1. a checkpoint's stored config cannot run code -------------------------------------------


def hostile_checkpoint(reference, tmp_path, section: str, node: dict):
    payload = torch.load(reference / "ckpt" / "epoch_002.pt", weights_only=True)
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(payload["config"])
    cfg[section] = node
    payload["config"] = OmegaConf.to_yaml(cfg)
    path = tmp_path / "hostile.pt"
    torch.save(payload, path)
    return path


@pytest.mark.parametrize("section", ["data", "model"])
def test_checkpoint_config_cannot_run_a_command(reference, tmp_path, monkeypatch, capsys, section):
    pwned = tmp_path / "pwned"
    ck = hostile_checkpoint(reference, tmp_path, section, {"_target_": "os.system", "command": f"touch {pwned}", "name": "x"})
    out = tmp_path / "out"
    code, err = main_inprocess(["mode=eval", f"checkpoint={ck}", f"output_root={out}", "progress=false"], monkeypatch, capsys)
    assert not pwned.exists()
    assert code == 2
    line = one_line(err)
    assert str(ck) in line and f"{section}._target_=os.system" in line and "allow_targets=[os.system]" in line
    assert not (out / "evals" / "hostile").exists()  # the failed command left no run folder (not even .lock)


def test_allow_list_and_stored_interpolations():
    from robustbench_runner.targets import check_stored_config, is_allowed, shipped_targets

    assert "robustbench_runner.data.digits.load_digits" in shipped_targets()
    assert "robustbench_runner.models.create_model" in shipped_targets()
    assert "robustbench_runner.schemes.trades.TRADES" in shipped_targets()
    assert not is_allowed("os.system") and not is_allowed("robustbench_runner.io.atomic_write_text")
    assert is_allowed("mypkg.nets.MyNet", ["mypkg.*"]) and is_allowed("mypkg.MyNet", ["mypkg.MyNet"])
    assert not is_allowed("mypkgx.MyNet", ["mypkg.*"])
    node = {"_target_": "robustbench_runner.models.create_model", "extra": {"_target_": "builtins.eval"}}
    with pytest.raises(UserError, match=r"f.pt stores model.extra._target_=builtins.eval"):
        check_stored_config(node, "f.pt", "model")
    check_stored_config(node, "f.pt", "model", skip=["model.extra"])  # set on the command line: the user's own
    with pytest.raises(UserError, match=r"interpolation"):
        check_stored_config({"root": "${oc.env:HOME}"}, "f.pt", "data")


# -- 2. overwrite=true deletes only what the run wrote ------------------------------------------


def test_overwrite_keeps_user_files(reference, tmp_path):
    d = copy_run(reference, tmp_path)
    (d / "NOTES.md").write_text("my notes")
    (d / "tables").mkdir()
    (d / "tables" / "t.csv").write_text("a,b\n")
    (d / "ckpt" / "mine.txt").write_text("mine")
    manifest = (d / MANIFEST).read_text().splitlines()
    assert {"DONE", "metrics.csv", "ckpt/last.pt", "eval/epoch_001/pgd20.pt"} <= set(manifest)
    old_metrics = (d / "metrics.csv").read_bytes()
    run_inprocess([*TINY, f"output_root={tmp_path}", "optim.optimizer.lr=0.002", "train.epochs=1", "eval.grid=[1]", "overwrite=true"])
    assert (d / "NOTES.md").read_text() == "my notes" and (d / "tables" / "t.csv").exists() and (d / "ckpt" / "mine.txt").exists()
    assert (d / "metrics.csv").read_bytes() != old_metrics and (d / "DONE").exists()
    assert not (d / "ckpt" / "epoch_002.pt").exists() and not (d / "eval" / "epoch_002").exists()  # the old run's files are gone


def test_a_folder_that_is_not_a_run_is_never_claimed(tmp_path, monkeypatch, capsys):
    project = tmp_path / "project"
    (project / "mycode").mkdir(parents=True)
    (project / "notes.txt").write_text("keep me")
    (project / "mycode" / "a.py").write_text("x = 1")
    before = tree(project)
    for extra in ([], ["overwrite=true"]):
        code, err = main_inprocess([*TINY, f"hydra.run.dir={project}", *extra], monkeypatch, capsys)
        assert code == 2
        line = one_line(err)
        assert str(project) in line and "not an rbr-run run directory" in line and "mycode/" in line and "empty folder" in line
        assert tree(project) == before  # nothing written, nothing deleted, no .lock left


def test_overwrite_never_follows_a_symlinked_ckpt_and_removes_done_first(reference, tmp_path, monkeypatch):
    d = copy_run(reference, tmp_path)
    scratch = tmp_path / "scratch"
    shutil.move(d / "ckpt", scratch)
    (d / "ckpt").symlink_to(scratch, target_is_directory=True)
    saved = tree(scratch)
    # a wipe that dies half-way (here: at its 3rd deletion) has removed DONE first
    from robustbench_runner import io as rio

    calls = {"n": 0}
    real = rio._unlink_no_follow

    def dying(root, rel):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.EIO, "simulated I/O error")
        return real(root, rel)

    monkeypatch.setattr(rio, "_unlink_no_follow", dying)
    with pytest.raises(OSError, match="simulated"):
        run_inprocess([*TINY, f"output_root={tmp_path}", "overwrite=true"])
    assert not (d / "DONE").exists()
    monkeypatch.setattr(rio, "_unlink_no_follow", real)
    out = run_inprocess([*TINY, f"output_root={tmp_path}", "overwrite=true"])
    assert tree(scratch) == saved  # the symlink target is untouched
    assert (d / "ckpt").is_dir() and not (d / "ckpt").is_symlink()  # the link was unlinked, a real ckpt/ written
    assert (out / "metrics.csv").read_bytes() == (reference / "metrics.csv").read_bytes()


def test_manifest_lines_cannot_point_outside_the_run(tmp_path):
    from robustbench_runner.io import read_manifest, wipe_recorded

    victim = tmp_path / "victim.txt"
    victim.write_text("x")
    run = tmp_path / "run"
    run.mkdir()
    (run / "a.csv").write_text("1")
    (run / MANIFEST).write_text("../victim.txt\n/etc/passwd\na.csv\nb.cs")  # the last line is torn
    assert read_manifest(run) == ["a.csv"]
    wipe_recorded(run, read_manifest(run))
    assert victim.exists() and not (run / "a.csv").exists()


# -- 3. run paths stay under output_root ---------------------------------------------------------


@pytest.mark.parametrize("arg, key", [("tag=../../../x", "tag"), ("tag=a/b", "tag"), ("sweep_name=../../y", "sweep_name")])
def test_names_cannot_escape_output_root(tmp_path, monkeypatch, capsys, arg, key):
    root = tmp_path / "a" / "b" / "c"
    root.mkdir(parents=True)
    code, err = main_inprocess([*TINY, f"output_root={root}", arg], monkeypatch, capsys)
    assert code == 2
    line = one_line(err)
    assert line.startswith(f"rbr-run: error: {key}=") and f"set {key}=" in line
    assert not [p for p in tmp_path.rglob("*") if not p.is_dir()]  # no file written anywhere
    assert {p for p in tree(tmp_path) if not p.startswith("a/b/c")} == {"a", "a/b"}  # nothing outside output_root
    assert not (root / "runs").exists() or not list((root / "runs").iterdir())  # no run folder


def test_sweep_name_escape_refused_in_a_sweep(tmp_path):
    root = tmp_path / "a" / "b"
    root.mkdir(parents=True)
    proc = cli(["-m", f"output_root={root}", "sweep_name=../../y", "seed=1,2", "progress=false"])
    assert proc.returncode == 2, proc.stderr
    assert "sweep_name='../../y' cannot be a folder or file name under the output folder: it holds a path separator" in one_line(proc.stderr)
    assert tree(tmp_path) == ["a", "a/b"]


# -- 4. the config guard without run.json ----------------------------------------------------------


def test_guard_uses_the_checkpoints_hash_when_run_json_is_missing(reference, tmp_path, monkeypatch, capsys):
    d = copy_run(reference, tmp_path)
    (d / "run.json").unlink()
    (d / "DONE").unlink()
    metrics = (d / "metrics.csv").read_bytes()
    code, err = main_inprocess([*TINY, f"output_root={tmp_path}", "optim.optimizer.lr=0.01"], monkeypatch, capsys)
    assert code == 2
    line = one_line(err)
    assert "different config" in line and "optim.optimizer.lr: 0.001 -> 0.01" in line and "tag=<name>" in line and "overwrite=true" in line
    assert (d / "metrics.csv").read_bytes() == metrics and not (d / "run.json").exists()
    # checkpoints gone too: metrics.csv's config_hash column still guards it
    shutil.rmtree(d / "ckpt")
    with pytest.raises(UserError, match="different config"):
        run_inprocess([*TINY, f"output_root={tmp_path}", "optim.optimizer.lr=0.01"])
    assert len(set(read_csv(d / "metrics.csv").config_hash)) == 1


def test_resume_checks_last_pt_hash_even_with_a_matching_run_json(reference, tmp_path):
    """run.json claims the new config (e.g. copied from elsewhere) but last.pt was trained
    with another one: the checkpoint's own hash refuses the resume."""
    from rbr_testing import compose_cfg
    from robustbench_runner.config import config_hash

    d = copy_run(reference, tmp_path)
    (d / "DONE").unlink()
    (d / "metrics.csv").unlink()
    new = [*TINY, f"output_root={tmp_path}", "optim.optimizer.lr=0.01"]
    info = json.loads((d / "run.json").read_text())
    info["config_hash"] = config_hash(compose_cfg(new))
    (d / "run.json").write_text(json.dumps(info))
    with pytest.raises(UserError, match=r"last.pt was trained with a different config \(optim.optimizer.lr: 0.001 -> 0.01\)"):
        run_inprocess(new)
    assert not (d / "metrics.csv").exists()


# -- 5. divergence ---------------------------------------------------------------------------------

NO_BN = [a for a in TINY if not a.startswith("model.batch_norm")]


def test_lr_1e6_is_a_divergence_error_not_perfect_robustness(tmp_path, monkeypatch, capsys):
    code, err = main_inprocess([*NO_BN, f"output_root={tmp_path}", "optim.optimizer.lr=1e6"], monkeypatch, capsys)
    assert code == 2
    line = one_line(err)
    assert re.search(r"training diverged: the loss is nan at epoch 1, step \d+ of 20", line), line
    assert not list(tmp_path.rglob("metrics.csv")) and not list(tmp_path.rglob("DONE"))


def test_divergence_in_a_later_epoch_keeps_earlier_files(tmp_path, monkeypatch):
    from robustbench_runner.schemes.base import Standard

    real = Standard.step

    def step(self, model, x, y, epoch):
        out = real(self, model, x, y, epoch)
        if epoch == 2:
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(Standard, "step", step)
    with pytest.raises(UserError, match=r"training diverged: the loss is nan at epoch 2, step 1 of 20"):
        run_inprocess([*TINY, f"output_root={tmp_path}"])
    d = tmp_path / "runs" / NAME
    m = read_csv(d / "metrics.csv")
    assert set(m.epoch) == {1} and m.value.notna().all()  # epoch 1's results kept, nothing of epoch 2
    assert list(read_csv(d / "train_log.csv").epoch) == [1]
    assert not (d / "DONE").exists() and not (d / "ckpt" / "epoch_002.pt").exists()


def test_non_finite_logits_write_no_metric(reference, tmp_path, monkeypatch, capsys):
    payload = torch.load(reference / "ckpt" / "epoch_002.pt", weights_only=True)
    payload["model"] = {k: (v * float("nan") if v.is_floating_point() else v) for k, v in payload["model"].items()}
    ck = tmp_path / "nan.pt"
    torch.save(payload, ck)
    out = tmp_path / "out"
    code, err = main_inprocess(["mode=eval", f"checkpoint={ck}", f"output_root={out}", "progress=false"], monkeypatch, capsys)
    assert code == 2
    assert "checkpoint nan (epoch 2) gives non-finite logits" in one_line(err)
    assert not list(out.rglob("metrics.csv")) and not list(out.rglob("DONE"))


@pytest.mark.slow
def test_a_diverged_job_does_not_stop_the_sweep(tmp_path):
    args = ["-m", *[a for a in NO_BN if not a.startswith("attacks.")], "train.epochs=1", "eval.grid=[1]", "attacks=none", f"output_root={tmp_path}", "sweep_name=lr",
            "optim.optimizer.lr=1e6,1e-3", "tag=lr${optim.optimizer.lr}"]  # fmt: skip
    proc = cli(args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "training diverged" in proc.stderr and "the other jobs ran" in proc.stderr
    sweep = tmp_path / "sweeps" / "lr"
    assert (sweep / f"{NAME}-lr0.001" / "DONE").exists()
    assert not (sweep / f"{NAME}-lr1000000.0").exists()


# -- 9. damaged files, full disks, permissions --------------------------------------------------------


@pytest.fixture(scope="module")
def killed_before_epoch2_eval(reference, tmp_path_factory):
    """A run SIGKILLed after epoch 2's last.pt (its evaluation not started)."""
    root = tmp_path_factory.mktemp("killed")
    proc = cli([*TINY, f"output_root={root}"], env={"RBR_CRASH_AT": "checkpoint:4"})
    assert proc.returncode == -9, proc.stderr[-2000:]
    return root / "runs" / NAME


def test_corrupt_grid_checkpoint_whose_results_are_written_does_not_block(reference, killed_before_epoch2_eval, tmp_path):
    d = copy_run(killed_before_epoch2_eval, tmp_path)
    (d / "ckpt" / "epoch_001.pt").write_bytes(b"\0" * 64)
    run_inprocess([*TINY, f"output_root={tmp_path}"])
    assert (d / "metrics.csv").read_bytes() == (reference / "metrics.csv").read_bytes()


@pytest.mark.slow  # ~11 s; the damaged grid checkpoint case stays fast
def test_corrupt_eval_state_file_is_recomputed(reference, tmp_path, capsys):
    proc = cli([*TINY, f"output_root={tmp_path}"], env={"RBR_CRASH_AT": "metrics:7"})  # epoch 2: before worst-case
    assert proc.returncode == -9, proc.stderr[-2000:]
    d = tmp_path / "runs" / NAME
    state = d / "eval" / "epoch_002" / "fgsm_sweep.pt"
    state.write_bytes(b"PK\x03\x04 torn")
    run_inprocess([*TINY, f"output_root={tmp_path}"])
    err = capsys.readouterr().err
    assert len([ln for ln in err.splitlines() if "warning" in ln and "fgsm_sweep.pt" in ln]) == 1
    assert (d / "metrics.csv").read_bytes() == (reference / "metrics.csv").read_bytes()


@pytest.mark.slow
def test_bad_last_pt_fix_is_true(tmp_path, monkeypatch, capsys):
    args = [*TINY, "train.epochs=3", "eval.grid=[2,3]", f"output_root={tmp_path}"]
    proc = cli(args, env={"RBR_CRASH_AT": "checkpoint:3"})  # after epoch 2's last.pt
    assert proc.returncode == -9, proc.stderr[-2000:]
    d = tmp_path / "runs" / NAME
    last = d / "ckpt" / "last.pt"
    last.write_bytes(b"\0" * 100)
    code, err = main_inprocess(args, monkeypatch, capsys)
    assert code == 2
    line = one_line(err)
    assert f"delete {last} and rerun: training resumes from epoch_002.pt (epoch 2" in line
    last.unlink()
    run_inprocess(args)
    warned = [ln for ln in capsys.readouterr().err.splitlines() if "warning" in ln]
    assert len(warned) == 1 and "is missing; training resumes from epoch_002.pt (epoch 2" in warned[0], warned
    assert list(read_csv(d / "train_log.csv").epoch) == [1, 2, 3] and (d / "DONE").exists()
    m = read_csv(d / "metrics.csv")
    assert set(m.epoch) == {2, 3} and len(set(m.config_hash)) == 1


def test_damaged_run_json_names_the_file(reference, tmp_path, monkeypatch, capsys):
    d = copy_run(reference, tmp_path)
    info = d / "run.json"
    info.write_text(info.read_text()[:40])
    code, err = main_inprocess([*TINY, f"output_root={tmp_path}"], monkeypatch, capsys)
    assert code == 2
    line = one_line(err)
    assert f"{info} is damaged (" in line and "JSON" in line and f"delete {info} and rerun" in line
    info.unlink()  # the fix: the checkpoints' hash guards the run, which is complete
    run_inprocess([*TINY, f"output_root={tmp_path}"])
    assert "nothing to do" in capsys.readouterr().out


def test_disk_full_is_one_line_and_the_rerun_finishes(reference, tmp_path, monkeypatch, capsys):
    from robustbench_runner import io as rio

    real, calls = os.fsync, {"n": 0}

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] > 25:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(rio.os, "fsync", fsync)
    code, err = main_inprocess([*TINY, f"output_root={tmp_path}"], monkeypatch, capsys)
    monkeypatch.setattr(rio.os, "fsync", real)
    assert code == 2
    line = one_line(err)
    assert re.search(r"no space left on device while writing \S+ \(the previous version", line) and "rerun the same command" in line
    d = tmp_path / "runs" / NAME
    assert not list(d.rglob("*.tmp"))  # no temp file left behind
    run_inprocess([*TINY, f"output_root={tmp_path}"])
    assert (d / "metrics.csv").read_bytes() == (reference / "metrics.csv").read_bytes()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "f.csv", "a\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.csv").stat().st_mode) == mode


def test_run_files_readable_by_the_group(reference):
    old = os.umask(0o022)
    os.umask(old)
    for rel in ("metrics.csv", "ckpt/last.pt", "run.json", "DONE"):
        assert stat.S_IMODE((reference / rel).stat().st_mode) == 0o666 & ~old, rel


# -- 11. failed commands leave no run folder -----------------------------------------------------------


def test_failed_command_leaves_no_run_folder(tmp_path, monkeypatch, capsys):
    for args in (["init_from=/nonexistent/x.pt"], ["data.eps=-1"], ["dataset=cifar10", "data.root=/nonexistent"]):
        code, err = main_inprocess([*TINY, f"output_root={tmp_path}", *args], monkeypatch, capsys)
        assert code == 2, err
        one_line(err)
        runs = tmp_path / "runs"
        assert not runs.exists() or not list(runs.iterdir()), tree(tmp_path)


def test_own_checkpoint_advice_only_for_own_files(tmp_path, monkeypatch, capsys):
    """A user's file passed as checkpoint= is never to be deleted: the advice says what to pass."""
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    code, err = main_inprocess(["mode=eval", f"checkpoint={text}", f"output_root={tmp_path / 'o'}"], monkeypatch, capsys)
    assert code == 2
    line = one_line(err)
    assert "delete" not in line and "it is a text file" in line and "pass a file written by torch.save" in line


def test_pickled_module_message_has_no_colour_codes(tmp_path, monkeypatch, capsys):
    """torch's weights_only refusal carries terminal colour codes; the one line does not."""
    from robustbench_runner.models import create_model

    ck = tmp_path / "whole_model.pt"
    torch.save(create_model("cnn6", num_classes=10, in_channels=1, image_size=16), ck)
    code, err = main_inprocess(["mode=eval", f"checkpoint={ck}", f"output_root={tmp_path / 'o'}"], monkeypatch, capsys)
    assert code == 2
    line = one_line(err)  # asserts no "\x1b["
    assert str(ck) in line and f"delete {ck}" not in line
