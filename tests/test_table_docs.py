"""docs/tables.md: its worked example (a new table of an existing paper is one YAML file) is
real: the YAML block is extracted from the page, built with ``rbr-tables --specs`` from a
tiny synthetic run folder, and the table the page shows is the table written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rbr_testing import REPO
from robustbench_runner.results import METRIC_COLUMNS
from robustbench_runner.tables.spec import load_spec

DOC = REPO / "docs" / "tables.md"
MARKER = "<!-- example: table spec"


def doc_example() -> tuple[str, list[str]]:
    """(the YAML block after the marker, the Markdown table lines after it)."""
    text = DOC.read_text()
    assert MARKER in text, "docs/tables.md lost its example marker"
    after = text[text.index(MARKER):]
    yaml_block = re.search(r"```yaml\n(.*?)```", after, re.S).group(1)
    rest = after[after.index("```", after.index("```yaml") + 7) + 3:]
    table = [line for line in rest.splitlines() if line.startswith("|")]
    return yaml_block, table[: next((i for i, x in enumerate(table) if not x.startswith("|")), len(table))]


def write_run(root: Path, scheme: str, seed: int, best: dict, tau: float | None = None) -> None:
    name = f"cifar10-resnet18-{scheme}-s{seed}" + (f"-tau{tau}" if tau is not None else "")
    d = root / name
    d.mkdir(parents=True)
    rows = []
    for attack, value in best.items():
        rows.append({"epoch": 7, "checkpoint": "best", "attack": attack, "value": value})
        rows.append({"epoch": 10, "checkpoint": "epoch_010", "attack": attack, "value": value - 0.3})  # last: not shown
    df = pd.DataFrame(rows).assign(run=name, dataset="cifar10", model="resnet18", scheme=scheme, seed=seed, batch_size=128,
                                   config_hash="x", split="test", metric="acc", n=100)  # fmt: skip
    df["eps"] = [0.0 if a == "clean" else 8 / 255 for a in df.attack]
    df[METRIC_COLUMNS].to_csv(d / "metrics.csv", index=False)
    cfg = {"seed": seed, "scheme": {"name": scheme, **({"tau": tau} if tau is not None else {})}, "data": {"name": "cifar10"}, "model": {"name": "resnet18"}}
    (d / "run.json").write_text(json.dumps({"config_hash": "x", "config": cfg}))
    (d / "DONE").write_text("finished\n")


def rbr_tables(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "robustbench_runner.tables.cli", *args], capture_output=True, text=True, cwd=REPO)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("docs_example")
    yaml_block, table = doc_example()
    specs = tmp / "specs"
    specs.mkdir()
    (specs / "example.yaml").write_text(yaml_block)
    runs = tmp / "runs"
    write_run(runs, "pgd_at", 0, {"clean": 0.79, "PGD-100": 0.39})
    write_run(runs, "pgd_at", 1, {"clean": 0.81, "PGD-100": 0.41})
    write_run(runs, "mr_mail", 0, {"clean": 0.82, "PGD-100": 0.45}, tau=2.0)
    write_run(runs, "mr_mail", 0, {"clean": 0.50, "PGD-100": 0.20}, tau=3.0)  # not the paper's tau
    spec = load_spec(specs / "example.yaml")
    out = tmp / "out"
    proc = rbr_tables(str(runs), "--specs", str(specs), "--table", spec.id, "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    return spec, out, table


def test_the_example_is_yaml_only(built):
    spec, _out, _table = built
    assert spec.builder is None and not spec.options
    from robustbench_runner.bundles import bundles

    assert spec.id.split("/")[0] in bundles()  # a table of an existing paper


def test_the_doc_shows_the_table_that_is_written(built):
    spec, out, table = built
    md = (out / f"{spec.file_stem}.md").read_text().splitlines()
    assert table and all(line in md for line in table), (table, md)


def test_numbers_are_the_best_checkpoint_at_the_paper_default(built):
    spec, out, _table = built
    tidy = pd.read_csv(out / f"{spec.file_stem}.csv").set_index("scheme")
    assert tidy.loc["Standard", "Clean mean"] == pytest.approx(80.0)
    assert tidy.loc["Standard", "PGD-100 std"] == pytest.approx(pd.Series([39.0, 41.0]).std())
    assert tidy.loc["Ours+MAIL", "PGD-100 mean"] == pytest.approx(45.0)  # the tau-3 run is left out
    sources = pd.read_csv(out / f"{spec.file_stem}.sources.csv")
    assert not sources.runs.str.contains("tau3.0").any()
    assert set(sources.missing) == {3, 4}  # expect 5: 2 and 1 runs


def test_specs_folder_adds_to_list(tmp_path):
    yaml_block, _ = doc_example()
    (tmp_path / "example.yaml").write_text(yaml_block)
    proc = rbr_tables("--list", "--specs", str(tmp_path))
    assert proc.returncode == 0 and load_spec(tmp_path / "example.yaml").id in proc.stdout
    assert "irat/table1" in proc.stdout  # the shipped specs stay


def test_specs_folder_errors_are_one_line(tmp_path):
    proc = rbr_tables("--list", "--specs", str(tmp_path / "absent"))
    assert proc.returncode == 2 and "spec folder" in proc.stderr and "does not exist" in proc.stderr
    (tmp_path / "dup.yaml").write_text("id: irat/table1\n")
    proc = rbr_tables("--list", "--specs", str(tmp_path))
    assert proc.returncode == 2 and "irat/table1 is defined twice" in proc.stderr
