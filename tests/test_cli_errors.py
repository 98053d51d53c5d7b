"""Bad input: one clear line naming the problem and the fix, a non-zero exit, no traceback
(unless verbose=true), and nothing already written is touched."""

from __future__ import annotations

import sys

import pytest
from hydra.core.global_hydra import GlobalHydra

from rbr_testing import TINY, cli, main_inprocess, run_inprocess
from robustbench_runner import run as rbr_run


def one_line_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("rbr-run: error: ")
    return lines[0]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["model=nope"], r"Could not find 'model/nope' \(fix: use one of model=\{cnn6, .*\}\)$"),
        (["foo=1"], r"foo is not a config key \(fix: .*\+foo=\.\.\.\)$"),
        (["model.widht=3"], r"model.widht is not a config key"),
        (["data.eps=-0.1"], r"data.eps has -0.1; eps must be a number >= 0 \(fix: "),
        (["attacks.pgd20.eps=-1"], r"attacks.pgd20.eps has -1.*\(fix: fix attacks.pgd20.eps\)"),
        (["train.epochs=2", "eval.grid=[1,5]"], r"eval.grid epoch 5 is past the last epoch \(train.epochs=2\) \(fix: drop 5"),
        (["train.batch_size=0"], r"train.batch_size=0 must be a positive integer \(fix: set train.batch_size=N"),
        (["eval.batch_size=0"], r"eval.batch_size=0 must be a positive integer"),
        (["mode=eval"], r"mode=eval needs a checkpoint \(fix: add checkpoint="),
        (["device=tpu"], r"device=tpu is not a device"),
        (["data.subset=/nonexistent/x_L40.txt"], r"subset index file: /nonexistent/x_L40.txt: does not exist"),
        (["optim.optimizer.lr=-1"], r"cannot build optim.optimizer: Invalid learning rate"),
        (["dataset=cifar10", "data.root=/nonexistent"], r"/nonexistent/cifar-10-batches-py.*data.root=.*download=true"),
        (["dataset=mnist", "data.root=/nonexistent"], r"MNIST.*train-images-idx3-ubyte.*data.download=true"),
        (["experiment=prs/nope"], r"Could not find 'experiment/prs/nope' \(fix: "),
        (["hydra/launcher=nope"], r"Could not find 'hydra/launcher/nope' \(fix: use one of hydra/launcher=\{basic, .*local_processes"),
        (["~foo"], r"Could not delete from config. 'foo' does not exist"),
        (["seed=abc"], r"^rbr-run: error: seed=abc is not an integer \(fix: set seed to an integer; robustbench_runner/schema.py"),
        (["init_seed=1.5"], r"init_seed=1.5 is not an integer or null"),
        (["eval.grid=[1,x]"], r"eval.grid has 'x', not an integer \(fix: make eval.grid a list of integers"),
        (["data.limit_train=abc"], r"data.limit_train=abc is not an integer or null"),
        (["data.limit_train=-1"], r"data.limit_train=-1 must be null \(all samples\) or a positive integer \(fix: "),
        (["data.limit_test=0"], r"data.limit_test=0 must be null"),
        (["data.val_size=-5"], r"data.val_size=-5 must be a number of samples >= 0"),
        (["seed=1,,2"], r"cannot parse the override 'seed=1,,2'.* \(fix: write key=value; a sweep \(with -m\) lists"),
        (["-m", "seed=1,,2"], r"cannot parse the override 'seed=1,,2'"),
        (["-m", "seed=1,[2"], r"cannot parse the override 'seed=1,\[2'"),
        (["seed=1,2"], r"Ambiguous value for argument 'seed=1,2'.*--multirun"),
    ],
)
def test_bad_input_gives_one_line(args, expected, monkeypatch, capsys, tmp_path):
    code, err = main_inprocess([*args, f"output_root={tmp_path}", "progress=false"], monkeypatch, capsys)
    assert code == 2
    import re

    assert re.search(expected, one_line_error(err)), err


