"""Shared pieces of the generated hostile-input suite (``tests/hostile/``).

A hostile test takes one reader of :mod:`robustbench_runner.reading` (or a command that
reaches it), a *valid* file of that reader's format, and a generator of malformed variants of
it; it feeds each variant through the real command path and asserts the contract of
``README.md`` ("Errors"): exit status 2, one line on stderr naming the file, no traceback, no
metric row from the bad input, nothing outside the run folder touched, no canary created.

- :func:`byte_mutations`: a hypothesis strategy of damaged copies of a file's bytes
  (truncation at any offset, flipped bytes, a wrong header, garbage appended, empty);
- :func:`plant`: the filesystem hostiles (a FIFO, a symlink, a folder, an unreadable file);
- :func:`code_pickle`: a pickle whose loading would create a canary file;
- :func:`yaml_bomb`: a "billion laughs" YAML document;
- :func:`assert_one_line_error`: the one-line, exit-2 contract of a CLI call;
- :func:`tree_state` / :func:`assert_untouched`: nothing outside a folder changed.

Examples per test run: ``HOSTILE_EXAMPLES`` (default 6 in ``make test``; the ``slow``
sweep of each test file runs :data:`EXHAUSTIVE` examples).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FAST = int(os.environ.get("HOSTILE_EXAMPLES", "6"))
EXHAUSTIVE = int(os.environ.get("HOSTILE_EXHAUSTIVE_EXAMPLES", "150"))

#: hypothesis settings for a test that writes files and runs a command per example
fast = settings(max_examples=FAST, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None)
exhaustive = settings(max_examples=EXHAUSTIVE, deadline=None, suppress_health_check=list(HealthCheck), database=None)


# -- damaged bytes ----------------------------------------------------------------------------


def byte_mutations(valid: bytes, header: int = 16) -> st.SearchStrategy[tuple[str, bytes]]:
    """``(description, damaged bytes)`` drawn from ``valid``: truncated at a random offset,
    1-8 bytes flipped (in the first ``header`` bytes or anywhere), the header replaced by
    random bytes, random bytes appended, or nothing at all. Every variant differs from
    ``valid``."""
    n = len(valid)

    def truncated(k):
        return (f"truncated at byte {k} of {n}", valid[:k])

    def flipped(positions_masks):
        data = bytearray(valid)
        for pos, mask in positions_masks:
            data[pos % n] ^= mask
        return (f"bytes flipped at {sorted({p % n for p, _ in positions_masks})}", bytes(data))

    def new_header(junk):
        return (f"header replaced by {junk[:8].hex()}", junk + valid[len(junk):])

    flips = st.lists(st.tuples(st.integers(0, max(n - 1, 0)), st.integers(1, 255)), min_size=1, max_size=8)
    head_flips = st.lists(st.tuples(st.integers(0, max(min(header, n) - 1, 0)), st.integers(1, 255)), min_size=1, max_size=4)
    options = [
        st.integers(0, max(n - 1, 0)).map(truncated),
        flips.map(flipped),
        head_flips.map(flipped),
        st.binary(min_size=min(header, n), max_size=min(header, n)).filter(lambda j: j != valid[: len(j)]).map(new_header),
        st.binary(min_size=1, max_size=64).map(lambda junk: (f"{len(junk)} bytes appended", valid + junk)),
        st.just(("empty", b"")),
    ]
    return st.one_of(*options).filter(lambda d: d[1] != valid)


# -- filesystem hostiles ---------------------------------------------------------------------------

PLANTS = ("fifo", "symlink_outside", "folder", "unreadable")


def plant(path: Path, kind: str, outside: Path | None = None) -> str:
    """Replace ``path`` by a hostile entry: ``fifo`` (a named pipe nobody writes: a reader that
    opens it naively blocks forever), ``symlink_outside`` (a link to ``outside``, a file
    elsewhere), ``folder``, ``unreadable`` (mode 000; root reads it anyway, so tests skip
    that kind when running as root: :func:`can_be_unreadable`). Returns a description."""
    path = Path(path)
    if path.is_symlink() or path.is_file():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink_outside":
        assert outside is not None
        path.symlink_to(outside)
    elif kind == "folder":
        path.mkdir()
    elif kind == "unreadable":
        path.write_bytes(b"secret")
        path.chmod(0)
    else:
        raise ValueError(kind)
    return f"{path.name} is a {kind}"


def can_be_unreadable() -> bool:
    """Whether a mode-000 file is unreadable to this process (not so for root)."""
    return os.geteuid() != 0


# -- code that must never run ------------------------------------------------------------------------


class _Canary:
    def __init__(self, canary: Path):
        self.canary = str(canary)

    def __reduce__(self):
        return (os.system, (f"touch {self.canary}",))


def code_pickle(canary: Path, wrap=lambda evil: {b"data": evil, b"labels": [0]}) -> bytes:
    """A pickle that runs ``touch <canary>`` when unpickled with ``pickle.load`` (inside the
    structure ``wrap`` builds around it, e.g. a CIFAR batch dict)."""
    return pickle.dumps(wrap(_Canary(canary)), protocol=2)


def yaml_bomb(levels: int = 9, width: int = 10) -> str:
    """A "billion laughs" document: ``width ** levels`` values once aliases are expanded."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


# -- the contract ----------------------------------------------------------------------------------


def error_lines(stderr: str) -> list[str]:
    """The lines of ``stderr`` that are not warnings (``[rbr] warning: ...``, Python warnings)."""
    return [ln for ln in stderr.splitlines() if ln.strip() and "warning" not in ln.lower().split(":")[0] and not ln.startswith("  warnings.warn")]


def assert_one_line_error(code, stderr: str, names: str | Path | None = None, prog: str = "rbr-run") -> str:
    """Exit status 2, no traceback, exactly one error line ``<prog>: error: ...``, naming
    ``names`` (a path: its file name must appear) when given. Returns that line."""
    assert "Traceback" not in stderr, stderr[-2000:]
    assert code == 2, f"exit status {code}, not 2; stderr: {stderr[-1500:]}"
    lines = [ln for ln in stderr.splitlines() if ln.startswith(f"{prog}: error:")]
    assert len(lines) == 1, stderr[-1500:]
    if names is not None:
        name = Path(names).name if isinstance(names, Path) or "/" in str(names) else str(names)
        assert name in lines[0], f"{name!r} not named in: {lines[0]}"
    return lines[0]


def tree_state(root: Path, skip: Path | None = None) -> dict[str, tuple]:
    """Every entry under ``root`` (not following symlinks) with its type, size and content
    hash, except those under ``skip`` (the run folder the command may write)."""
    out = {}
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        if skip is not None and (d == skip or skip in d.parents):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            p = d / name
            if skip is not None and (p == skip or skip in p.parents):
                continue
            st_ = os.lstat(p)
            digest = None
            if stat.S_ISREG(st_.st_mode) and st_.st_mode & 0o400:
                try:
                    digest = hashlib.sha256(p.read_bytes()).hexdigest()
                except PermissionError:
                    digest = "unreadable"
            out[str(p.relative_to(root))] = (stat.S_IFMT(st_.st_mode), st_.st_size, digest)
    return out


def assert_untouched(before: dict, after: dict) -> None:
    """Nothing created, deleted or changed between two :func:`tree_state` snapshots."""
    created = sorted(set(after) - set(before))
    deleted = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    assert not (created or deleted or changed), f"created {created}, deleted {deleted}, changed {changed}"
