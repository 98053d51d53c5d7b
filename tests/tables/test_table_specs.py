"""Every table id of the five papers (docs/papers/README.md lists them) has a valid spec."""

from __future__ import annotations

from robustbench_runner.tables import all_specs

PRS = [f"prs/table{i}" for i in range(1, 8)] + [f"prs/fig{i}" for i in range(16, 20)]
PRS_AUC = [f"prs/appendix_auc/{a}_{d}" for a in ("cnn6", "vgg16", "resnet18_tv") for d in ("mnist", "fmnist", "cifar10")]
IRAT = [f"irat/table{i}" for i in range(1, 9)] + ["irat/fig2", "irat/fig4"]
SAMPLEROB = [f"samplerob/table{i}" for i in range(1, 11)] + ["samplerob/minmax"]
AUC = [f"auc/table{i}" for i in range(1, 19)] + [f"auc/fig{i}" for i in range(4, 8)]
VIR = [f"vir/table{i}" for i in range(1, 13)] + ["vir/fig2", "vir/fig3"]
EXPECTED = PRS + PRS_AUC + IRAT + SAMPLEROB + AUC + VIR


def test_every_paper_table_id_has_a_spec():
    specs = all_specs()  # also parses and validates every shipped spec (each id checked against its place)
    missing = [i for i in EXPECTED if i not in specs]
    assert not missing, missing
    assert len([i for i in specs if i.startswith("prs/appendix_auc/")]) == 9


def test_file_stems_are_unique():
    stems = [s.file_stem for s in all_specs().values()]
    assert len(stems) == len(set(stems))


def test_add_note_appends_paragraphs_once():
    from robustbench_runner.tables.spec import TableSpec

    spec = TableSpec(id="x/t", title="t")
    spec.add_note("a.", "", "b.")
    spec.add_note("a.")  # already there: a rebuilt table does not repeat its notes
    spec.add_note("c.")
    assert spec.note == "a. b.\n\nc."
