"""The reading layer is the only place the package reads a file, and every reader in it has a
generator of hostile variants in ``tests/hostile/`` (issue 21, "Done when").

Two checks over the source (no import of the package needed):

1. **No stray read.** An AST scan of ``robustbench_runner/`` outside ``reading/`` for the calls
   that read a file: builtin ``open``, ``Path.read_text``/``read_bytes``/``open``, ``np.load``/
   ``np.fromfile``, ``torch.load``, ``pickle``, ``yaml``, ``OmegaConf.load``, PIL's
   ``Image.open``, ``loadmat``, pandas' ``read_*``, ``json.load``, safetensors. Each call site
   left outside the layer is in :data:`ALLOWED` with its reason; a new one fails this test,
   naming the file and line, until it goes through the layer (or is allowed with a reason).
2. **Every reader is attacked.** Every public function of ``robustbench_runner.reading`` (its
   ``__all__``) appears in the ``READERS`` list (names, attributes or dotted strings) of some ``tests/hostile/test_*.py``; a new
   reader without a generator fails this test.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "robustbench_runner"
HOSTILE = Path(__file__).resolve().parent

#: attribute calls that read a file, whatever object they are called on
READ_METHODS = {"read_text", "read_bytes", "load", "loads", "safe_load", "full_load", "unsafe_load",
                "load_all", "fromfile", "loadtxt", "genfromtxt", "loadmat", "read_csv", "read_parquet",
                "read_json", "read_pickle", "read_table", "read_excel", "load_file", "safe_open",
                "Unpickler"}  # fmt: skip
#: ``X.open(...)`` reads when X is one of these (``Image.open``, ``Path(...).open``, ``gzip.open``)
OPENERS = {"Image", "gzip", "bz2", "lzma", "tarfile", "zipfile", "io", "os", "codecs"}

#: ``(file relative to the package, call) -> why it stays outside the layer``. The count of
#: call sites per key must not grow (see :func:`test_no_read_outside_the_reading_layer`).
ALLOWED: dict[tuple[str, str], str] = {
    ("papers/samplerob/neighbors.py", "Study.load"): "a classmethod of ours, not a file read: it reads through reading.load_yaml/load_json and samplerob.subset_eval.read_sets",
    ("hydra_callbacks.py", "read_text"): "/proc/<pid>/stat of the sweep's own worker processes (kernel text, not user input; OSError handled)",
    ("hydra_callbacks.py", "stat.read_text"): "/proc/<pid>/stat of a worker process (kernel text, not user input; OSError handled)",
    ("io.py", "read_text"): "/proc/self/status for the process umask (kernel text, not user input)",
    ("runtime.py", "open"): "/proc/cpuinfo for the CPU's name in run.json (kernel text; OSError suppressed)",
    ("targets.py", "path.read_text"): "the package's own shipped configs (conf/**), listing the _target_s rbr ships; no user file",
    ("targets.py", "yaml.safe_load"): "the package's own shipped configs (conf/**), safe loader; no user file",
}


def _writes(node: ast.Call) -> bool:
    """An ``open`` whose mode (second argument or ``mode=``) writes, or an ``os.open`` with
    ``O_CREAT``/``O_WRONLY``: the writing rule's business (``test_writing_rule.py``), not this one."""
    mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg in ("mode", "flags")), None)
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return any(c in mode.value for c in "wax+")
    return mode is not None and any(getattr(n, "attr", None) in ("O_CREAT", "O_WRONLY", "O_RDWR") for n in ast.walk(mode))


def _call_name(node: ast.Call) -> str | None:
    f = node.func
    if _writes(node):
        return None
    if isinstance(f, ast.Name) and f.id == "open":
        return "open"
    if isinstance(f, ast.Attribute):
        base = f.value
        base_name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", None)
        if f.attr in READ_METHODS:
            # ``torch.load``, ``np.load``, ``yaml.safe_load``, ``json.loads``, ``path.read_text``...
            if f.attr in ("load", "loads") and base_name in (None, "self", "cls", "state", "model", "module"):
                return None  # ``model.load_state_dict``-like names are filtered by attr; ``self.load`` is ours
            return f"{base_name}.{f.attr}" if base_name else f.attr
        if f.attr == "open" and (base_name in OPENERS or isinstance(base, ast.Call)):
            return f"{base_name or 'Path(...)'}.open"
    return None


def stray_reads() -> Counter:
    found: Counter = Counter()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("reading/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call) and (name := _call_name(node)):
                found[(rel, name, node.lineno)] += 1
    return found


def test_no_read_outside_the_reading_layer():
    sites = stray_reads()
    per_key = Counter((rel, name) for rel, name, _ in sites)
    new = sorted(f"robustbench_runner/{rel}:{line}: {name}(...)" for rel, name, line in sites if (rel, name) not in ALLOWED)
    assert not new, (
        "file reads outside robustbench_runner/reading/ (read through the layer, or add the call to "
        "ALLOWED with the reason it is safe):\n" + "\n".join(new)
    )
    assert set(ALLOWED) <= set(per_key), f"ALLOWED names calls that no longer exist: {sorted(set(ALLOWED) - set(per_key))}"


def _public_readers() -> set[str]:
    tree = ast.parse((PACKAGE / "reading" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            names = {elt.value for elt in node.value.elts}
            # constants, the error class and predicates are not readers
            return {n for n in names if n[0].islower() and not n.startswith("is_") and n not in NOT_READERS}
    raise AssertionError("robustbench_runner/reading/__init__.py has no __all__")


#: public names of the layer that read nothing (helpers the readers share)
NOT_READERS = {"kind_of", "source_stamp", "check_labels", "check_counts", "check_indices", "check_bundle",
               "check_shape", "neutralise_cell", "neutralise_frame"}  # fmt: skip


def _covered() -> dict[str, list[str]]:
    covered: dict[str, list[str]] = {}
    for test in sorted(HOSTILE.glob("test_*.py")):
        for node in ast.parse(test.read_text()).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "READERS" for t in node.targets):
                for elt in ast.walk(node.value):
                    if isinstance(elt, ast.Constant) and isinstance(elt.value, str):
                        name = elt.value.rsplit(".", 1)[-1]  # "reading.csvs.load_csv" names load_csv
                    else:
                        name = elt.id if isinstance(elt, ast.Name) else elt.attr if isinstance(elt, ast.Attribute) else None
                    if name:
                        covered.setdefault(name, []).append(test.name)
    return covered


def test_every_reader_has_a_hostile_generator():
    readers, covered = _public_readers(), _covered()
    missing = sorted(readers - set(covered))
    assert readers, "no public reader found: the scan is broken"
    assert not missing, f"readers with no hostile generator (add them to a tests/hostile/test_*.py READERS list): {missing}"


def test_the_scan_sees_a_planted_read(tmp_path, monkeypatch):
    """The scanner is not vacuous: a module that reads a pickle is flagged."""
    pkg = tmp_path / "robustbench_runner"
    (pkg / "reading").mkdir(parents=True)
    (pkg / "sneaky.py").write_text("import pickle, torch\nx = pickle.load(open('f', 'rb'))\ny = torch.load('w.pt')\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    names = {name for _, name, _ in stray_reads()}
    assert {"open", "pickle.load", "torch.load"} <= names
