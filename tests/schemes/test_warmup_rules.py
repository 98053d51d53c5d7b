"""Warm-up rules are a class attribute (``Scheme.warmup_rule``): a user's subclass of MAIL
inherits MAIL's rule and so shares MAIL's warm-up; a subclass that sets ``warmup_rule =
None`` shares nothing; a ``_target_`` no class answers to (never imported) has no rule and
is not imported to find one."""

from __future__ import annotations

import sys

import pytest

from robustbench_runner.errors import UserError
from robustbench_runner.registry import Registry
from robustbench_runner.schemes import MAILAT, PGDAT
from robustbench_runner.warmup import scheme_rule, scheme_signature


class MyMAIL(MAILAT):
    """A user's MAIL variant with another weight formula (same burn-in loss)."""


class MyLossMAIL(MAILAT):
    """A user's variant whose burn-in computes something else: no shared warm-up."""

    warmup_rule = None


HERE = __name__


def test_a_users_subclass_inherits_its_parents_rule():
    assert scheme_rule(f"{HERE}.MyMAIL") is MAILAT.warmup_rule is not None
    mail = {"_target_": "robustbench_runner.schemes.irat.MAILAT", "attack": {"steps": 3}, "attack_bn_mode": "eval", "burn_in": 2, "name": "mail"}
    mine = {**mail, "_target_": f"{HERE}.MyMAIL", "name": "mine", "beta": 9}
    pgd = {"_target_": "robustbench_runner.schemes.adversarial.PGDAT", "attack": {"steps": 3}, "attack_bn_mode": "eval", "name": "pgd_at"}
    assert scheme_signature(mine) == scheme_signature(mail)
    assert scheme_signature(mine)[0] == scheme_signature(pgd)[0]  # the burn-in is PGD-AT's loss
    assert PGDAT.warmup_rule.bound is None and scheme_signature(mine)[1] == 2


def test_a_subclass_can_opt_out_and_unknown_targets_have_no_rule():
    assert scheme_rule(f"{HERE}.MyLossMAIL") is None
    cfg = {"_target_": f"{HERE}.MyLossMAIL", "burn_in": 2, "name": "x"}
    assert scheme_signature(cfg) == ({"scheme": {"_target_": f"{HERE}.MyLossMAIL", "burn_in": 2}}, None)
    assert scheme_rule("not_imported_pkg.Scheme") is None and "not_imported_pkg" not in sys.modules


def test_registry_names_unknown_entries_and_refuses_a_second_one():
    reg: Registry[int] = Registry("widget")
    reg.register("a")(1)
    assert reg.get("a") == 1 and reg.names() == ["a"] and "a" in reg and reg.find("b") is None
    with pytest.raises(UserError, match=r"unknown widget 'b'"):
        reg.get("b")
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("a", 2)
