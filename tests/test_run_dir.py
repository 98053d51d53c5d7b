"""The run-directory protocol (``robustbench_runner/run_dir.py``) on its own: ``DONE`` has one
writer, run names and run directories have one spelling, and what :func:`claim_run_dir`
accepts, refuses and wipes (the end-to-end runs are in test_execute.py / test_run_safety.py)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from rbr_testing import REPO, compose_cfg
from robustbench_runner.config import config_hash, run_group, train_run_name
from robustbench_runner.errors import UserError
from robustbench_runner.results import RunFiles
from robustbench_runner.run import CONF_DIR
from robustbench_runner.run_dir import claim_run_dir, run_dir_of, write_done

PACKAGE = REPO / "robustbench_runner"

# -- DONE: one writer -----------------------------------------------------------------------

#: Calls that create or replace a file (their first arguments or their receiver name the file).
FILE_WRITERS = {
    "atomic_write_text", "write_text", "write_bytes", "touch", "open", "save_checkpoint",
    "copy", "copy2", "copyfile", "rename", "replace", "symlink_to", "hardlink_to", "link",
}  # fmt: skip


def _names_done(node: ast.AST) -> bool:
    """Whether an expression refers to the DONE file (``files.done``, ``done``, ``"DONE"``)."""
    for n in ast.walk(node):
        if isinstance(n, ast.Attribute) and n.attr == "done":
            return True
        if isinstance(n, ast.Name) and n.id == "done":
            return True
        if isinstance(n, ast.Constant) and n.value == "DONE":
            return True
    return False


def done_writers(root: Path) -> list[tuple[str, int, str]]:
    """(file, line, enclosing function) of every call under ``root`` that writes the DONE file."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        funcs = [f for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            func = call.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name not in FILE_WRITERS:
                continue
            targets = [*call.args[:2], *(kw.value for kw in call.keywords)]
            if isinstance(func, ast.Attribute):
                targets.append(func.value)  # (d / "DONE").write_text(...)
            if any(_names_done(t) for t in targets):
                inside = [f for f in funcs if f.lineno <= call.lineno <= f.end_lineno]
                owner = max(inside, key=lambda f: f.lineno).name if inside else "<module>"
                found.append((str(path.relative_to(root)), call.lineno, owner))
    return found


def test_done_is_written_only_by_write_done():
    writers = done_writers(PACKAGE)
    assert [(f, owner) for f, _, owner in writers] == [("run_dir.py", "write_done")], (
        f"DONE must be written only through run_dir.write_done; other writers: {writers}"
    )


def test_done_scanner_finds_hand_written_done(tmp_path):
    """The scanner above sees the usual ways of writing DONE (so the test can fail)."""
    (tmp_path / "a.py").write_text(
        "from pathlib import Path\n"
        "def finish(files, d):\n"
        "    atomic_write_text(files.done, 'x')\n"
        "    (d / 'DONE').write_text('')\n"
        "    (d / 'DONE').touch()\n"
        "    with open(d / 'DONE', 'w') as f:\n"
        "        f.write('')\n"
        "def read(files, d):\n"
        "    return files.done.exists() or (d / 'DONE').read_text()\n"
    )
    assert [line for _, line, _ in done_writers(tmp_path)] == [3, 4, 5, 6]


def test_write_done_records_time_and_config_hash(tmp_path):
    files = RunFiles(tmp_path)
    write_done(files, "abc123", None)
    text = files.done.read_text()
    assert re.fullmatch(r"finished \d{4}-\d\d-\d\d \d\d:\d\d:\d\d config_hash abc123\n", text), text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["DONE"]  # atomic: no temp file left


# -- run names and run directories: one spelling --------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [[], ["seed=4", "tag=bs128", "scheme=pgd_at"], ["dataset=mnist", "model=lenet", "seed=12"], ["tag=7"]],
)
def test_run_name_is_train_run_name_of_the_config(overrides):
    """conf/config.yaml's ``name``/``run_name`` is what train_run_name spells from the config's
    own parts, and the parts read back from the name in order."""
    cfg = compose_cfg(overrides)
    parts = (cfg.data.name, cfg.model.name, cfg.scheme.name, cfg.seed, cfg.tag)
    assert cfg.name == cfg.run_name == train_run_name(*parts)
    expected = [str(p) for p in parts[:3]] + [f"s{cfg.seed}"] + ([str(cfg.tag)] if str(cfg.tag) else [])
    assert cfg.run_name.split("-") == expected


