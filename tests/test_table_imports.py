"""No import cycle among ``robustbench_runner.*`` modules (module-level imports, read with
``ast`` without importing anything), and the table builders come from tables/registry.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import robustbench_runner
from robustbench_runner.errors import UserError
from robustbench_runner.tables import registry

PKG_DIR = Path(robustbench_runner.__file__).parent
PKG = "robustbench_runner"


def module_names(root: Path = PKG_DIR) -> dict[str, Path]:
    out = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _module_level(tree: ast.Module):
    """Import statements not inside a function or class (``if``/``try`` blocks included)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stack += [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt)]


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the ``robustbench_runner`` modules it imports at module level."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in _module_level(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                mod = ".".join(base + ([node.module] if node.module else []))
                # `from pkg import sub` imports the submodule pkg.sub; else the name lives in pkg
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names]
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle (as a path that ends where it starts), else None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_no_import_cycle_in_the_package():
    cycle = find_cycle(import_graph(module_names()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_finder_finds_a_cycle(tmp_path):
    """The check itself: two modules importing each other (one relatively) are a cycle."""
    pkg = tmp_path / PKG / "sub"
    pkg.mkdir(parents=True)
    (tmp_path / PKG / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from . import a\n")  # function level: not counted
    graph = import_graph(module_names(tmp_path / PKG))
    assert find_cycle(graph) is None
    (pkg / "b.py").write_text("try:\n    from robustbench_runner.sub.a import x\nexcept ImportError:\n    pass\n")
    graph = import_graph(module_names(tmp_path / PKG))
    assert find_cycle(graph) == [f"{PKG}.sub.a", f"{PKG}.sub.b", f"{PKG}.sub.a"]


def test_every_spec_builder_is_registered_by_a_bundle_or_the_core():
    """Every ``builder:`` a shipped spec names is defined with ``@builder`` in the package's
    ``tables.custom`` or in the ``tables.py`` of the bundle the spec belongs to."""
    from robustbench_runner.tables.spec import all_specs

    found = registry.registered()
    for spec in all_specs().values():
        if spec.builder:
            fn = registry.get_builder(spec.builder, spec.id)
            assert fn is found[spec.builder]
            assert fn.__module__ in (*registry.CORE_MODULES, f"robustbench_runner.papers.{spec.id.split('/')[0]}.tables"), (spec.id, fn.__module__)
    assert len(found) >= 20


def test_unknown_builder_is_one_clear_error():
    with pytest.raises(UserError, match="unknown builder 'os.system'"):
        registry.get_builder("os.system", "x/table")


def test_a_builder_name_cannot_be_taken_twice():
    registry.get_builder("prs_fig16", "prs/fig16")

    def other(spec, ctx):
        return None

    with pytest.raises(UserError, match="defined twice"):
        registry.builder("prs_fig16")(other)
    assert registry.get_builder("prs_fig16").__module__ == "robustbench_runner.papers.prs.tables"
