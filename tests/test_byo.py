"""Bring your own model, data, attack and checkpoint (README "Your own model, data and
attacks", docs/byo.md): the worked examples run as written, model=custom / dataset=custom,
the user checkpoint formats, the trusted-pickle opt-in, mode=eval with dataset=, and
RobustBench zoo models (checkpoint=robustbench:<id>)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from rbr_testing import REPO, TINY, compose_cfg, run_inprocess
from robustbench_runner.build import build_model
from robustbench_runner.data import load_dataset
from robustbench_runner.errors import UserError
from robustbench_runner.user_checkpoints import fit_state_dict, read_checkpoint

# -- the worked examples, extracted from the docs and run as written ------------------------------------


def doc_blocks(text: str) -> tuple[dict[str, str], list[str]]:
    """``({relative path: content}, [commands])`` of a doc's fenced blocks: a python/yaml block
    whose first comment lines name a file (``# myconf/model/mynet.yaml``) is that file; each
    line of a bash block is a command."""
    files, commands = {}, []
    for lang, body in re.findall(r"```(\w*)\n(.*?)```", text, re.S):
        if lang == "bash":
            commands += [
                ln.strip() for ln in body.splitlines() if ln.strip() and not ln.startswith("#")
            ]
            continue
        for line in body.splitlines()[:2]:
            m = re.match(r"#\s*([\w./-]+\.(?:py|yaml))\b", line)
            if m:
                files[m.group(1)] = body
                break
    return files, commands


def section(text: str, title: str) -> str:
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def run_as_written(
    tmp_path: Path, files: dict[str, str], command: str, timeout: int = 600
) -> subprocess.CompletedProcess:
    """Write the doc's files into ``tmp_path`` and run its command there with bash. ``rbr-run``
    is this checkout's entrypoint (a shim on PATH, so the command text is untouched)."""
    for rel, body in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(body)
    shim = tmp_path / "_bin"
    shim.mkdir(exist_ok=True)
    (shim / "rbr-run").write_text(
        f'#!/bin/sh\nPYTHONPATH="$PYTHONPATH:{REPO}" exec {sys.executable} -m robustbench_runner.run "$@"\n'
    )
    (shim / "rbr-run").chmod(0o755)
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        ["bash", "-c", command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def readme_example() -> tuple[dict[str, str], str]:
    text = section((REPO / "README.md").read_text(), "Your own model, data and attacks")
    files, commands = doc_blocks(text)
    assert set(files) == {"mynet.py", "myconf/model/mynet.yaml"} and len(commands) == 1
    assert "rbr-run --config-dir myconf model=mynet" in commands[0]
    return files, commands[0]


def test_readme_worked_example_composes_as_written(tmp_path):
    """Fast: the README's command as written plus ``--cfg job`` prints the user's model config."""
    files, command = readme_example()
    res = run_as_written(tmp_path, files, command + " --cfg job")
    assert res.returncode == 0, res.stderr[-2000:]
    cfg = OmegaConf.create(res.stdout)
    assert (
        cfg.model._target_ == "mynet.MyNet"
        and cfg.model.width == 16
        and list(cfg.model.input_size) == [1, 16, 16]
    )
    sys.path.insert(0, str(tmp_path))
    try:
        model = build_model(cfg.model, {"num_classes": 10, "in_channels": 1, "image_size": 16}, 0)
    finally:
        sys.path.remove(str(tmp_path))
    assert type(model).__name__ == "MyNet" and model(torch.rand(2, 1, 16, 16)).shape == (2, 10)


@pytest.mark.slow
def test_readme_worked_example_runs_as_written(tmp_path):
    files, command = readme_example()
    res = run_as_written(tmp_path, files, command)
    assert res.returncode == 0, res.stderr[-2000:]
    run = tmp_path / "outputs" / "runs" / "digits-mynet-standard-s0"
    m = pd.read_csv(run / "metrics.csv")
    assert set(m.model) == {"mynet"} and {"clean", "PGD-20"} <= set(m.attack)
    saved = OmegaConf.load(run / "config.yaml").model
    assert saved._target_ == "mynet.MyNet" and list(saved.mean) == [0.5] and saved.width == 16
    assert "digits-mynet-standard-s0" in res.stdout


@pytest.mark.slow
def test_docs_worked_example_runs_as_written(tmp_path):
    text = section(
        (REPO / "docs" / "byo.md").read_text(), "Worked example: a model, a dataset and an attack"
    )
    files, commands = doc_blocks(text)
    assert {
        "mynet.py",
        "mydata.py",
        "myattack.py",
        "myconf/dataset/bars.yaml",
        "myconf/attack/random_sign.yaml",
    } <= set(files)
    (command,) = commands
    res = run_as_written(tmp_path, files, command)
    assert res.returncode == 0, res.stderr[-2000:]
    m = pd.read_csv(tmp_path / "outputs" / "runs" / "bars-mynet-standard-s0" / "metrics.csv")
    assert set(m.dataset) == {"bars"} and "RandomSign" in set(m.attack)
    clean = m[(m.attack == "clean")]
    assert set(clean.n) == {256}  # bars(n_test=256): the user's function made the test split


# -- model=custom ----------------------------------------------------------------------------------------


class TinyNet(nn.Module):
    """Takes only num_classes: rbr must not pass in_channels / image_size / its own keys."""

    def __init__(self, num_classes: int, hidden: int = 8):
        super().__init__()
        self.hidden = hidden
        self.net = nn.Sequential(
            nn.Flatten(), nn.LazyLinear(hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        )

    def forward(self, x):
        return self.net(x)


class Flat(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, image_size: int):
        super().__init__()
        self.fc = nn.Linear(in_channels * image_size * image_size, num_classes)

    def forward(self, x):
        return self.fc(x.flatten(1))


DIMS = {"num_classes": 10, "in_channels": 1, "image_size": 16}
HERE = "test_byo"  # this module, importable as a top-level name under pytest's rootdir sys.path


def test_custom_model_needs_only_the_target():
    with pytest.raises(UserError, match=r"model=custom needs the class.*model._target_="):
        build_model(compose_cfg(["model=custom"]).model, DIMS, 0)
    cfg = compose_cfg(["model=custom", f"model._target_={HERE}.TinyNet", "+model.hidden=5"])
    model = build_model(cfg.model, DIMS, 0)
    assert isinstance(model, TinyNet) and model.hidden == 5
    assert model(torch.zeros(2, 1, 16, 16)).shape == (2, 10)


def test_builtin_model_keys_are_not_passed_to_a_foreign_target():
    """The issue: model._target_=mypkg.MyNet on the default cnn6 config passed dropout and
    batch_norm to the user's class. Now: a one-line refusal naming the keys and model=custom."""
    cfg = compose_cfg([f"model._target_={HERE}.TinyNet"])
    with pytest.raises(
        UserError, match=r"takes no argument\(s\) \['batch_norm', 'dropout'\].*model=custom"
    ):
        build_model(cfg.model, DIMS, 0)


def test_custom_model_input_size_is_checked_and_normalization_applied():
    cfg = compose_cfg(["model=custom", f"model._target_={HERE}.Flat", "model.input_size=[3,32,32]"])
    with pytest.raises(
        UserError,
        match=r"model.input_size=\[3, 32, 32\] but the dataset gives inputs of shape \[1, 16, 16\]",
    ):
        build_model(cfg.model, DIMS, 0)
    cfg = compose_cfg(
        [
            "model=custom",
            f"model._target_={HERE}.Flat",
            "model.input_size=[1,16,16]",
            "model.mean=[0.5]",
            "model.std=[0.25]",
        ]
    )
    model = build_model(cfg.model, DIMS, 0)
    assert set(model.state_dict()) == {
        "fc.weight",
        "fc.bias",
    }  # no extra keys: user checkpoints load as they are
    x = torch.rand(3, 1, 16, 16)
    assert torch.allclose(model(x), model.fc(((x - 0.5) / 0.25).flatten(1)))


def test_custom_model_trains_and_attacks(tmp_path):
    tiny = [o for o in TINY if not o.startswith("model.")]
    run = run_inprocess(
        [
            *tiny,
            "model=custom",
            f"model._target_={HERE}.Flat",
            "model.name=flat",
            f"output_root={tmp_path}",
        ]
    )
    m = pd.read_csv(run / "metrics.csv")
    assert set(m.model) == {"flat"} and (m[m.attack == "clean"].value > 0.3).all()


# -- dataset=custom --------------------------------------------------------------------------------------


def two_blobs(n: int = 60, as_tuple: bool = False, scale: float = 1.0, float_labels: bool = False):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 3
    x = (0.2 * torch.rand(n, 1, 8, 8, generator=g) + 0.25 * y.view(-1, 1, 1, 1).float()) * scale
    y = y.float() if float_labels else y
    if as_tuple:
        return x, y, x[: n // 2], y[: n // 2]
    return {"train": (x.numpy(), y.numpy()), "test": (x[: n // 2], y[: n // 2])}


def test_custom_dataset_needs_only_the_target():
    cfg = compose_cfg(["dataset=custom", f"data._target_={HERE}.two_blobs", "+data.n=30"])
    b = load_dataset(cfg.data)
    assert (b.num_classes, b.in_channels, b.image_size, len(b.train), len(b.test)) == (
        3,
        1,
        8,
        30,
        15,
    )
    assert b.name == "custom" and b.train.x.dtype == torch.float32
    cfg = compose_cfg(
        [
            "dataset=custom",
            f"data._target_={HERE}.two_blobs",
            "+data.as_tuple=true",
            "data.num_classes=5",
            "data.val_size=9",
        ]
    )
    b = load_dataset(cfg.data)
    assert b.num_classes == 5 and len(b.val) == 9 and len(b.train) == 51


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["+data.scale=4.0"],
            r"train inputs range over \[[\d.]+, 2.8\], not \[0, 1\].*no normalization",
        ),
        (["+data.float_labels=true"], r"labels are torch.float32, not class indices"),
        (
            ["data.input_size=[3,32,32]"],
            r"data.input_size=\[3, 32, 32\] but .* returned inputs of shape \[1, 8, 8\]",
        ),
        (["data.num_classes=2"], r"labels range over \[0, 2\] with num_classes=2"),
    ],
)
def test_custom_dataset_errors_are_one_line(extra, message):
    cfg = compose_cfg(["dataset=custom", f"data._target_={HERE}.two_blobs", *extra])
    with pytest.raises(UserError, match=message):
        load_dataset(cfg.data)


# -- checkpoint formats ------------------------------------------------------------------------------------


@pytest.fixture
def net():
    torch.manual_seed(0)
    return Flat(10, 1, 16)


def _save(path: Path, obj) -> Path:
    torch.save(obj, path)
    return path


@pytest.mark.parametrize(
    ("layout", "kind"),
    [
        (lambda sd: sd, "state_dict"),
        (lambda sd: {"state_dict": sd, "epoch": 3}, "state_dict['state_dict']"),
        (lambda sd: {"model": sd, "optimizer": {"lr": 0.1}}, "state_dict['model']"),
        (lambda sd: {"model_state_dict": sd}, "state_dict['model_state_dict']"),
        (
            lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}},
            "state_dict['state_dict']",
        ),
        (lambda sd: {f"_orig_mod.{k}": v for k, v in sd.items()}, "state_dict"),
        (
            lambda sd: {
                "pytorch-lightning_version": "2.4.0",
                "epoch": 7,
                "global_step": 70,
                "optimizer_states": [],
                "state_dict": {
                    **{f"model.{k}": v for k, v in sd.items()},
                    "criterion.weight": torch.ones(10),
                },
            },
            "lightning",
        ),  # fmt: skip
    ],
)
def test_user_checkpoint_layouts_load_exactly(tmp_path, net, layout, kind):
    path = _save(tmp_path / "w.ckpt", layout(net.state_dict()))
    ck = read_checkpoint(path)
    assert ck.kind == kind and ck.module is None
    fresh = Flat(10, 1, 16)
    fresh.load_state_dict(fit_state_dict(fresh, ck.state))  # strict
    for k, v in net.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v)
    if kind == "lightning":
        assert ck.epoch == 7


def test_safetensors_checkpoint(tmp_path, net):
    st = pytest.importorskip("safetensors.torch", reason="safetensors is not installed (optional)")
    st.save_file(net.state_dict(), str(tmp_path / "w.safetensors"))
    ck = read_checkpoint(tmp_path / "w.safetensors")
    assert ck.kind == "safetensors" or ck.kind == "state_dict"
    assert torch.equal(ck.state["fc.weight"], net.fc.weight)


def test_pickled_module_is_refused_unless_trusted(tmp_path, net, capsys):
    """issue 13 item 11: the message says what the file is and how to load it, without raw
    colour codes and without advising to delete the user's file."""
    path = _save(tmp_path / "whole.pt", net)
    with pytest.raises(UserError) as err:
        read_checkpoint(path)
    text = str(err.value)
    assert f"names the Python object {HERE}.Flat" in text and "checkpoint_trusted=true" in text
    assert "delete" not in text.lower() and "\x1b" not in text and "\n" not in text
    ck = read_checkpoint(path, trusted=True)
    assert "runs code from that file" in capsys.readouterr().out
    assert ck.kind == "pickled module" and isinstance(ck.module, Flat)
    assert ck.model_cfg["class"] == f"{HERE}.Flat" and torch.equal(ck.state["fc.bias"], net.fc.bias)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"epoch,loss\n1,0.5\n", "a text file (17 bytes; first line: 'epoch,loss')"),
        (b"", "an empty file"),
        (b"\x89HDF\r\n\x1a\n" + b"\0" * 20, "an HDF5 file"),
    ],
)
def test_a_file_that_is_not_a_checkpoint_is_named(tmp_path, content, says):
    path = tmp_path / "weights.pt"
    path.write_bytes(content)
    with pytest.raises(UserError) as err:
        read_checkpoint(path)
    assert says in str(err.value) and "delete" not in str(err.value).lower()
    assert path.read_bytes() == content  # the user's file is untouched


