"""A new training scheme is one Python class plus one config (docs/byo.md, "A training scheme"):
the scheme configs share the training attack ``conf/attack/pgd.yaml``, and a scheme written
outside the package trains through the real ``rbr-run`` entrypoint."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pandas as pd
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from rbr_testing import TINY
from robustbench_runner.run import CONF_DIR

SCHEMES = Path(CONF_DIR) / "scheme"

SCHEME_PY = '''
"""HalfAT: CE on the mean of clean and adversarial losses (a made-up scheme for the test)."""
import torch.nn.functional as F

from robustbench_runner.schemes.adversarial import AdversarialScheme
from robustbench_runner.schemes.base import StepOutput


class HalfAT(AdversarialScheme):
    default_name = "half_at"

    def __init__(self, attack, attack_bn_mode="eval", name=None, clean_weight=0.5):
        super().__init__(attack, attack_bn_mode=attack_bn_mode, name=name)
        self.clean_weight = float(clean_weight)
        self.steps = 0

    def step(self, model, x, y, epoch):
        x_adv = self.generate(model, x, y)
        adv_logits = model(x_adv)
        loss = self.clean_weight * F.cross_entropy(model(x), y) + (1 - self.clean_weight) * F.cross_entropy(adv_logits, y)
        self.steps += 1
        return StepOutput(loss, adv_logits)
'''

SCHEME_YAML = """
# half_at: my scheme (half clean, half PGD cross-entropy); its training attack: rbr's PGD
defaults:
  - /attack@attack: pgd
  - _self_

_target_: halfat_scheme.HalfAT
name: half_at
clean_weight: 0.25
attack_bn_mode: eval
attack:
  name: PGD-2-train
  steps: 2
  step_size: ${div:${.eps},2}
"""


def _composes_pgd(path: Path, seen: tuple = ()) -> bool:
    """The scheme config composes conf/attack/pgd.yaml as scheme.attack, itself or through
    the scheme config it extends (e.g. gairat_warmup75 -> gairat)."""
    defaults = OmegaConf.load(path).get("defaults") or []
    if "/attack@attack: pgd" in path.read_text():
        return True
    parents = [d for d in defaults if isinstance(d, str) and d != "_self_" and (SCHEMES / f"{d}.yaml").exists()]
    return any(_composes_pgd(SCHEMES / f"{p}.yaml", (*seen, path)) for p in parents if SCHEMES / f"{p}.yaml" not in seen)


def test_every_adversarial_scheme_config_composes_the_pgd_training_attack():
    configs = sorted(SCHEMES.glob("*.yaml"))
    assert len(configs) >= 10
    without = [p.stem for p in configs if not _composes_pgd(p)]
    assert without == ["standard"]  # clean cross-entropy: no training attack


def test_a_scheme_from_outside_the_package_trains_through_rbr_run(tmp_path, monkeypatch):
    from robustbench_runner import run as rbr_run

    (tmp_path / "halfat_scheme.py").write_text(textwrap.dedent(SCHEME_PY))
    (tmp_path / "myconf" / "scheme").mkdir(parents=True)
    (tmp_path / "myconf" / "scheme" / "half_at.yaml").write_text(SCHEME_YAML)
    monkeypatch.syspath_prepend(str(tmp_path))
    args = [
        f"hydra.searchpath=[file://{tmp_path / 'myconf'}]",
        "scheme=half_at",
        *[a for a in TINY if not a.startswith(("train.epochs", "eval.grid"))],
        "train.epochs=1",
        "eval.grid=[1]",
        f"output_root={tmp_path / 'out'}",
    ]
    GlobalHydra.instance().clear()
    monkeypatch.setattr(sys, "argv", ["rbr-run", *args])
    try:
        rbr_run.main()
    except SystemExit as ex:  # a failure exits non-zero; success may also exit 0
        assert ex.code in (0, None), ex
    finally:
        GlobalHydra.instance().clear()
        sys.modules.pop("halfat_scheme", None)
    run = tmp_path / "out" / "runs" / "digits-cnn6-half_at-s0"
    saved = OmegaConf.load(run / "config.yaml").scheme
    assert saved._target_ == "halfat_scheme.HalfAT" and saved.clean_weight == 0.25
    assert saved.attack._target_ == "robustbench_runner.attacks.pgd.PGD" and saved.attack.steps == 2
    log = pd.read_csv(run / "train_log.csv")
    assert list(log.epoch) == [1]
    metrics = pd.read_csv(run / "metrics.csv")
    assert {"clean", "PGD-5"} <= set(metrics.attack) and set(metrics.epoch) == {1}