def test_train_run_name_format():
    assert train_run_name("digits", "cnn6", "standard", 0) == "digits-cnn6-standard-s0"
    assert train_run_name("cifar10", "resnet18", "pgd_at", 3, "bs128") == "cifar10-resnet18-pgd_at-s3-bs128"
    assert train_run_name("digits", "cnn6", "standard", 0, None) == "digits-cnn6-standard-s0"


@pytest.mark.parametrize(
    "overrides",
    [[], ["seed=2", "tag=x", "output_root=/tmp/somewhere"], ["mode=eval", "checkpoint=/data/weights.pt"]],
)
def test_run_dir_of_is_hydras_run_dir(overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    assert run_dir_of(cfg) == Path(cfg.hydra.run.dir)
    assert run_dir_of(cfg).parent.name == run_group(cfg.mode) == ("evals" if cfg.mode == "eval" else "runs")


# -- claiming a run directory ---------------------------------------------------------------


def _claim(d: Path, overrides: list[str], **kw) -> bool:
    cfg = compose_cfg(overrides + [f"output_root={d.parent}"] + [f"{k}={v}" for k, v in kw.items()])
    d.mkdir(parents=True, exist_ok=True)
    return claim_run_dir(RunFiles(d), cfg, config_hash(cfg))


def test_claim_writes_config_and_run_json(tmp_path):
    d = tmp_path / "run"
    assert _claim(d, ["seed=3"]) is False
    info = json.loads((d / "run.json").read_text())
    assert info["config_hash"] == config_hash(compose_cfg(["seed=3", f"output_root={tmp_path}"]))
    assert info["config"]["seed"] == 3 and (d / "config.yaml").exists()


def test_claim_finished_run_with_same_config_is_a_no_op(tmp_path):
    d = tmp_path / "run"
    _claim(d, ["seed=3"])
    write_done(RunFiles(d), "whatever", None)
    before = (d / "run.json").read_bytes()
    assert _claim(d, ["seed=3"]) is True
    assert (d / "run.json").read_bytes() == before


def test_claim_refuses_other_config_once_results_exist(tmp_path):
    d = tmp_path / "run"
    _claim(d, ["seed=3"])
    (d / "ckpt").mkdir()
    (d / "ckpt" / "epoch_001.pt").write_bytes(b"")  # a result: the directory is taken
    with pytest.raises(UserError, match=r"holds a run with a different config \(.*seed: 3 -> 4"):
        _claim(d, ["seed=4"])
    assert json.loads((d / "run.json").read_text())["config"]["seed"] == 3


def test_claim_takes_over_other_config_without_results(tmp_path):
    d = tmp_path / "run"
    _claim(d, ["seed=3"])  # e.g. a run that failed before its first checkpoint
    assert _claim(d, ["seed=4"]) is False
    assert json.loads((d / "run.json").read_text())["config"]["seed"] == 4


def test_claim_refuses_a_foreign_non_empty_folder(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "thesis.tex").write_text("keep me")
    with pytest.raises(UserError, match=r"is not empty \(thesis.tex\) and is not an rbr-run run directory"):
        _claim(d, [])
    assert (d / "thesis.tex").read_text() == "keep me" and not (d / "run.json").exists()


def test_write_done_refuses_while_an_expected_result_is_missing(tmp_path):
    """DONE means every (checkpoint, attack) the config asks for is in metrics.csv."""
    from robustbench_runner.errors import UserError
    from robustbench_runner.results import RunIdentity

    files = RunFiles(tmp_path)
    ident = RunIdentity("r", "digits", "cnn6", "standard", 0, 16, "abc123")
    files.add_metrics(ident, 2, "epoch_002", "test", [{"attack": "clean", "eps": 0.0, "metric": "acc", "value": 0.5, "n": 8}])
    want = [(label, a) for label in ("epoch_001", "epoch_002") for a in ("clean", "PGD-20")]
    with pytest.raises(UserError, match=r"lacks the results of epoch_001/PGD-20, epoch_001/clean, epoch_002/PGD-20 \(no DONE written\)"):
        write_done(files, "abc123", want)
    assert not files.done.exists()
    files.add_metrics(ident, 1, "epoch_001", "test", [{"attack": a, "eps": 0.0, "metric": "acc", "value": 0.5, "n": 8} for a in ("clean", "PGD-20")])
    files.add_metrics(ident, 2, "epoch_002", "test", [{"attack": "PGD-20", "eps": 0.0, "metric": "acc", "value": 0.5, "n": 8}])
    write_done(files, "abc123", want)
    assert files.done.exists()
