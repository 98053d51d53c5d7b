"""``rbr-reproduce``: every bundle's stages.yaml parses and plans at both scales; the dry run
lists the commands; conditions, variables and hostile stage files behave (fast, no runs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from robustbench_runner import bundles
from robustbench_runner.errors import UserError
from robustbench_runner.reproduce import Options, load_stages, main, plan
from robustbench_runner.tables.spec import select_specs

REPO = Path(__file__).resolve().parent.parent
SHIPPED = [s for s, b in bundles.bundles().items() if b.source == "package"]


def words(steps) -> list[list[str]]:
    return [s.argv for s in steps if not s.note]


@pytest.mark.parametrize("slug", SHIPPED)
@pytest.mark.parametrize("scale", ["smoke", "paper"])
def test_every_stage_names_what_its_bundle_holds(slug, scale):
    """Each run stage names an experiment of the bundle's conf/, each tables stage selects
    specs, and every run lands in the paper's one sweep folder."""
    b = bundles.get(slug)
    steps = plan(slug, Options(scale=scale))
    runs = [w for w in words(steps) if w[0] == "rbr-run"]
    assert runs and any(w[0] == "rbr-tables" for w in words(steps))
    for w in runs:
        assert w[:3] == ["rbr-run", "-m", f"scale={scale}"]
        assert f"sweep_name={slug}_{scale}{'_standin' if scale == 'smoke' else ''}" in w
        for exp in (
            next(x for x in w if x.startswith("experiment=")).removeprefix("experiment=").split(",")
        ):
            assert (b.conf / "experiment" / f"{exp}.yaml").is_file(), (
                f"{slug}: stage names experiment {exp}, which {b.conf} lacks"
            )
    for w in words(steps):
        if w[0] == "rbr-tables":
            assert select_specs([w[w.index("--table") + 1]])


