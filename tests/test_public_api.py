"""The names the docs promise for use from Python (README, docs/byo.md, the module
docstrings) import from where they are documented, and every module's ``__all__`` lists
names the module has."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import robustbench_runner

PUBLIC = {
    "robustbench_runner.loop": ["Callback", "Loop", "HOOKS", "user_callbacks"],
    "robustbench_runner.callbacks": ["BestCheckpoint", "GridCheckpoints", "TrackerCallback", "WarmupCallback", "DropResumeState", "CurvesCallback"],
    "robustbench_runner.registry": ["Registry"],
    "robustbench_runner.models": ["create_model", "register_model", "available_models"],
    "robustbench_runner.attacks": ["create_attack"],
    "robustbench_runner.schemes": ["Scheme", "StepOutput", "WarmupRule", "SCHEMES", "PGDAT", "MAILAT"],
    "robustbench_runner.results": ["RunFiles", "upsert_result"],
    "robustbench_runner.config": ["config_diff", "Difference", "config_hash", "semantic_dict"],
    "robustbench_runner.evaluate": ["evaluate", "run_suite", "attack_fingerprint"],
    "robustbench_runner.io": ["upsert_csv", "save_checkpoint", "load_checkpoint"],
    "robustbench_runner.train_run": ["TrainRun"],
    "robustbench_runner.eval_run": ["EvalRun"],
    "robustbench_runner.warmup": ["scheme_rule", "scheme_signature", "differing_keys"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_documented_names_import(module):
    mod = importlib.import_module(module)
    missing = [n for n in PUBLIC[module] if not hasattr(mod, n)]
    assert not missing, f"{module} lacks {missing}"


def test_every_all_lists_existing_names():
    bad = []
    for info in pkgutil.walk_packages(robustbench_runner.__path__, "robustbench_runner."):
        if info.name.endswith("__main__"):
            continue
        mod = importlib.import_module(info.name)
        bad += [f"{info.name}.{n}" for n in getattr(mod, "__all__", []) if not hasattr(mod, n)]
    assert not bad, bad


def test_the_runs_are_loops_and_the_registries_one_kind():
    from robustbench_runner.attacks.registry import ATTACKS
    from robustbench_runner.eval_run import EvalRun
    from robustbench_runner.loop import Loop
    from robustbench_runner.models.registry import MODELS
    from robustbench_runner.registry import Registry
    from robustbench_runner.schemes import SCHEMES
    from robustbench_runner.train_run import TrainRun

    assert issubclass(TrainRun, Loop) and issubclass(EvalRun, Loop)
    assert all(isinstance(r, Registry) for r in (ATTACKS, MODELS, SCHEMES))
    assert "cnn6" in MODELS and "robustbench_runner.schemes.irat.MAILAT" in SCHEMES
