"""Names that become path components (issue 21, "one writing rule"): ``tag``, ``sweep_name``,
the run name, ``checkpoint=robustbench:<id>``; and the folders and seeds they live with.

Every generated name either gives one :class:`UserError` line (exit 2 through the CLI), or a
run folder that is exactly one level below ``<output_root>/<runs|evals>``, never elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hostile_kit import assert_one_line_error, exhaustive, tree_state
from hypothesis import given, settings
from hypothesis import strategies as st

from rbr_testing import main_inprocess
from robustbench_runner.config import check_zoo_id, resolve_run_name
from robustbench_runner.errors import UserError
from robustbench_runner.paths import MAX_NAME, check_path_part
from robustbench_runner.run import one_line

#: pieces a careless or hostile name is made of
HOSTILE_BITS = ["..", "/", "\\", ".", "-", "\0", "\n", "\t", " ", "~", "$HOME", "é", "\u202e", "\u2028", ":", "*", '"', "<", "a", "run1", "x" * 60]
hostile_names = st.one_of(
    st.text(max_size=400),
    st.lists(st.sampled_from(HOSTILE_BITS), max_size=8).map("".join),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=90, max_size=130),
)

pure = settings(max_examples=100, deadline=None, derandomize=True, database=None)


def _safe_or_refused(make_name, root: Path, group: str) -> None:
    try:
        name = make_name()
    except UserError as e:
        assert "\n" not in e.one_line() and e.one_line().strip()
        return
    target = Path(os.path.normpath(root / group / name))
    assert target.parent == root / group, (name, target)  # exactly one level below, under root
    assert name == name.strip() and not name.startswith(("-", ".")) and name.isprintable()
    assert len(name.encode()) <= 255


@pure
@given(hostile_names)
def test_a_tag_is_one_folder_name_or_one_line(tmp_path_factory, name):
    root = Path("/srv/out")
    _safe_or_refused(lambda: check_path_part(name, "tag"), root, "runs")
    _safe_or_refused(lambda: resolve_run_name("train", f"digits-cnn6-standard-s0-{name}", None, name), root, "runs")


@pure
@given(hostile_names)
def test_a_zoo_id_is_one_folder_name_or_one_line(name):
    root = Path("/srv/out")
    _safe_or_refused(lambda: resolve_run_name("eval", "n", f"robustbench:{name}", ""), root, "evals")
    try:
        check_zoo_id(name)
    except UserError:
        return
    assert ".." not in name and "/" not in name and not name.startswith(("-", "."))


@pure
@given(hostile_names)
def test_an_eval_run_named_after_a_checkpoint_stays_under_output_root(name):
    root = Path("/srv/out")
    for ck in (f"/data/{name}.pt", f"/data/{name}/ckpt/epoch_001.pt"):
        _safe_or_refused(lambda ck=ck: resolve_run_name("eval", "n", ck, ""), root, "evals")


def test_the_limits_themselves():
    assert check_path_part("a" * MAX_NAME, "tag") == "a" * MAX_NAME
    for bad in ["a" * (MAX_NAME + 1), "..", "a/b", "-x", ".x", "a\nb", "a\0b", "", "a:b", ' x']:
        with pytest.raises(UserError, match="tag="):
            check_path_part(bad, "tag")
    assert check_path_part("lr0.001_é", "tag") == "lr0.001_é"  # printable unicode is a fine name
    assert check_zoo_id("Debenedetti2022Light_XCiT-L12") == "Debenedetti2022Light_XCiT-L12"


# -- through the real CLI (in-process main()) ----------------------------------------------------


@pytest.mark.parametrize(
    "override, says",
    [
        ("tag=" + "a" * 300, "it has 300 characters (at most 100)"),
        ("tag=-rf", "starts with '-'"),
        ("sweep_name=..", "sweep_name"),
        ("seed=99999999999999999999", "seed=99999999999999999999 is out of range"),
        ("seed=-1", "seed=-1 is out of range"),
        ("eval.subset_seed=-5", "eval.subset_seed=-5 is out of range"),
        ("tag=é", "Hydra reads non-ASCII characters only inside quotes"),
    ],
)
def test_hostile_names_and_seeds_give_one_line(tmp_path, monkeypatch, capsys, override, says):
    out = tmp_path / "out"
    before = tree_state(tmp_path)
    code, err = main_inprocess([override, f"output_root={out}", "train.epochs=1", "eval.grid=[1]", "progress=false"], monkeypatch, capsys)
    line = assert_one_line_error(code, err)
    assert says in line, line
    assert not list(out.rglob("*.lock")) and not list(out.rglob("run.json"))
    assert tree_state(tmp_path, skip=out) == {k: v for k, v in before.items()}


def test_a_zoo_id_cannot_leave_output_root_or_touch_a_lock_there(tmp_path, monkeypatch, capsys):
    """Today's main: ``robustbench:../../x`` made folders outside output_root and deleted a
    ``.lock`` there."""
    out = tmp_path / "a" / "out"
    victim = tmp_path / "a" / "x"
    victim.mkdir(parents=True)
    (victim / ".lock").write_text("a colleague's lock\n")
    before = tree_state(tmp_path)
    code, err = main_inprocess(["mode=eval", "checkpoint=robustbench:../../x", f"output_root={out}", "progress=false"], monkeypatch, capsys)
    line = assert_one_line_error(code, err)
    assert "is not a RobustBench model id" in line
    assert tree_state(tmp_path) == before
    assert (victim / ".lock").read_text() == "a colleague's lock\n"


@pytest.mark.parametrize("kind", ["proc", "file", "file_parent"])
def test_an_output_root_that_cannot_hold_folders_is_one_line(tmp_path, monkeypatch, capsys, kind):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    root = {"proc": "/proc", "file": str(a_file), "file_parent": str(a_file / "sub")}[kind]
    code, err = main_inprocess([f"output_root={root}", "train.epochs=1", "eval.grid=[1]", "progress=false"], monkeypatch, capsys)
    line = assert_one_line_error(code, err)
    assert "cannot create the output folder" in line and "output_root" in line
    assert a_file.read_text() == "mine\n"


@pytest.fixture(scope="module")
def composed():
    from rbr_testing import compose_cfg

    return compose_cfg(["output_root=/srv/out"])


def _through_the_config(cfg, key: str, name: str) -> None:
    """Set ``key`` in the composed config (as any override would, past Hydra's grammar) and
    resolve the run folder and the sweep folder the way Hydra does, then validate."""
    from omegaconf import OmegaConf, open_dict

    from robustbench_runner.config import validate
    from robustbench_runner.run_dir import run_dir_of

    cfg = cfg.copy()
    with open_dict(cfg):
        OmegaConf.update(cfg, key, name, force_add=True)
    root = Path("/srv/out")
    try:
        validate(cfg)
        run_dir = Path(os.path.normpath(run_dir_of(cfg)))
        sweep_dir = Path(os.path.normpath(str(OmegaConf.select(cfg, "hydra.sweep.dir", default=None) or root / "sweeps" / str(cfg.sweep_name))))
    except Exception as e:  # noqa: BLE001 - a resolver's UserError arrives wrapped by OmegaConf
        line = one_line(e)  # what rbr-run prints
        chain, inner = [], e
        while inner is not None and len(chain) < 6:
            chain.append(inner)
            inner = inner.__cause__ or inner.__context__
        assert any(isinstance(x, UserError) for x in chain) or "UserError raised while resolving" in str(e), f"{key}={name!r}: {type(e).__name__}: {e}"
        assert "\n" not in line and "cannot be a folder or file name" in line, line
        return
    assert run_dir.parent in (root / "runs", root / "evals"), (name, run_dir)
    assert sweep_dir.parent == root / "sweeps", (name, sweep_dir)


@pure
@given(hostile_names)
def test_a_tag_through_the_composed_config(composed, name):
    _through_the_config(composed, "tag", name)


@pure
@given(hostile_names)
def test_a_sweep_name_through_the_composed_config(composed, name):
    _through_the_config(composed, "sweep_name", name)


@pytest.mark.slow
@exhaustive
@given(hostile_names, st.sampled_from(["tag", "sweep_name", "model.name", "data.name", "scheme.name"]))
def test_hostile_names_exhaustive(composed, name, key):
    _through_the_config(composed, key, name)