def test_a_dict_without_weights_lists_its_keys(tmp_path):
    path = _save(tmp_path / "x.pt", {"args": {"lr": 0.1}, "acc": 0.9})
    with pytest.raises(
        UserError, match=r"dict with keys \['args', 'acc'\], none of which holds a state dict"
    ):
        read_checkpoint(path)


def test_eval_of_a_lightning_checkpoint_end_to_end(tmp_path, capsys):
    """A user's Lightning .ckpt of an rbr model (prefix ``model.``) attacked by mode=eval with the
    command's model= and dataset=; its clean accuracy equals the original model's."""
    train = run_inprocess([*TINY, f"output_root={tmp_path}"])
    rbr = torch.load(train / "ckpt" / "epoch_002.pt", weights_only=True)
    lightning = {
        "pytorch-lightning_version": "2.4.0",
        "epoch": 2,
        "state_dict": {f"model.{k}": v for k, v in rbr["model"].items()},
    }
    path = _save(tmp_path / "mine.ckpt", lightning)
    run = run_inprocess([*TINY, "mode=eval", f"checkpoint={path}", f"output_root={tmp_path}"])
    assert "lightning, epoch 2" in capsys.readouterr().out
    got = pd.read_csv(run / "metrics.csv")
    ref = pd.read_csv(train / "metrics.csv")
    pick = lambda m, ck: m[(m.checkpoint == ck) & (m.attack == "clean")].value.item()  # noqa: E731
    assert pick(got, "mine") == pick(ref, "epoch_002")