@pytest.mark.parametrize(
    "arg, expected",
    [
        ("train.epochs=abc", "train.epochs=abc is not an integer (fix: set train.epochs to an integer;"),
        # the same path through the console script: slow (each a subprocess that starts torch);
        # tests/test_schema.py checks these types in-process
        pytest.param("eval.n_eval=1.5", "eval.n_eval=1.5 is not an integer or null (fix: ", marks=pytest.mark.slow),
        pytest.param("seed=x", "seed=x is not an integer (fix: ", marks=pytest.mark.slow),
    ],
)
def test_a_type_the_schema_refuses_is_one_line_at_compose_time(arg, expected, tmp_path):
    """The real entrypoint: Hydra refuses the value while composing (robustbench_runner/schema.py)."""
    proc = cli([arg, f"output_root={tmp_path}"])
    assert proc.returncode == 2, proc.stderr
    assert one_line_error(proc.stderr).startswith(f"rbr-run: error: {expected}"), proc.stderr
    assert not any(tmp_path.iterdir())  # refused before any folder was made


def test_cuda_requested_without_cuda(monkeypatch, capsys, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    code, err = main_inprocess(["device=cuda", f"output_root={tmp_path}"], monkeypatch, capsys)
    assert code == 2 and "no CUDA device is available (fix: use device=auto or device=cpu)" in one_line_error(err)


def test_verbose_shows_traceback(monkeypatch, capsys, tmp_path):
    GlobalHydra.instance().clear()
    monkeypatch.setattr(sys, "argv", ["rbr-run", "data.eps=-1", "verbose=true", f"output_root={tmp_path}"])
    from robustbench_runner.errors import UserError

    with pytest.raises(UserError):
        rbr_run.main()
    GlobalHydra.instance().clear()


def test_corrupt_checkpoints(monkeypatch, capsys, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    code, err = main_inprocess(["mode=eval", f"checkpoint={bad}", f"output_root={tmp_path}"], monkeypatch, capsys)
    assert code == 2
    line = one_line_error(err)
    assert f"checkpoint {bad} is corrupt" in line and "fix:" in line

    # a run whose last.pt got corrupted: the resume refuses with the fix, metrics untouched
    root = tmp_path / "out"
    run_dir = run_inprocess([*TINY, f"output_root={root}", "train.epochs=1", "eval.grid=[1]"])
    (run_dir / "DONE").unlink()
    (run_dir / "ckpt" / "last.pt").write_bytes(b"\x00" * 100)
    metrics = (run_dir / "metrics.csv").read_bytes()
    code, err = main_inprocess([*TINY, f"output_root={root}", "train.epochs=1", "eval.grid=[1]"], monkeypatch, capsys)
    assert code == 2
    line = one_line_error(err)
    assert "last.pt is corrupt" in line and "delete" in line
    assert (run_dir / "metrics.csv").read_bytes() == metrics


def test_console_script_error_exit_code(tmp_path):
    """The real entrypoint in a subprocess: one line on stderr, exit status 2."""
    proc = cli(["model=nope", f"output_root={tmp_path}"])
    assert proc.returncode == 2
    one_line_error(proc.stderr)
    assert proc.stdout.strip() == ""


def test_help_lists_run_groups_not_table_specs(monkeypatch, capsys):
    """Hydra's own help template lists every config group on the search path; table specs sit
    off it (robustbench_runner/table_specs/, <bundle>/table_specs/), so no ``table`` group."""
    GlobalHydra.instance().clear()
    monkeypatch.setattr(sys, "argv", ["rbr-run", "--help"])
    with pytest.raises(SystemExit) as exc:
        rbr_run.main()
    GlobalHydra.instance().clear()
    out = capsys.readouterr().out
    assert exc.value.code in (0, None)
    listed = out.split("== Configuration groups ==")[1].split("== Config ==")[0]
    groups = [ln.split(":")[0] for ln in listed.splitlines() if ": " in ln]
    assert {"model", "dataset", "scheme", "attacks", "attack", "optim", "scale", "logger", "experiment/prs", "experiment/irat"} <= set(groups)
    assert not [g for g in groups if g.split("/")[0] in ("table", "hydra")], groups
    assert "model: cnn6, " in out and "rbr-run -m seed=0,1,2" in out and "rbr-run --hydra-help" in out  # our header, footer
    assert out.count("\nseed: 0") == 1  # the composed config follows the groups


def test_failed_sweep_job_does_not_stop_the_others(monkeypatch, capsys, tmp_path):
    """seed=-1 fails inside its job (validate's range check); the next job of the basic launcher still runs."""
    tiny = [a for a in TINY if not a.startswith(("train.epochs", "eval.grid"))] + ["train.epochs=1", "eval.grid=[1]"]
    code, err = main_inprocess(["-m", "seed=-1,1", *tiny, f"output_root={tmp_path}", "sweep_name=s"], monkeypatch, capsys)
    assert code == 2
    ours = [ln for ln in err.splitlines() if ln.startswith("rbr-run: error: ")]
    assert len(ours) == 2, err
    assert ours[0].startswith("rbr-run: error: sweep job 0 (digits-cnn6-standard-s-1) failed: seed=-1 is out of range")
    assert ours[1].startswith("rbr-run: error: 1 of 2 sweep jobs failed (digits-cnn6-standard-s-1;")
    assert (tmp_path / "sweeps" / "s" / "digits-cnn6-standard-s1" / "DONE").exists()
    assert "Traceback" not in err


def test_ctrl_c_prints_one_line_and_exits_130(monkeypatch, capsys, tmp_path):
    import robustbench_runner.execute as pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "execute", interrupted)
    code, err = main_inprocess([f"output_root={tmp_path}"], monkeypatch, capsys)
    assert code == 130
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines == ["rbr-run: interrupted (Ctrl-C); rerun the same command to continue (a run resumes from its last checkpoint, finished runs are skipped)"]


@pytest.mark.slow  # ~17 s on 2 cores (a subprocess that starts torch and trains an epoch)
def test_ctrl_c_on_the_real_entrypoint(tmp_path):
    """SIGINT to a training rbr-run: one line on stderr, exit status 130."""
    import os
    import signal
    import subprocess
    import time

    from rbr_testing import REPO

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    args = [a for a in TINY if not a.startswith(("train.epochs", "eval.grid"))] + ["train.epochs=200", "eval.grid=[200]"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "robustbench_runner.run", *args, f"output_root={tmp_path}"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for line in proc.stdout:  # wait until training is under way
            if line.startswith("[rbr] epoch 1/"):
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines[-1].startswith("rbr-run: interrupted (Ctrl-C)") and len(lines) == 1, err


@pytest.mark.slow  # worker processes each start torch: ~50 s on 2 cores
def test_failed_job_in_a_worker_process_sweep(tmp_path):
    """hydra/launcher=local_processes (joblib): the failure crosses a process boundary."""
    tiny = [a for a in TINY if not a.startswith(("train.epochs", "eval.grid"))] + ["train.epochs=1", "eval.grid=[1]"]
    proc = cli(["-m", "hydra/launcher=local_processes", "seed=-1,1", *tiny, f"output_root={tmp_path}", "sweep_name=s"])
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("rbr-run: error: a sweep job failed, the first: digits-cnn6-standard-s-1: seed=-1 is out of range")
    assert (tmp_path / "sweeps" / "s" / "digits-cnn6-standard-s1" / "DONE").exists()


def test_help_into_a_closed_pipe_is_quiet():
    """`rbr-run --help | head -1`: no BrokenPipeError traceback."""
    import subprocess

    from rbr_testing import REPO

    proc = subprocess.Popen([sys.executable, "-m", "robustbench_runner.run", "--help"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)  # fmt: skip
    proc.stdout.close()  # the reader has left (as head does) before the help is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert err == "", err


def test_one_line_reads_hydra_exceptions_by_attribute():
    """The messages come from the exceptions' attributes, not from Hydra's wording."""
    from hydra.errors import (
        ConfigCompositionException,
        MissingConfigException,
        OverrideParseException,
    )
    from omegaconf.errors import ConfigKeyError

    reworded = "some other multi-line wording\nConfig search path: ..."
    ex = MissingConfigException(reworded, missing_cfg_file="experiment/prs/nope", options=["ablation", "candidates"])
    assert rbr_run.one_line(ex) == "Could not find 'experiment/prs/nope' (fix: use one of experiment=prs/{ablation, candidates})"
    assert rbr_run.one_line(OverrideParseException("a=1,,2", "whatever\nsee the grammar")).startswith(
        "cannot parse the override 'a=1,,2': whatever see the grammar (fix: write key=value;"
    )
    cause = ConfigKeyError("reworded")
    cause.full_key = "train.epoch"
    try:
        raise ConfigCompositionException("reworded") from cause
    except ConfigCompositionException as composed:
        assert rbr_run.one_line(composed).startswith("train.epoch is not a config key (fix: ")
