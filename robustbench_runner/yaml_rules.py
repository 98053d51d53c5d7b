"""OmegaConf's YAML scalar rules for PyYAML loaders, from public APIs only.

``OmegaConf.load`` reads ``1e-3`` as a float (YAML 1.1 needs a dot) and leaves timestamps as
strings. The fast readers of ``config.yaml`` and table specs (:mod:`.tables.runs`,
:mod:`.tables.spec`) parse with PyYAML's C loader and need the same rules;
:data:`IMPLICIT_RESOLVERS` is PyYAML's SafeLoader table without the timestamp resolver and
with OmegaConf's float pattern (the one ``omegaconf`` registers on its own loader, copied here
so no private omegaconf module is imported; ``tests/test_yaml_rules.py`` checks they agree).
"""

from __future__ import annotations

import re

import yaml

FLOAT = re.compile(
    """^(?:
     [-+]?[0-9]+(?:_[0-9]+)*\\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9]+(?:_[0-9]+)*(?:[eE][-+]?[0-9]+)
    |\\.[0-9]+(?:_[0-9]+)*(?:[eE][-+][0-9]+)?
    |[-+]?[0-9]+(?:_[0-9]+)*(?::[0-5]?[0-9])+\\.[0-9_]*
    |[-+]?\\.(?:inf|Inf|INF)
    |\\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _Rules(yaml.SafeLoader):
    """A SafeLoader subclass that only carries the resolver table."""


_Rules.add_implicit_resolver("tag:yaml.org,2002:float", FLOAT, list("-+0123456789."))

#: first character -> [(tag, pattern)], as PyYAML loaders keep them
IMPLICIT_RESOLVERS = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in _Rules.yaml_implicit_resolvers.items()
}

__all__ = ["FLOAT", "IMPLICIT_RESOLVERS"]
