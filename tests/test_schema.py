"""The schema (robustbench_runner/schema.py): it types the package's keys while Hydra
composes, it matches the config files it describes, and the volatile keys it marks are the
ones the config hash leaves out."""

from __future__ import annotations

import typing
from dataclasses import fields, is_dataclass

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from omegaconf import ListConfig, OmegaConf, open_dict

from rbr_testing import CONF_DIR, compose_cfg, conf_file
from robustbench_runner import schema
from robustbench_runner.config import VOLATILE_KEYS, config_hash, validate
from robustbench_runner.errors import UserError


def test_data_loading_declares_exactly_the_keys_of_the_dataset_base():
    base = OmegaConf.load(conf_file("dataset/_base.yaml"))
    assert set(base) == {f.name for f in fields(schema.DataLoading)}


def test_volatile_keys_are_derived_from_the_schema():
    assert VOLATILE_KEYS == schema.volatile_keys()
    assert len(set(VOLATILE_KEYS)) == len(VOLATILE_KEYS)
    # a sample of each kind: a top-level key, a whole node, nested ones, a described data key
    assert {"device", "warmup", "hydra", "eval.batch_size", "robustbench.model_dir", "data.num_workers", "data.root"} <= set(VOLATILE_KEYS)
    assert not {"seed", "eval.n_eval", "train.epochs", "data.limit_train", "data"} & set(VOLATILE_KEYS)


def _compose_with_hydra(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=True)


def test_every_volatile_key_is_a_key_of_the_composed_config():
    """tinyimagenet holds every file key of DataFiles; ``hydra`` is there until Hydra hands the job its config."""
    cfg = _compose_with_hydra(["dataset=tinyimagenet"])
    for key in VOLATILE_KEYS:
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
        assert leaf in node, key


def _changed(value):
    """Another value of the same type (a value the schema accepts)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, (list, ListConfig)):
        return [*value, 99]
    if value is None:
        return 1
    return {"changed": 1}  # a whole node (warmup, logger)


def _leaves(schema_type: type, prefix: str = "") -> list[str]:
    hints = typing.get_type_hints(schema_type)
    out = []
    for f in fields(schema_type):
        if is_dataclass(hints[f.name]):
            out += _leaves(hints[f.name], f"{prefix}{f.name}.")
        elif hints[f.name] is not typing.Any or f.metadata.get("volatile"):
            out.append(prefix + f.name)
    return out


@pytest.fixture(scope="module")
def tiny_imagenet():
    return compose_cfg(["dataset=tinyimagenet"])


def _with(cfg, key: str, value):
    cfg = cfg.copy()
    with open_dict(cfg):
        OmegaConf.update(cfg, key, value, merge=False, force_add=True)
    return cfg


@pytest.mark.parametrize("key", [k for k in VOLATILE_KEYS if k != "hydra"])
def test_a_volatile_key_leaves_the_hash_alone(tiny_imagenet, key):
    value = OmegaConf.select(tiny_imagenet, key)
    assert config_hash(_with(tiny_imagenet, key, _changed(value))) == config_hash(tiny_imagenet)


NON_VOLATILE = sorted(
    {*_leaves(schema.RbrConfig), *(f"data.{k}" for k in _leaves(schema.DataLoading))} - set(VOLATILE_KEYS) - {"hydra"}
)


@pytest.mark.parametrize("key", NON_VOLATILE)
def test_any_other_declared_key_changes_the_hash(tiny_imagenet, key):
    value = OmegaConf.select(tiny_imagenet, key)
    assert config_hash(_with(tiny_imagenet, key, _changed(value))) != config_hash(tiny_imagenet), key


@pytest.mark.parametrize(
    "override, key",
    [("train.epochs=abc", "train.epochs"), ("eval.n_eval=1.5", "eval.n_eval"), ("seed=x", "seed"), ("robustbench.download=maybe", "robustbench.download"), ("eval.grid=[1,x]", "eval.grid[1]")],
)
def test_a_wrong_type_fails_while_composing(override, key):
    with pytest.raises(ConfigCompositionException) as info:
        compose_cfg([override])
    inner = info.value.__cause__
    assert inner is not None and inner.full_key == key


def test_the_schema_leaves_open_what_users_and_papers_extend():
    cfg = compose_cfg(["+callbacks.mine._target_=mypkg.Cb", "+attack@attacks.pgd50=pgd", "+data.path=/x", "experiment=prs/candidates"])
    assert cfg.callbacks.mine._target_ == "mypkg.Cb" and cfg.attacks.pgd50.steps and cfg.data.path == "/x"
    assert "prs_eps" in cfg  # a bundle's own top-level key
    with pytest.raises(ConfigCompositionException):
        compose_cfg(["train.epoch=3"])  # train is closed: a misspelt key is an error


@pytest.mark.parametrize("key, value, says", [("data.limit_train", "abc", "data.limit_train=abc is not an integer or null"), ("data.on_gpu", "maybe", "data.on_gpu=maybe is not true or false")])
def test_validate_types_the_shared_data_keys(key, value, says):
    """``data`` stays open (each dataset adds its own keys), so validate checks the shared ones."""
    with pytest.raises(UserError, match=says):
        validate(_with(compose_cfg([]), key, value))
