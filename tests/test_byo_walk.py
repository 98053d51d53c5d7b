"""The docs/byo.md walk (issue 24): the page's command lines run in order, as written, in one
temporary folder holding every file the page shows (``# mynet.py``, ``# myconf/model/mynet.yaml``
...), the way a reader who copies the page would; each must exit 0 and leave its run folder
with ``DONE``.

Routes walked here: models by name (``model=timm``, ``model=torchvision``, a library key,
``model.weights=<file>``), the user's own training scheme (``halfat_scheme.py``,
``myconf/scheme/half_at.yaml``, found through ``hydra.searchpath``) and the user's own checkpoint (``save_mynet.py``, then
``mode=eval checkpoint=mynet_weights.pt model=mynet``, which also builds the user's own module
from ``myconf/``). Lines another test already runs as written are not run twice
(:data:`COVERED` names the test); ``pip install`` lines are checked by importing the extra.

What the walk changes, and why (everything else runs as written):

- every ``rbr-run`` line gets :data:`test_readme_walk.SHRINK` appended, the README walk's
  overrides (fewer training and attacked points: seconds instead of minutes on a shared CPU);
  a trailing ``# comment`` is dropped first so the overrides are not commented out;
- ``rbr-run`` and ``python`` are shims on PATH that run this interpreter with the package under
  test (tests/test_byo.py's :func:`run_as_written`);
- ``model.weights=rn18_digits.pt`` names a file of the reader's that the page does not show: the
  walk writes it, a ``torch.save``-d state_dict, from the preceding ``model=torchvision`` run.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch
from test_byo import doc_blocks, run_as_written
from test_readme_walk import SHRINK

from rbr_testing import REPO
from robustbench_runner.user_checkpoints import read_checkpoint

#: docs/byo.md command lines already run as written elsewhere (matched by substring).
COVERED = {
    "dataset=bars model=mynet +attack@attacks.random=random_sign": "tests/test_byo.py::test_docs_worked_example_runs_as_written",
    "+callbacks.wnorm._target_=weightnorm_callback.WeightNorm": "tests/test_loop.py::test_docs_callback_example_runs_as_written",
    # needs internet (robustbench.download=true); the same route on a stand-in zoo file:
    "checkpoint=robustbench:": "tests/test_byo.py::test_robustbench_zoo_model_is_attacked_and_compared",
}
#: the extra a ``pip install 'robustbench_runner[<extra>]'`` line installs -> its module.
EXTRAS = {"timm": "timm", "robustbench": None}  # robustbench: only its COVERED line needs it
#: run folders the walked lines must leave (relative to the walk's folder).
EXPECTED = [
    "outputs/runs/digits-timm_resnet18-standard-s0",
    "outputs/runs/digits-tv_resnet18-standard-s0",
    "outputs/runs/digits-timm_resnet18-standard-s0-drop",
    "outputs/runs/digits-tv_resnet18-standard-s0-init",
    "outputs/runs/digits-cnn6-half_at-s0",
    "outputs/evals/mynet_weights",
]


def byo_walk() -> tuple[dict[str, str], list[str]]:
    """docs/byo.md's files and its command lines, in page order."""
    files, commands = doc_blocks((REPO / "docs" / "byo.md").read_text())
    return files, commands


def test_byo_walk_finds_every_route():
    files, commands = byo_walk()
    assert {"mynet.py", "myconf/model/mynet.yaml", "save_mynet.py"} <= set(files)
    text = "\n".join(commands)
    for route in ("model=timm", "model=torchvision", "model.weights=", "scheme=half_at", "mode=eval checkpoint=mynet_weights.pt model=mynet"):
        assert route in text, route
    assert all(any(k in c for c in commands) for k in COVERED)  # a renamed line is noticed here


@pytest.mark.slow
def test_byo_walk(tmp_path):
    files, commands = byo_walk()
    shim = tmp_path / "_bin"
    shim.mkdir()
    (shim / "python").write_text(f'#!/bin/sh\nPYTHONPATH="$PYTHONPATH:{REPO}" exec {sys.executable} "$@"\n')
    (shim / "python").chmod(0o755)
    ran, outs = [], {}
    for line in commands:
        if any(k in line for k in COVERED):
            continue
        m = re.match(r"pip install '?robustbench_runner\[(\w+)\]", line)
        if m:
            if EXTRAS[m.group(1)]:
                pytest.importorskip(EXTRAS[m.group(1)])
            continue
        cmd = re.sub(r"\s+#.*$", "", line)
        if "rbr-run" in cmd:
            cmd = f"{cmd} {' '.join(SHRINK)}"
        if "model.weights=rn18_digits.pt" in cmd:  # the reader's file (module docstring)
            state = read_checkpoint(tmp_path / EXPECTED[1] / "ckpt" / "last.pt").state
            torch.save(state, tmp_path / "rn18_digits.pt")
        res = run_as_written(tmp_path, files, cmd)
        assert res.returncode == 0, f"docs/byo.md line failed ({res.returncode}): {cmd}\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
        ran.append(line)
        outs[line] = res.stdout
    assert len(ran) == 7, ran  # 4 models-by-name lines, scheme=half_at, save_mynet.py, the mode=eval line
    for rel in EXPECTED:
        assert (tmp_path / rel / "DONE").exists(), rel
    # each rbr-run line names the folder it finished, and that folder is DONE
    for line, out in outs.items():
        if "rbr-run" in line:
            named = re.findall(r"\[rbr\] (\S*/outputs/(?:runs|evals)/[^\s/]+)", out)
            assert named and (Path(named[0]) / "DONE").exists(), (line, out[-1500:])
    ev = (tmp_path / EXPECTED[-1] / "metrics.csv").read_text()
    assert "mynet" in ev and "PGD-20" in ev  # the user's module, attacked by the default suite