# -- mode=eval on an rbr checkpoint: dataset= is honoured, another model= refused --------------------------


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits")
    return run_inprocess([*TINY, f"output_root={out}"]), out


@pytest.fixture(scope="module")
def standin_root(tmp_path_factory):
    from robustbench_runner.data.standin import main as standin

    root = tmp_path_factory.mktemp("standin")
    standin([str(root), "--datasets", "mnist", "cifar10"])
    return root


def test_eval_dataset_override_is_honoured(digits_run, standin_root, capsys):
    run, out = digits_run
    ev = run_inprocess([
        *TINY, "mode=eval", f"checkpoint={run / 'ckpt' / 'epoch_002.pt'}", "dataset=mnist",
        f"data.root={standin_root}", "data.limit_test=60", f"output_root={out}", "tag=on_mnist",
    ])  # fmt: skip
    assert (
        "dataset=mnist (command line) replaces the checkpoint's dataset digits"
        in capsys.readouterr().out
    )
    m = pd.read_csv(ev / "metrics.csv")
    assert set(m.dataset) == {"mnist"} and m[m.attack == "clean"].n.item() == 60
    saved = OmegaConf.load(ev / "config.yaml")
    assert (
        saved.data.name == "mnist" and saved.data.eps == 0.3 and saved.model.name == "cnn6"
    )  # MNIST's eps


