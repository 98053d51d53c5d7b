"""Bundle discovery (robustbench_runner/bundles.py): a bundle attached by RBR_BUNDLES or by an
entry point is composed by Hydra (the code-registered search path) and its specs and
builders are found by rbr-tables - without touching the package (fast, in-process)."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from rbr_testing import compose_cfg
from robustbench_runner import bundles
from robustbench_runner.tables import registry
from robustbench_runner.tables.spec import select_specs


def _write_bundle(root: Path, slug: str) -> Path:
    b = root / slug
    (b / "conf" / "experiment" / slug).mkdir(parents=True)
    (b / "conf" / "scale" / "smoke" / slug).mkdir(parents=True)
    (b / "table_specs").mkdir()
    (b / "conf" / "experiment" / slug / "main.yaml").write_text("# @package _global_\ntrain:\n  epochs: 7\ntag: mine\n")
    (b / "conf" / "scale" / "smoke" / slug / "main.yaml").write_text("# @package _global_\ntrain:\n  epochs: 1\n")
    (b / "table_specs" / "t.yaml").write_text(f"id: {slug}/t\nbuilder: {slug}_b\n")
    (b / "__init__.py").write_text("")
    (b / "tables.py").write_text(
        "from robustbench_runner.tables import builder\n\n"
        f"@builder('{slug}_b')\ndef b(spec, ctx):\n    return '{slug}'\n"
    )
    (b / "stages.yaml").write_text(f"stages:\n  - run: [experiment={slug}/main]\n")
    return b


@pytest.fixture
def fresh():
    bundles.bundles.cache_clear()
    yield
    bundles.bundles.cache_clear()


def test_a_folder_in_rbr_bundles_composes_with_its_smoke_overlay(tmp_path, monkeypatch, fresh):
    _write_bundle(tmp_path, "zpaper")
    monkeypatch.setenv(bundles.ENV_VAR, str(tmp_path / "zpaper"))
    assert bundles.get("zpaper").source == bundles.ENV_VAR
    assert compose_cfg(["experiment=zpaper/main"]).train.epochs == 7
    assert compose_cfg(["experiment=zpaper/main", "scale=smoke"]).train.epochs == 1  # its overlay, merged after
    assert [s.id for s in select_specs(["zpaper"])] == ["zpaper/t"]
    assert registry.get_builder("zpaper_b", "zpaper/t")(None, None) == "zpaper"


def test_an_entry_point_attaches_an_installed_package(tmp_path, monkeypatch, fresh):
    _write_bundle(tmp_path, "epaper")
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = EntryPoint(name="epaper", value="epaper", group=bundles.ENTRY_POINT_GROUP)
    monkeypatch.setattr(bundles, "entry_points", lambda group: [ep] if group == bundles.ENTRY_POINT_GROUP else [])
    b = bundles.get("epaper")
    assert (b.source, b.module, b.root) == ("entry point", "epaper", tmp_path / "epaper")
    assert compose_cfg(["experiment=epaper/main"]).tag == "mine"
    assert registry.get_builder("epaper_b", "epaper/t")(None, None) == "epaper"


def test_an_entry_point_that_does_not_import_is_one_error(monkeypatch, fresh):
    ep = EntryPoint(name="gone", value="no_such_module_xyz", group=bundles.ENTRY_POINT_GROUP)
    monkeypatch.setattr(bundles, "entry_points", lambda group: [ep])
    with pytest.raises(bundles.UserError, match="bundle entry point gone = 'no_such_module_xyz' does not import"):
        bundles.bundles()


def test_a_bundle_cannot_replace_the_packages_configs(tmp_path, monkeypatch, fresh):
    """Bundles are appended to the search path: the package's own option wins."""
    b = _write_bundle(tmp_path, "shadow")
    (b / "conf" / "model").mkdir()
    (b / "conf" / "model" / "cnn6.yaml").write_text("_target_: evil.Net\nname: evil\n")
    monkeypatch.setenv(bundles.ENV_VAR, str(b))
    assert compose_cfg(["model=cnn6"]).model.name == "cnn6"


def test_a_bundle_spec_in_the_old_place_is_one_warning_line_of_rbr_tables(tmp_path, monkeypatch, fresh, capsys):
    """conf/table/ (on Hydra's search path) is no longer read: rbr-tables says so, once, and
    builds the bundle's table_specs/ as usual."""
    from robustbench_runner.tables import cli

    b = _write_bundle(tmp_path, "opaper")
    (b / "conf" / "table" / "opaper").mkdir(parents=True)
    (b / "conf" / "table" / "opaper" / "old.yaml").write_text("id: opaper/old\n")
    monkeypatch.setenv(bundles.ENV_VAR, str(b))
    with pytest.raises(SystemExit) as exc:
        cli.main(["--list"])
    assert exc.value.code == 0
    out, err = capsys.readouterr()
    warned = [ln for ln in err.splitlines() if "conf/table" in ln]
    assert len(warned) == 1 and str(b / "conf" / "table") in warned[0] and str(b / "table_specs") in warned[0]
    assert "opaper/t " in out and "opaper/old" not in out


def test_a_bundle_spec_id_is_its_place(tmp_path, monkeypatch, fresh):
    """<bundle>/table_specs/<path>.yaml is table <slug>/<path>; an id: that says otherwise is refused."""
    from robustbench_runner.tables.spec import all_specs, spec_file

    b = _write_bundle(tmp_path, "ipaper")
    (b / "table_specs" / "sub").mkdir()
    (b / "table_specs" / "sub" / "u.yaml").write_text("id: ipaper/sub/u\n")
    monkeypatch.setenv(bundles.ENV_VAR, str(b))
    assert spec_file("ipaper/sub/u") == b / "table_specs" / "sub" / "u.yaml"
    assert {"ipaper/t", "ipaper/sub/u"} <= set(all_specs())
    (b / "table_specs" / "sub" / "u.yaml").write_text("id: ipaper/elsewhere\n")
    with pytest.raises(bundles.UserError, match="is not its place's id ipaper/sub/u"):
        all_specs()
