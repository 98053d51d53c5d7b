"""The YAML scalar rules of the fast config readers equal OmegaConf's (no private omegaconf
import in the package; the test may compare against omegaconf's own loader)."""

from __future__ import annotations

import re

import pytest
import yaml
from omegaconf import OmegaConf

from robustbench_runner.yaml_rules import IMPLICIT_RESOLVERS


class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = IMPLICIT_RESOLVERS


@pytest.mark.parametrize("text", ["1e-3", "1.5", "-2", ".inf", "2024-01-01", "0x1f", "true", "null", "1_000", "1:30", "abc", "3e5", ".5e-3"])
def test_scalars_read_as_omegaconf_reads_them(text):
    ours = yaml.load(f"v: {text}\n", Loader=_Loader)["v"]
    theirs = OmegaConf.to_container(OmegaConf.create(f"v: {text}\n"))["v"]
    assert (type(ours), ours) == (type(theirs), theirs)


def test_the_rules_match_omegaconfs_table():
    from omegaconf._utils import get_yaml_loader  # the reference, in the test only

    def canon(table):  # verbose patterns: whitespace is not part of the pattern
        return {k: [(tag, re.sub(r"\s", "", r.pattern), r.flags) for tag, r in v] for k, v in table.items()}

    assert canon(IMPLICIT_RESOLVERS) == canon(get_yaml_loader().yaml_implicit_resolvers)
