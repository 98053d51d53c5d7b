"""YAML from outside the tool (a run's ``config.yaml``, table specs, user config files),
parsed with bounds: bytes (:data:`.files.LIMITS`), nesting depth and the size of the tree
once aliases are expanded.

PyYAML shares the object an alias points to, so a "billion laughs" document (each anchor a
list of ten aliases of the previous one) costs nothing to *parse*, and explodes when anything
walks the result (flattening a config, ``OmegaConf.create``, ``json.dumps``). :func:`load_yaml`
composes the node graph first, counts the nodes the document holds with every alias expanded
(memoised per node, so the count itself is linear in the file), and refuses a document over
``max_nodes`` or deeper than ``max_depth`` before constructing any object.

Scalars follow OmegaConf's rules (the ones ``OmegaConf.load`` applies, so a file reads here as
it reads in Hydra): ``1e-3`` and ``1.5E+3`` are floats (YAML 1.1 wants a dot), timestamps stay
strings, and a key given twice in one mapping is an error.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from .files import LIMITS, BadFile, read_text

MAX_NODES = 1_000_000
MAX_DEPTH = 64

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: OmegaConf's float rule: YAML 1.1's, plus exponents without a dot (``1e-3``).
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class ConfigLoader(_Base):
    """PyYAML's safe loader (the C one when available) with OmegaConf's scalar rules and its
    duplicate-key error. Only YAML's standard tags: no Python object is ever constructed."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark, f"found duplicate key {key_node.value}", key_node.start_mark)
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
ConfigLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def expanded_size(node, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> int:
    """Nodes under ``node`` with every alias expanded (a node reached twice counts twice),
    computed once per distinct node. Raises ValueError past ``max_nodes`` / ``max_depth`` or
    on a recursive alias."""
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(n, depth: int) -> int:
        key = id(n)
        if key in memo:
            return memo[key]
        if depth > max_depth:
            raise ValueError(f"it nests deeper than {max_depth} levels")
        if key in active:
            raise ValueError("it holds a recursive alias (a node that contains itself)")
        active.add(key)
        total = 1
        if isinstance(n, yaml.SequenceNode):
            for child in n.value:
                total += size(child, depth + 1)
                if total > max_nodes:
                    break
        elif isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                total += size(k, depth + 1) + size(v, depth + 1)
                if total > max_nodes:
                    break
        active.discard(key)
        if total > max_nodes:
            raise ValueError(f"it expands to more than {max_nodes:,} values (aliases of aliases: a YAML bomb?)")
        memo[key] = total
        return total

    return size(node, 0)


def parse_yaml(text: str, *, source: str | Path = "<text>", max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH, what: str | None = None, fix: str | None = None):
    """``text`` as plain Python containers (dicts, lists, str, int, float, bool, None) under
    the bounds above; an empty document is None. Errors are :class:`BadFile` naming ``source``."""
    loader = ConfigLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded_size(node, max_nodes, max_depth)
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        raise BadFile(source, f"is not valid YAML ({' '.join(str(e).split())[:160]})", fix=fix or "fix the YAML syntax of that file", what=what) from None
    except ValueError as e:
        raise BadFile(source, f"is refused: {e}", fix=fix or "write the values out instead of nesting aliases", what=what) from None
    except RecursionError:
        raise BadFile(source, f"is refused: it nests deeper than {max_depth} levels", fix=fix, what=what) from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path, *, max_bytes: int = LIMITS["config"], follow_symlinks: bool = True, max_nodes: int = MAX_NODES, what: str | None = None, fix: str | None = None):
    """A YAML file (a regular file of at most ``max_bytes``, UTF-8) as plain containers, with
    :func:`parse_yaml`'s bounds."""
    text = read_text(path, max_bytes=max_bytes, follow_symlinks=follow_symlinks, what=what, fix=fix)
    return parse_yaml(text, source=path, max_nodes=max_nodes, what=what, fix=fix)