def test_the_dry_run_lists_the_commands(capsys):
    assert main(["prs", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(
        "python -m robustbench_runner.data.standin "
    )  # smoke without --data: stand-ins first
    assert (
        "experiment=prs/candidates model=cnn6,vgg16,resnet18_tv dataset=mnist,fmnist,cifar10"
        in lines[1]
    )
    # an override holding commas stays one word (YAML flow lists would split it unquoted)
    assert lines[2].endswith("experiment=prs/ablation model.dropout=0.0,0.2")
    assert lines[5].endswith("experiment=prs/fig18_continue_st,prs/fig18_continue_at")
    assert (
        lines[-1]
        == "rbr-tables --quiet outputs/sweeps/prs_smoke_standin --table prs --out outputs/tables/prs"
    )


def test_warmup_none_drops_the_warmup_runs_and_the_branching():
    shared = words(plan("irat", Options(warmup="shared")))
    none = words(plan("irat", Options(warmup="none")))
    assert len(shared) == len(none) + 1
    assert any("warmup=irat" in w for w in shared) and not any("warmup=irat" in w for w in none)
    assert "warmup.from=${output_root}/sweeps/${sweep_name}" in shared[2] and not any(
        "warmup.missing=train" in w for w in none
    )


def test_real_data_and_the_paper_scale_change_root_and_sweep(tmp_path):
    w = words(plan("auc", Options(scale="paper", data=str(tmp_path))))
    assert (
        w[0][:3] == ["rbr-run", "-m", "scale=paper"]
        and f"data.root={tmp_path}" in w[0]
        and "sweep_name=auc_paper" in w[0]
    )


def test_samplerob_rules_follow_the_data_folder(tmp_path):
    """Tables 6-9 use ONP when its CSV is under the data folder, else scikit-learn's diabetes
    set; one thread per process at smoke scale only."""
    first = plan("samplerob", Options(data=str(tmp_path)))
    assert any("dataset=diabetes" in s.argv for s in first) and first[0].env == {
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")
    }
    (tmp_path / "OnlineNewsPopularity.csv").write_text("url, shares\n")
    onp = plan("samplerob", Options(data=str(tmp_path)))
    assert any(s.argv[-2:] == ["dataset=onp", f"data.root={tmp_path}"] for s in onp)
    assert all(s.env == {} for s in plan("samplerob", Options(scale="paper")))


def _bundle(tmp_path: Path, stages: str, name: str = "mine") -> Path:
    root = tmp_path / name
    (root / "conf" / "experiment" / name).mkdir(parents=True)
    (root / "stages.yaml").write_text(stages)
    return root


@pytest.mark.parametrize(
    "stages,message",
    [
        ("stages: []\n", "holds no 'stages:' list"),
        ("stages:\n  - run: [a]\n    tables: x\n", "exactly one of"),
        ("stages:\n  - shell: rm -rf /\n", "exactly one of"),
        ("stages:\n  - run: ['{nope}']\n", "unknown variable {nope}"),
        ("stages:\n  - run: [a]\n    when: {moon: full}\n", "'when' must be a mapping"),
        ("stages: [\n", "is not valid YAML"),
        ("steps: []\nstages:\n  - run: [a]\n", "unknown top-level keys"),
        ("vars: {v: {smoke: 1}}\nstages:\n  - run: ['x={v}']\n", "no value for scale paper"),
    ],
)
def test_a_bad_stages_file_is_one_error_naming_it(tmp_path, monkeypatch, stages, message):
    root = _bundle(tmp_path, stages)
    monkeypatch.setenv(bundles.ENV_VAR, str(root))
    bundles.bundles.cache_clear()
    try:
        with pytest.raises(UserError, match=message) as err:
            plan("mine", Options(scale="paper"))
        assert "stages.yaml" in str(err.value) or "YAML" in str(err.value)
        assert main(["mine", "--scale", "paper", "-n"]) == 2
    finally:
        bundles.bundles.cache_clear()


def test_rbr_bundles_is_checked_where_it_enters(tmp_path, monkeypatch):
    monkeypatch.setenv(bundles.ENV_VAR, str(tmp_path / "absent"))
    bundles.bundles.cache_clear()
    try:
        with pytest.raises(UserError, match="not a folder"):
            bundles.bundles()
        (tmp_path / "empty").mkdir()
        monkeypatch.setenv(bundles.ENV_VAR, str(tmp_path / "empty"))
        bundles.bundles.cache_clear()
        with pytest.raises(UserError, match="not a paper bundle"):
            bundles.bundles()
        monkeypatch.setenv(
            bundles.ENV_VAR, str(_bundle(tmp_path, "stages:\n  - run: [a]\n", name="prs"))
        )
        bundles.bundles.cache_clear()
        with pytest.raises(UserError, match="two paper bundles are called 'prs'"):
            bundles.bundles()
        monkeypatch.setenv(
            bundles.ENV_VAR, str(_bundle(tmp_path, "stages:\n  - run: [a]\n", name="Bad-Name"))
        )
        bundles.bundles.cache_clear()
        with pytest.raises(UserError, match="is not a slug"):
            bundles.bundles()
        monkeypatch.delenv(bundles.ENV_VAR)
        bundles.bundles.cache_clear()
        with pytest.raises(UserError, match="no paper bundle 'nope'"):
            bundles.get("nope")
    finally:
        bundles.bundles.cache_clear()


def test_the_package_ships_each_paper_as_a_bundle_and_lists_them(capsys):
    assert sorted(SHIPPED) == sorted(["prs", "irat", "samplerob", "auc", "vir"])
    assert main(["--list"]) == 0
    listed = capsys.readouterr().out.split()
    assert set(SHIPPED) <= set(listed)
    for slug in SHIPPED:
        assert load_stages(bundles.get(slug).stages)["stages"]


def test_make_targets_call_rbr_reproduce(tmp_path):
    """``make reproduce-<slug>`` / ``reproduce-all`` / ``reproduce-list`` are one generic runner
    (mk/<slug>.mk are gone); -n prints the command without running it."""
    stamp = ".venv/.installed"

    def run(*targets):
        return subprocess.run(
            ["make", "-n", "-o", stamp, *targets],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )

    out = run("reproduce-vir", "SCALE=paper", "WARMUP=none", "DATA=/d").stdout
    assert "rbr-reproduce --scale paper --launcher local --warmup none --data /d vir" in " ".join(
        out.split()
    )
    assert (
        "rbr-reproduce" in run("reproduce-all").stdout
        and "rbr-reproduce --list" in run("reproduce-list").stdout
    )
    assert not list((REPO / "mk").glob("*.mk")) or [p.name for p in (REPO / "mk").glob("*.mk")] == [
        "validate.mk"
    ]


def test_module_entry_point_runs(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "robustbench_runner.reproduce", "auc", "-n", "--scale", "paper"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith(
        "rbr-run -m scale=paper progress=false data.root="
    )