def test_eval_model_override_other_than_the_checkpoints_is_refused(digits_run):
    run, out = digits_run
    with pytest.raises(
        UserError,
        match=r"model=lenet on the command line, but the checkpoint was trained with model cnn6",
    ):
        tiny = [o for o in TINY if not o.startswith("model.")]
        run_inprocess(
            [
                *tiny,
                "mode=eval",
                f"checkpoint={run}",
                "model=lenet",
                f"output_root={out}",
                "tag=lenet",
            ]
        )


# -- RobustBench ---------------------------------------------------------------------------------------------


def test_leaderboard_tables_parse_the_model_zoo_markdown():
    from robustbench_runner.models.robustbench_zoo import leaderboard_tables

    md = """### CIFAR-10

#### Linf, eps=8/255
| <sub>#</sub> | <sub>Model ID</sub> | <sub>Paper</sub> | <sub>Clean accuracy</sub> | <sub>Robust accuracy</sub> | <sub>Architecture</sub> | <sub>Venue</sub> |
|:---:|---|---|:---:|:---:|:---:|:---:|
| <sub>**1**</sub> | <sub><sup>**Foo2020Bar**</sup></sub> | <sub>*[T](u)*</sub> | <sub>91.25%</sub> | <sub>60.50%</sub> | <sub>WideResNet-28-10</sub> | <sub>X</sub> |

### CIFAR-100

#### Linf, eps=8/255
| <sub>#</sub> | <sub>Model ID</sub> | <sub>Paper</sub> | <sub>Clean accuracy</sub> | <sub>Robust accuracy</sub> | <sub>Architecture</sub> | <sub>Venue</sub> |
|:---:|---|---|:---:|:---:|:---:|:---:|
| <sub>**1**</sub> | <sub><sup>**Foo2020Bar**</sup></sub> | <sub>*[T](u)*</sub> | <sub>70.00%</sub> | <sub>30.00%</sub> | <sub>WRN</sub> | <sub>X</sub> |
"""
    t = leaderboard_tables(md)
    assert t[("cifar10", "Linf")]["Foo2020Bar"] == {
        "clean": 0.9125,
        "robust": 0.605,
        "architecture": "WideResNet-28-10",
    }
    assert t[("cifar100", "Linf")]["Foo2020Bar"]["clean"] == 0.70


