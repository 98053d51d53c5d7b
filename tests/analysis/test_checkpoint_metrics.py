"""Paper prs's per-checkpoint analyses (papers/prs/analyses.py) on a hand-built
network, their configs, and the pipeline hook end to end on a tiny run."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from rbr_testing import TINY, compose_cfg, run_inprocess
from robustbench_runner.analysis import checkpoint as checkpoint_module
from robustbench_runner.analysis.checkpoint import AnalysisContext
from robustbench_runner.attacks.fgsm import FGSM
from robustbench_runner.build import build_analyses
from robustbench_runner.data.base import ArraySplit, DataBundle
from robustbench_runner.errors import UserError
from robustbench_runner.io import read_csv
from robustbench_runner.models.base import ImageClassifier
from robustbench_runner.papers.prs.analyses import (
    DensenessAnalysis,
    InclusionGroupsAnalysis,
    PRSAnalysis,
)

# h = relu(W1 u) with W1 rows (1, 0), (0, 1), (-1, -1) and u = 10 x - 5 (so that the inputs
# x lie in [0, 1], where attacks clamp): the patterns of tests/papers/prs/test_prs.py, worked out by
# hand - 5 distinct training patterns among 8 samples.
W1 = [[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]
U_TRAIN = [(1, 1), (2, 3), (1, -2.5), (-1, 2), (-1, -1), (3, -1), (0.5, 0.5), (2, -5)]
# patterns 110 110 101 010 001 100 110 101; zeros per sample 1 1 1 2 2 2 1 1 (11 of 24)
U_TEST = [(4, 4), (-3, 1), (0, 0), (5, -1)]  # 110 (in), 011 (out), 000 (out), 100 (in)
# classifier rows: class 0 = (1, 1, 0), class 1 = (0, 0, 1.5): logits (h1 + h2, 1.5 h3);
# the labels are the predictions (ties go to class 0, torch.argmax's first maximum)
TRAIN_Y = [0, 0, 1, 0, 1, 0, 0, 1]
TEST_Y = [0, 1, 0, 0]
CLASSES = [[1.0, 1.0, 0.0], [0.0, 0.0, 1.5]]


def to_x(us):
    return [((a + 5) / 10, (b + 5) / 10) for a, b in us]


class HandNet(ImageClassifier):
    def __init__(self):
        super().__init__(in_channels=1)
        first = nn.Linear(2, 3)
        with torch.no_grad():
            w = torch.tensor(W1)
            first.weight.copy_(10 * w)
            first.bias.copy_(-5 * w.sum(dim=1))
        self.body = nn.Sequential(nn.Flatten(), first, nn.ReLU())
        self.classifier = nn.Linear(3, 2, bias=False)
        with torch.no_grad():
            self.classifier.weight.copy_(torch.tensor(CLASSES))


def split(xs, ys) -> ArraySplit:
    return ArraySplit(torch.tensor(xs, dtype=torch.float32), torch.tensor(ys, dtype=torch.long))


@pytest.fixture
def ctx():
    bundle = DataBundle(name="hand", train=split(to_x(U_TRAIN), TRAIN_Y), test=split(to_x(U_TEST), TEST_Y), num_classes=2, in_channels=2, image_size=0)
    return AnalysisContext(HandNet().eval(), bundle, torch.device("cpu"), OmegaConf.create({}), "epoch_001", 1, batch_size=3)


def by_metric(rows, split=None):
    return {r["metric"]: r for r in rows if split is None or r["split"] == split}


def test_prs_analysis_rows_by_hand(ctx):
    rows = by_metric(PRSAnalysis().rows(ctx))
    assert rows["prs_ratio"]["value"] == pytest.approx(5 / 8) and rows["prs_ratio"]["split"] == "train"
    assert rows["prs_ratio"]["n"] == 8
    assert rows["prs_size"]["value"] == 5
    assert rows["inclusion_ratio"]["value"] == pytest.approx(2 / 4) and rows["inclusion_ratio"]["split"] == "test"
    assert rows["sparsity"]["value"] == pytest.approx(11 / 24)  # one hidden ReLU layer
    # the class vectors (1,1,0) and (0,0,1.5) are orthogonal: CS = 0; n = number of classes
    assert rows["cosine_similarity"]["value"] == pytest.approx(0.0) and rows["cosine_similarity"]["n"] == 2
    assert rows["accuracy"]["value"] == pytest.approx(1.0)
    assert all(math.isnan(r["eps"]) for r in rows.values())


def test_denseness_analysis_by_hand(ctx):
    rows = DensenessAnalysis(ks=[1, 7]).rows(ctx)
    assert [r["metric"] for r in rows] == ["denseness_k1", "denseness_k7"]
    # features h: (1,1,0) (2,3,0) (1,0,1.5) (0,2,0) (0,0,2) (3,0,0) (.5,.5,0) (2,0,3); the
    # nearest other sample always has the same label (sample 1's two nearest tie, both
    # class 0); K = 7 = every other sample: 5 of class 0 see 4/7, 3 of class 1 see 2/7
    assert rows[0]["value"] == pytest.approx(1.0)
    assert rows[1]["value"] == pytest.approx((5 * 4 / 7 + 3 * 2 / 7) / 8)
    assert all(r["n"] == 8 and r["split"] == "train" for r in rows)


def test_denseness_rejects_bad_options():
    with pytest.raises(UserError):
        DensenessAnalysis(ks=[0])
    with pytest.raises(UserError):
        DensenessAnalysis(dtype="float16")


def test_inclusion_groups_rows_by_hand(ctx):
    attack = functools.partial(FGSM, name="FGSM", eps=[0.0, 0.1, 0.3])
    rows = InclusionGroupsAnalysis(attack, name="inclusion-FGSM", exclusion_name="exclusion-FGSM", n=1000).rows(ctx)
    inc = [r for r in rows if r["split"] == "test_inclusion"]
    exc = [r for r in rows if r["split"] == "test_exclusion"]
    assert {r["attack"] for r in inc} == {"inclusion-FGSM"} and {r["attack"] for r in exc} == {"exclusion-FGSM"}
    # every test sample is classified correctly; in the PRS: samples 0 and 3, out: 1 and 2
    assert by_metric(inc)["group_available"]["value"] == 2 and by_metric(exc)["group_available"]["value"] == 2
    acc_inc = {r["eps"]: r["value"] for r in inc if r["metric"] == "acc"}
    assert acc_inc[0.0] == 1.0 and all(r["n"] == 2 for r in inc if r["metric"] == "acc")
    # the reference: FGSM by hand on the group points
    model, data = ctx.model, ctx.bundle.test
    for group_rows, idx in ((inc, [0, 3]), (exc, [1, 2])):
        x, y = data.x[idx], data.y[idx]
        sign = FGSM(model, eps=0.1).gradient_sign(x, y)
        for eps in (0.1, 0.3):
            expected = (model((x + eps * sign).clamp(0, 1)).argmax(1) == y).float().mean().item()
            got = {r["eps"]: r["value"] for r in group_rows if r["metric"] == "acc"}[eps]
            assert got == pytest.approx(expected)
    assert "auc_raw" in by_metric(inc) and "auc_norm" in by_metric(exc)


def test_inclusion_groups_draw_at_most_n_and_record_it(ctx):
    attack = functools.partial(FGSM, name="FGSM", eps=[0.0, 0.2])
    rows = InclusionGroupsAnalysis(attack, name="inc", n=1, seed=3).rows(ctx)
    inc = by_metric(rows, "test_inclusion")
    assert inc["group_available"]["value"] == 2 and inc["group_size"]["value"] == 1
    assert {r["n"] for r in rows if r["split"] == "test_inclusion" and r["metric"] == "acc"} == {1}
    assert {r["attack"] for r in rows if r["split"] == "test_exclusion"} == {"inc-exclusion"}


def test_inclusion_groups_rejects_bad_options():
    attack = functools.partial(FGSM, eps=0.1)
    with pytest.raises(UserError):
        InclusionGroupsAnalysis(attack, n=0)
    with pytest.raises(UserError):
        InclusionGroupsAnalysis(attack, name="same", exclusion_name="same")
    with pytest.raises(UserError):
        InclusionGroupsAnalysis("not an attack")


def test_every_analysis_shares_one_extraction_per_split(ctx, monkeypatch):
    calls = []
    real = checkpoint_module.extract

    def counting(model, data, **kw):
        calls.append(len(data))
        return real(model, data, **kw)

    monkeypatch.setattr(checkpoint_module, "extract", counting)
    attack = functools.partial(FGSM, name="FGSM", eps=[0.0, 0.5])
    for analysis in (PRSAnalysis(), DensenessAnalysis(ks=[1]), InclusionGroupsAnalysis(attack, name="a"), InclusionGroupsAnalysis(attack, name="b")):
        analysis.rows(ctx)
    assert sorted(calls) == [4, 8]  # one pass over the test set, one over the training set


@pytest.mark.parametrize("names", [["prs", "denseness"], ["prs", "denseness", "inclusion_fgsm", "inclusion_pgd20"]])
def test_analysis_configs_compose_and_build(names):
    cfg = compose_cfg([f"analysis=[{','.join(names)}]"])
    assert list(cfg.analysis) == names
    for key in names:
        assert OmegaConf.select(cfg, f"analysis.{key}._target_").startswith("robustbench_runner.papers.prs.analyses.")
    built = build_analyses(cfg.analysis)
    assert [a.name for a in built.values()][:2] == ["prs", "denseness"]
    if "inclusion_pgd20" in names:
        assert built["inclusion_pgd20"].exclusion_name == "exclusion-PGD-20"
        assert cfg.analysis.inclusion_fgsm.attack.eps_points == 11


def test_pipeline_writes_analysis_rows_once(tmp_path, monkeypatch):
    """rbr-run with analysis=[...]: rows on train / test / test_inclusion / test_exclusion;
    the training and test sets are each read once per checkpoint."""
    calls = []
    real = checkpoint_module.extract

    def counting(model, data, **kw):
        calls.append(len(data))
        return real(model, data, **kw)

    monkeypatch.setattr(checkpoint_module, "extract", counting)
    overrides = [*TINY, "eval.grid=[2]", f"output_root={tmp_path}", "analysis=[prs,denseness,inclusion_fgsm]",
                 "analysis.denseness.ks=[5,10]", "analysis.inclusion_fgsm.n=20"]  # fmt: skip
    run_dir = run_inprocess(overrides)
    m = read_csv(run_dir / "metrics.csv")
    assert sorted(calls) == [80, 320]  # test (limit 80) and train (limit 320) once each
    assert set(m.split) == {"test", "train", "test_inclusion", "test_exclusion"}
    assert set(m[m.attack == "denseness"].metric) == {"denseness_k5", "denseness_k10"}
    ratio = m[(m.attack == "prs") & (m.metric == "prs_ratio")].value.item()
    assert 0 < ratio <= 1
    sizes = m[m.metric == "group_size"].set_index("split").value
    assert sizes.max() <= 20
    acc = m[(m.split == "test_exclusion") & (m.metric == "acc")]
    assert len(acc) in (0, 11) and set(acc.attack) <= {"exclusion-FGSM"}
    calls.clear()
    run_inprocess(overrides)  # finished run: nothing recomputed
    assert calls == []
    assert np.isfinite(m[m.attack == "prs"].value).all()
