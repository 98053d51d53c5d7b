"""Every config option composes, resolves and passes validation; resolvers are exact."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rbr_testing import compose_cfg
from robustbench_runner.config import config_hash, validate
from robustbench_runner.run import CONF_DIR

CONF = Path(CONF_DIR)
GROUPS = ["dataset", "model", "scheme", "optim", "attacks", "eval", "select", "analysis", "scale"]


def options(group: str) -> list[str]:
    """A group's selectable options: not the shared bases (``_base.yaml``) nor, for ``scale``,
    the per-experiment overlays under ``scale/<scale>/`` (composed by the experiment tests)."""
    files = (CONF / group).glob("*.yaml") if group == "scale" else (CONF / group).rglob("*.yaml")
    return sorted(p.relative_to(CONF / group).with_suffix("").as_posix() for p in files if not p.name.startswith("_"))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_group_option_composes(group, option):
    override = f"{group}=[{option}]" if group == "analysis" else f"{group}={option}"
    cfg = compose_cfg([override])
    OmegaConf.to_container(cfg, resolve=True)
    validate(cfg)


@pytest.mark.parametrize("experiment", options("experiment") if (CONF / "experiment").exists() else [])
@pytest.mark.parametrize("scale", ["smoke", "paper"])
def test_every_experiment_composes_at_both_scales(experiment, scale):
    """Every experiment composes on its own, except the overlays and partials that name the
    overrides they are meant to be used with in a ``# compose-with: ...`` header line (e.g.
    the per-scheme files of a sweep, composed as ``+experiment/vir/scheme=at`` on top of
    their block)."""
    overrides = [f"experiment={experiment}"]
    header = re.search(r"^# compose-with: (.+)$", (CONF / "experiment" / f"{experiment}.yaml").read_text(), re.M)
    if header:
        overrides = header.group(1).split()
        if not any(o.startswith(("experiment=", "+experiment/")) for o in overrides):
            overrides.insert(0, f"experiment={experiment}")
    cfg = compose_cfg([*overrides, f"scale={scale}"])
    OmegaConf.to_container(cfg, resolve=True)
    validate(cfg)
    assert cfg.scale_name == scale


@pytest.mark.parametrize("attack", options("attack"))
def test_every_attack_config_builds_in_a_suite(attack):
    import torch

    from robustbench_runner.build import build_attacks
    from robustbench_runner.models import create_model

    cfg = compose_cfg([f"+attack@attacks.extra={attack}", "attacks.extra.name=EXTRA"])  # labels must be unique
    model = create_model("cnn6", in_channels=1, image_size=16)
    built = build_attacks(cfg.attacks, model)
    assert "extra" in built and callable(built["extra"])
    assert all(e >= 0 for e in built["extra"].eps_list)
    del torch


def test_frac_is_exact_and_the_hash_ignores_where_a_run_executes():
    cfg = compose_cfg(["dataset=cifar10"])
    assert cfg.data.eps == 8 / 255
    base = config_hash(cfg)
    assert config_hash(compose_cfg(["dataset=cifar10", "device=cpu", "progress=true", "data.root=/elsewhere", "eval.batch_size=7"])) == base
    assert config_hash(compose_cfg(["dataset=cifar10", "eval.n_eval=7"])) != base
    assert config_hash(compose_cfg(["dataset=cifar10", "seed=3"])) != base


def test_run_names():
    assert compose_cfg([]).run_name == "digits-cnn6-standard-s0"
    assert compose_cfg(["seed=4", "tag=bs128", "scheme=pgd_at"]).run_name == "digits-cnn6-pgd_at-s4-bs128"
    assert compose_cfg(["mode=eval", "checkpoint=outputs/runs/x-y-z-s1/ckpt/epoch_010.pt"]).run_name == "x-y-z-s1"
    assert compose_cfg(["mode=eval", "checkpoint=/tmp/weights.pt", "tag=aa"]).run_name == "weights-aa"


def test_by_scale():
    smoke = compose_cfg(["scale=smoke"])
    assert smoke.scale_name == "smoke" and smoke.data.limit_train == 1000
    assert compose_cfg([]).scale_name == "default"
    from robustbench_runner.config import _by_scale

    assert _by_scale("smoke", 300, 3) == 3 and _by_scale("paper", 300, 3) == 300 and _by_scale("default", 300, 3) == 300
    assert list(_by_scale("smoke", [25, 50], [1, 2])) == [1, 2]


def test_cfg_job_prints_the_composed_config():
    from rbr_testing import cli

    proc = cli(["--cfg", "job", "dataset=cifar10"])
    assert proc.returncode == 0, proc.stderr
    printed = OmegaConf.create(proc.stdout)
    assert printed.data.name == "cifar10" and printed.model.name == "cnn6"
