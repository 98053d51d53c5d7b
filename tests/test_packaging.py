"""The configs ship with the package: a wheel built from this tree and installed (not
editable) into a fresh virtual environment runs ``rbr-run``, ``rbr-tables --list`` and a
table build from an empty directory, importing the installed package, never the source tree.

The fresh environment gets the dependencies (torch is ~2 GB) from the test interpreter's
site-packages through a ``.pth`` line, which adds that folder to ``sys.path`` after the new
environment's own site-packages; only this package is installed into it, with ``--no-deps``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from rbr_testing import REPO
from robustbench_runner.paths import conf_dir

TOP_LEVEL_IGNORED = {".git", ".venv", "outputs", "multirun", "data", "build", "dist", ".pytest_cache", ".ruff_cache"}


def _ignore(folder: str, names: list[str]) -> set[str]:
    top = Path(folder) == REPO
    return {n for n in names if (top and n in TOP_LEVEL_IGNORED) or n == "__pycache__" or n.endswith(".egg-info")}


def _conf_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*.yaml")}


def _spec_files(src: Path) -> list[Path]:
    """The shipped table specs: the package's table_specs/ and each bundle's."""
    pkg = src / "robustbench_runner"
    return [*(pkg / "table_specs").rglob("*.yaml"), *(pkg / "papers").glob("*/table_specs/**/*.yaml")]


def test_conf_dir_is_the_top_level_conf_through_the_package():
    """In a checkout robustbench_runner/conf links to conf/ (the documented layout)."""
    assert conf_dir() == (REPO / "conf").resolve()
    link = REPO / "robustbench_runner" / "conf"
    assert link.is_symlink() and os.readlink(link) == "../conf"
    assert (conf_dir() / "config.yaml").is_file()
    # table specs are rbr-tables' input, not config groups: beside conf/, off Hydra's search path
    assert not (conf_dir() / "table").exists() and (REPO / "robustbench_runner" / "table_specs" / "summary.yaml").is_file()


def _run(cmd: list, cwd: Path, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A copy of the source tree (builds write into it; the checkout is left untouched)."""
    src = tmp_path_factory.mktemp("src") / "robustbench_runner"
    shutil.copytree(REPO, src, symlinks=True, ignore=_ignore)
    return src


@pytest.fixture(scope="module")
def wheel(source, tmp_path_factory) -> Path:
    """``pip wheel`` of the copy."""
    src = source
    out = tmp_path_factory.mktemp("wheels")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    _run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q", "-w", out], src, env)
    (path,) = out.glob("robustbench_runner-*.whl")
    return path


@pytest.mark.slow
def test_wheel_ships_every_config(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n.removeprefix("robustbench_runner/conf/") for n in names if n.startswith("robustbench_runner/conf/")}
    assert shipped == _conf_files(REPO / "conf") and len(shipped) > 60
    bundled = {p.relative_to(REPO).as_posix() for p in (REPO / "robustbench_runner" / "papers").glob("*/conf/**/*.yaml")}
    stages = {p.relative_to(REPO).as_posix() for p in (REPO / "robustbench_runner" / "papers").glob("*/stages.yaml")}
    assert len(bundled) > 80 and len(stages) == 5 and bundled | stages <= names, sorted((bundled | stages) - names)[:5]
    pkg = REPO / "robustbench_runner"
    specs = {p.relative_to(REPO).as_posix() for p in [*pkg.glob("table_specs/*.yaml"), *pkg.glob("papers/*/table_specs/**/*.yaml")]}
    assert len(specs) == 78 and specs <= names, sorted(specs - names)[:5]  # rbr-tables' specs, beside conf/
    assert not any(n.startswith("conf/") for n in names)  # inside the package, not top-level
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "robustbench_runner").rglob("*.py") if "conf" not in p.parts}
    assert modules <= names, sorted(modules - names)
    assert any(n.endswith("licenses/LICENSE") or n.endswith("/LICENSE") for n in names)


def _fresh_venv(venv: Path) -> tuple[Path, Path, dict]:
    """A new environment (its python, its site-packages, the env to run it with) that sees
    the test interpreter's dependencies but holds no robustbench_runner."""
    _run([sys.executable, "-m", "venv", "--without-pip", venv], venv.parent, dict(os.environ))
    py = venv / "bin" / "python"
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], venv.parent, {}).stdout.strip())
    (site / "_rbr_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "HYDRA_FULL_ERROR")}
    env.update(OMP_NUM_THREADS="1", PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    return py, site, env


def _pip_install(py: Path, env: dict, *what) -> None:
    # -I: do not take the test interpreter's (editable) install on the .pth path for this one
    _run([py, "-m", "pip", "install", "--no-deps", "--ignore-installed", "--no-build-isolation", "-q", *what], py.parent, env)


@pytest.mark.slow
def test_editable_install_finds_the_top_level_conf(source, tmp_path):
    src = source
    py, site, env = _fresh_venv(tmp_path / "venv")
    _pip_install(py, env, "-e", src)
    work = tmp_path / "empty"
    work.mkdir()
    where = _run([py, "-c", "import robustbench_runner.paths as p; print(p.__file__); print(p.conf_dir())"], work, env).stdout.split()
    assert where == [str(src / "robustbench_runner" / "paths.py"), str(src / "conf")]
    listed = _run([tmp_path / "venv" / "bin" / "rbr-tables", "--list"], work, env).stdout
    assert len(listed.splitlines()) == len(_spec_files(src))


@pytest.mark.slow
def test_installed_wheel_runs_from_an_empty_directory(wheel, tmp_path):
    venv = tmp_path / "venv"
    py, site, env = _fresh_venv(venv)
    _pip_install(py, env, wheel)

    work = tmp_path / "empty"
    work.mkdir()
    where = _run([py, "-c", "import robustbench_runner.paths as p; print(p.__file__); print(p.conf_dir())"], work, env).stdout.split()
    assert all(Path(w).is_relative_to(site) for w in where), where  # the installed copy, not the checkout
    assert _conf_files(Path(where[1])) == _conf_files(REPO / "conf")

    tiny = ["model.batch_norm=true", "data.limit_train=64", "data.limit_test=32", "data.image_size=16", "train.epochs=1",
            "train.batch_size=16", "eval.grid=[1]", "eval.n_eval=16", "attacks.pgd20.steps=2", "progress=false"]  # fmt: skip
    _run([venv / "bin" / "rbr-run", *tiny, "output_root=out"], work, env)
    run_dir = work / "out" / "runs" / "digits-cnn6-standard-s0"
    assert (run_dir / "DONE").exists() and (run_dir / "metrics.csv").exists()

    listed = _run([venv / "bin" / "rbr-tables", "--list"], work, env).stdout.splitlines()
    ids = {line.split()[0] for line in listed if line.strip()}
    assert len(ids) == len(_spec_files(REPO)) and {"prs", "irat", "samplerob", "auc", "vir"} <= {i.split("/")[0] for i in ids}

    _run([venv / "bin" / "rbr-tables", "out", "--out", "tables", "--quiet"], work, env)
    assert "digits" in (work / "tables" / "summary.csv").read_text()

    helped = _run([venv / "bin" / "rbr-run", "--help"], work, env).stdout
    assert "model: cnn6" in helped and "\ntable" not in helped
    bad = subprocess.run([venv / "bin" / "rbr-run", "model=nope"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("rbr-run: error: Could not find 'model/nope'")
