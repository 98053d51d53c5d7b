"""Bad input: one clear line naming the problem and the fix, a non-zero exit, no traceback
(unless verbose=true), and nothing already written is touched."""

from __future__ import annotations

import sys

import pytest
from hydra.core.global_hydra import GlobalHydra

from rbr_testing import TINY, cli, run_inprocess
from robustbench_runner import run as rbr_run


def main_inprocess(args: list[str], monkeypatch, capsys) -> tuple[int, str]:
    GlobalHydra.instance().clear()
    monkeypatch.setattr(sys, "argv", ["rbr-run", *args])
    with pytest.raises(SystemExit) as exc:
        rbr_run.main()
    GlobalHydra.instance().clear()
    return exc.value.code, capsys.readouterr().err


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
        (["data.subset=/nonexistent/x_L40.txt"], r"subset index file /nonexistent/x_L40.txt does not exist"),
        (["optim.optimizer.lr=-1"], r"cannot build optim.optimizer: Invalid learning rate"),
        (["dataset=cifar10", "data.root=/nonexistent"], r"/nonexistent/cifar-10-batches-py.*data.root=.*download=true"),
        (["dataset=mnist", "data.root=/nonexistent"], r"MNIST.*train-images-idx3-ubyte.*data.download=true"),
    ],
)
def test_bad_input_gives_one_line(args, expected, monkeypatch, capsys, tmp_path):
    code, err = main_inprocess([*args, f"output_root={tmp_path}", "progress=false"], monkeypatch, capsys)
    assert code == 2
    import re

    assert re.search(expected, one_line_error(err)), err


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
