"""Every config option composes, resolves and passes validation; resolvers are exact."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rbr_testing import CONF_ROOTS, compose_cfg, conf_file
from robustbench_runner.config import config_hash, validate
from robustbench_runner.run import CONF_DIR

CONF = Path(CONF_DIR)
GROUPS = ["dataset", "model", "scheme", "optim", "attacks", "eval", "select", "analysis", "scale"]


def options(group: str) -> list[str]:
    """A group's selectable options: not the shared bases (``_base.yaml``) nor, for ``scale``,
    the per-experiment overlays under ``scale/<scale>/`` (composed by the experiment tests)."""
    found = set()
    for root in CONF_ROOTS:  # the package's conf/ and every paper bundle's
        files = (root / group).glob("*.yaml") if group == "scale" else (root / group).rglob("*.yaml")
        found |= {p.relative_to(root / group).with_suffix("").as_posix() for p in files if not p.name.startswith("_")}
    return sorted(found)


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_group_option_composes(group, option):
    override = f"{group}=[{option}]" if group == "analysis" else f"{group}={option}"
    cfg = compose_cfg([override])
    OmegaConf.to_container(cfg, resolve=True)
    validate(cfg)


@pytest.mark.parametrize("experiment", options("experiment"))
@pytest.mark.parametrize("scale", ["smoke", "paper"])
def test_every_experiment_composes_at_both_scales(experiment, scale):
    """Every experiment composes on its own, except the overlays and partials that name the
    overrides they are meant to be used with in a ``# compose-with: ...`` header line (e.g.
    the per-scheme files of a sweep, composed as ``+experiment/vir/scheme=at`` on top of
    their block)."""
    overrides = [f"experiment={experiment}"]
    header = re.search(r"^# compose-with: (.+)$", conf_file(f"experiment/{experiment}.yaml").read_text(), re.M)
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


def test_generic_scales():
    smoke = compose_cfg(["scale=smoke"])
    assert smoke.scale_name == "smoke" and smoke.data.limit_train == 1000 and smoke.train.epochs == 2
    assert compose_cfg([]).scale_name == "default"
    assert compose_cfg(["scale=paper"]).data.limit_train is None


def _sweep_params(overrides: list[str]) -> dict:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return dict(compose("config", overrides=overrides, return_hydra_config=True).hydra.sweeper.params)


def test_experiment_files_hold_the_paper_values_and_the_smoke_overlay_follows():
    """robustbench_runner/papers/irat/conf/experiment/irat/main.yaml states paper B's values; scale=smoke merges
    robustbench_runner/papers/irat/conf/scale/smoke/irat/main.yaml after it, also under a per-scheme file that
    +experiment/... appends (its burn-in comes from conf/scale/smoke/burn_in/)."""
    ov = ["experiment=irat/main", "+experiment/irat/scheme=ours_mail"]
    paper, smoke = compose_cfg([*ov, "scale=paper"]), compose_cfg([*ov, "scale=smoke"])
    assert (paper.train.epochs, paper.train.batch_size, paper.scheme.burn_in, paper.data.val_size) == (120, 128, 75, 1000)
    assert (smoke.train.epochs, smoke.train.batch_size, smoke.scheme.burn_in, smoke.data.val_size) == (2, 8, 1, 8)
    assert _sweep_params([*ov, "scale=paper"])["seed"] == "0,1,2,3,4" and _sweep_params([*ov, "scale=smoke"])["seed"] == "0"
    # irat's GAIRAT warms up 75 epochs (the GAIRAT code's 59 elsewhere); smoke: 1
    gairat = ["experiment=irat/main", "+experiment/irat/scheme=gairat"]
    assert compose_cfg([*gairat, "scale=paper"]).scheme.burn_in == 75
    assert compose_cfg([*gairat, "scale=smoke"]).scheme.burn_in == 1
    assert compose_cfg(["experiment=vir/rn18_cifar10", "+experiment/vir/scheme=gairat"]).scheme.burn_in == 59
    # a generic smoke run keeps the scheme's own burn-in and gets no experiment overlay
    assert compose_cfg(["scheme=mail", "scale=smoke"]).scheme.burn_in == 75
    # a leaf overlay keeps what its experiment switched off (vir/hp_* drop attack columns)
    hp = compose_cfg(["experiment=vir/hp_at_gamma", "scale=smoke"])
    assert hp.attacks.fmn is None and hp.attacks.pgd100.steps == 2
    assert _sweep_params(["experiment=vir/hp_at_gamma", "scale=smoke"])["scheme.gamma"] == "2.0"


def test_model_and_warmup_sizes_follow_the_scale():
    assert (compose_cfg(["model=wrn34_10"]).model.depth, compose_cfg(["model=wrn34_10", "scale=smoke"]).model.depth) == (34, 10)
    assert compose_cfg(["model=wrn28_10", "scale=smoke"]).model.widen_factor == 2
    assert list(compose_cfg(["warmup=vir"]).warmup.save_at) == [59, 75]
    assert list(compose_cfg(["warmup=vir", "scale=smoke"]).warmup.save_at) == [1]
    assert list(compose_cfg([]).warmup.save_at) == []


def test_every_smoke_overlay_belongs_to_an_experiment_and_no_config_switches_on_scale_name():
    """Each root's smoke overlays (the package's and every bundle's) sit beside what they size:
    an overlay of experiment ``<paper>/<name>`` belongs to an experiment file of some root."""
    for root in CONF_ROOTS:
        overlays = root / "scale" / "smoke"
        for p in overlays.rglob("*.yaml"):
            rel = p.relative_to(overlays)
            if rel.parts[0] == "model":
                assert conf_file(f"model/{rel.name}").exists(), rel
            elif rel.parts[0] == "warmup":
                assert conf_file(f"warmup/{rel.name}").exists(), rel
            elif rel.parts[0] == "burn_in":
                assert "burn_in:" in conf_file(f"scheme/{rel.name}").read_text(), rel
            else:
                assert (root / "experiment" / rel).exists(), f"{p}: no experiment/{rel} in its root {root}"
        for p in root.rglob("*.yaml"):  # table specs sit off the config roots (<bundle>/table_specs/)
            assert "by_scale" not in p.read_text(), p


def test_cfg_job_prints_the_composed_config():
    from rbr_testing import cli

    proc = cli(["--cfg", "job", "dataset=cifar10"])
    assert proc.returncode == 0, proc.stderr
    printed = OmegaConf.create(proc.stdout)
    assert printed.data.name == "cifar10" and printed.model.name == "cnn6"