HAS_ROBUSTBENCH = importlib.util.find_spec("robustbench") is not None
needs_robustbench = pytest.mark.skipif(
    not HAS_ROBUSTBENCH,
    reason="robustbench is not installed (extra: pip install 'robustbench_runner[robustbench]')",
)
ZOO_ID = "Wong2020Fast"  # a PreAct ResNet-18 entry of the CIFAR-10 Linf zoo (11M parameters)


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory):
    """RobustBench's layout with ZOO_ID's weights written locally (seeded random init of the
    zoo's own architecture, saved the way RobustBench distributes them: "state_dict" with
    DataParallel's "module." prefix)."""
    from robustbench_runner.models.robustbench_zoo import zoo_entries

    entry = zoo_entries("cifar10", "Linf")[ZOO_ID]
    torch.manual_seed(0)
    model = entry["model"]()
    d = tmp_path_factory.mktemp("zoo")
    (d / "cifar10" / "Linf").mkdir(parents=True)
    torch.save(
        {"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}},
        d / "cifar10" / "Linf" / f"{ZOO_ID}.pt",
    )
    return d, model.eval()


@needs_robustbench
@pytest.mark.slow
def test_robustbench_zoo_model_is_attacked_and_compared(zoo_dir, standin_root, tmp_path, capsys):
    d, reference = zoo_dir
    run = run_inprocess([
        "mode=eval", f"checkpoint=robustbench:{ZOO_ID}", "dataset=cifar10", f"data.root={standin_root}",
        f"robustbench.model_dir={d}", "data.limit_test=24", "eval.n_eval=8", "eval.batch_size=8",
        "attacks.pgd20.steps=2", "progress=false", f"output_root={tmp_path}",
    ])  # fmt: skip
    assert run.name == f"robustbench-{ZOO_ID}"
    m = pd.read_csv(run / "metrics.csv")
    assert set(m.model) == {f"robustbench-{ZOO_ID}"} and {"clean", "PGD-2"} <= set(m.attack)
    # the clean accuracy is the zoo model's own on the same points
    bundle = load_dataset(
        compose_cfg(["dataset=cifar10", f"data.root={standin_root}", "data.limit_test=24"]).data
    )
    with torch.no_grad():
        acc = (reference(bundle.test.float_x()).argmax(1) == bundle.test.y).float().mean().item()
    assert m[m.attack == "clean"].value.item() == pytest.approx(acc)
    # the leaderboard's numbers, as the installed package's README states them, beside ours
    lb = pd.read_csv(run / "leaderboard.csv")
    meta = importlib.metadata.metadata("robustbench").get_payload()
    row = re.search(rf"\*\*{ZOO_ID}\*\*.*?<sub>([\d.]+)%</sub> \| <sub>([\d.]+)%</sub>", meta)
    clean_row = lb[lb.quantity == "clean"].iloc[0]
    assert clean_row.reported == pytest.approx(
        float(row.group(1)) / 100
    ) and clean_row.this_run == pytest.approx(acc)
    assert lb[lb.quantity == "robust (AutoAttack)"].reported.item() == pytest.approx(
        float(row.group(2)) / 100
    )
    assert "leaderboard vs this run" in capsys.readouterr().out


@needs_robustbench
def test_robustbench_errors_are_one_line(tmp_path):
    d = tmp_path / "models"
    base = ["mode=eval", f"robustbench.model_dir={d}", f"output_root={tmp_path}"]
    with pytest.raises(
        UserError, match=r"unknown RobustBench model id 'Wong2020Fas' .*did you mean Wong2020Fast"
    ):
        run_inprocess([*base, "checkpoint=robustbench:Wong2020Fas", "dataset=cifar10"])
    with pytest.raises(
        UserError,
        match=r"weights of RobustBench model Standard .* not in .*cifar10/Linf/Standard.pt.*robustbench.download=true",
    ):
        run_inprocess([*base, "checkpoint=robustbench:Standard", "dataset=cifar10"])
    with pytest.raises(UserError, match=r"dataset=digits.*add dataset=cifar10"):
        run_inprocess([*base, f"checkpoint=robustbench:{ZOO_ID}"])
    assert not (d / "cifar10" / "Linf" / "Standard.pt").exists()  # nothing was downloaded


def test_init_from_a_users_lightning_checkpoint(digits_run, tmp_path):
    """init_from= reads user formats too: training starts from the file's weights (epoch 0
    checkpoint == the file) and run.json records it as the parent."""
    run, _ = digits_run
    weights = torch.load(run / "ckpt" / "epoch_002.pt", weights_only=True)["model"]
    path = _save(
        tmp_path / "start.ckpt",
        {
            "pytorch-lightning_version": "2.4.0",
            "epoch": 2,
            "state_dict": {f"model.{k}": v for k, v in weights.items()},
        },
    )
    new = run_inprocess(
        [
            *TINY,
            f"init_from={path}",
            "train.epochs=1",
            "eval.grid=[0,1]",
            "tag=ft",
            f"output_root={tmp_path}",
        ]
    )
    start = torch.load(new / "ckpt" / "epoch_000.pt", weights_only=True)["model"]
    assert all(torch.equal(start[k], v) for k, v in weights.items())
    assert str(path.resolve()) in (new / "run.json").read_text()


def test_eval_of_user_files_end_to_end(tmp_path, net, capsys):
    """mode=eval on a text file: one line saying what it is, no advice to delete it; on a whole
    pickled module: refused, then attacked as is with checkpoint_trusted=true."""
    notes = tmp_path / "notes.txt"
    notes.write_text("not weights\n")
    tiny = [o for o in TINY if not o.startswith("model.")]
    with pytest.raises(UserError) as err:
        run_inprocess([*tiny, "mode=eval", f"checkpoint={notes}", f"output_root={tmp_path}"])
    assert "is a text file" in str(err.value) and "delete" not in str(err.value).lower() and notes.exists()
    whole = _save(tmp_path / "whole.pt", net)
    with pytest.raises(UserError, match="checkpoint_trusted=true"):
        run_inprocess([*tiny, "mode=eval", f"checkpoint={whole}", f"output_root={tmp_path}"])
    run = run_inprocess([*tiny, "mode=eval", f"checkpoint={whole}", "checkpoint_trusted=true", f"output_root={tmp_path}", "tag=t"])
    assert "runs code from that file" in capsys.readouterr().out
    m = pd.read_csv(run / "metrics.csv")
    assert set(m.model) == {"flat"} and "PGD-5" in set(m.attack)
