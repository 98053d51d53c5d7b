"""The README walk (issue 24): every line of README.md's Quickstart, run in order as a new
user would after ``make demo``, in a temporary copy of the repository; each must exit 0.

What the walk changes, and why (everything else runs as written):

- ``make demo`` is not run (it creates a .venv and installs); the walk runs what it runs,
  ``rbr-run``, with this interpreter (the package under test on ``PYTHONPATH``);
- ``source .venv/bin/activate`` is checked to come before the first ``rbr-*`` line; the walk
  puts ``rbr-run``/``rbr-tables``/``rbr-report`` shims that call this interpreter on the PATH;
- unless ``RBR_WALK_FULL=1``, every ``rbr-run`` line gets :data:`SHRINK` appended (fewer
  training and attacked points: the same commands, the same folders, seconds instead of minutes
  on a shared CPU). The same overrides go on every line, so the lines still meet each other's
  folders (the demo run the eval line attacks, the DONE run the second ``rbr-run`` finds).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHRINK = ["data.limit_train=320", "data.limit_test=128", "eval.n_eval=32", "progress=false"]
TOOLS = {"rbr-run": "robustbench_runner.run", "rbr-tables": "robustbench_runner.tables.cli", "rbr-report": "robustbench_runner.report"}


def quickstart_lines(readme: str) -> list[str]:
    """The command lines of the first fenced bash block under ``## Quickstart`` (comments dropped)."""
    section = readme.split("## Quickstart", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    lines = []
    for raw in block.splitlines():
        tokens = shlex.split(raw, comments=True)
        if tokens:
            lines.append(shlex.join(tokens))
    return lines


def test_quickstart_lines_are_found():
    lines = quickstart_lines((REPO / "README.md").read_text())
    assert lines[0] == "source .venv/bin/activate"
    assert any(ln.startswith("rbr-tables") for ln in lines) and sum(ln.startswith("rbr-run") for ln in lines) >= 8
    assert any("'~attacks.aa'" in ln or "~attacks.aa" in ln for ln in lines)  # how to drop one attack


def _copy_repo(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split("\n")
    for rel in filter(None, files):
        src = REPO / rel
        if not src.exists() and not src.is_symlink():
            continue
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), out)
        else:
            shutil.copy2(src, out)
    return dest


def _shims(bin_dir: Path, repo: Path) -> None:
    bin_dir.mkdir()
    for tool, module in TOOLS.items():
        path = bin_dir / tool
        path.write_text(f'#!/bin/sh\nPYTHONPATH="{repo}" exec "{sys.executable}" -m {module} "$@"\n')
        path.chmod(0o755)


@pytest.mark.slow
def test_readme_quickstart_walk(tmp_path):
    full = os.environ.get("RBR_WALK_FULL") == "1"
    repo = _copy_repo(tmp_path / "clone")
    _shims(tmp_path / "bin", repo)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    env.pop("RBR_DATA", None)

    def run(line: str) -> None:
        cmd = line
        if not full and line.startswith("rbr-run"):
            cmd = f"{line} {' '.join(SHRINK)}"
        r = subprocess.run(["bash", "-c", cmd], cwd=repo, env=env, capture_output=True, text=True, timeout=3600)
        assert r.returncode == 0, f"README Quickstart line failed ({r.returncode}): {cmd}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        return r

    run("rbr-run")  # what `make demo` runs (after installing)
    lines = quickstart_lines((repo / "README.md").read_text())
    assert lines[0].startswith("source .venv/bin/activate")
    results = {}
    for line in lines[1:]:
        results[line] = run(line)
    demo = repo / "outputs" / "runs" / "digits-cnn6-standard-s0"
    assert (demo / "DONE").exists() and (demo / "run.log").exists()
    assert "is complete (DONE)" in results["rbr-run"].stdout
    assert len(list((repo / "outputs" / "sweeps" / "seeds").glob("*/DONE"))) == 3
    assert (repo / "outputs" / "sweeps" / "seeds" / "report" / "index.html").exists()
    for name in ("digits-cnn6-standard-s0-select", "digits-cnn6-pgd_at-s0-ft", "digits-tv_resnet18-standard-s0", "digits-cnn6-trades-s0"):
        assert (repo / "outputs" / "runs" / name / "DONE").exists(), name
    assert (repo / "outputs" / "runs" / "digits-cnn6-standard-s0-select" / "ckpt" / "best.pt").exists()
    evals = repo / "outputs" / "evals" / "digits-cnn6-standard-s0"
    assert (evals / "DONE").exists() and "AA" not in (evals / "metrics.csv").read_text()  # '~attacks.aa' dropped it
