"""Every attack config runs from config through the real pipeline: each paper suite in
``mode=eval`` on a trained tiny run, the stand-alone attack configs added to a suite with
``+attack@attacks.<key>=<name>``, and one suite during training (``mode=train``).

Points: 12 per checkpoint on one checkpoint (``eval.grid=[2]`` of the tiny run), attacks at
their configured iteration counts (SPSA and Square with fewer queries). The fast tests attack
at eps 0.3, where the first attack of a cascade (AutoAttack, MDE) fools every point and the
later ones have nothing left to do; the ``slow`` variants attack at the dataset's eps, where
every stage of every cascade runs."""

from __future__ import annotations

import pandas as pd
import pytest

from rbr_testing import TINY, cli, run_inprocess

EVAL = ["eval.n_eval=12", "eval.batch_size=12", "progress=false", "data.image_size=16",
        "data.limit_test=80"]  # fmt: skip
CHEAP = {  # keys of each suite -> overrides that keep it a CPU-seconds run
    "vir_blackbox": ["attacks.spsa.samples=16", "attacks.spsa.iterations=10", "attacks.square.n_queries=200"],
}
LABELS = {  # the attack labels each suite must write to metrics.csv
    "default": {"FGSM", "PGD-20"},
    "prs": {"FGSM", "PGD-20", "AA"},
    "irat": {"FGSM", "PGD-100", "CW-PGD", "APGD-CE", "AA"},
    "auc": {"FGSM"},
    "vir": {"FGSM", "PGD-100", "CW", "FMN-100", "AA", "MDE"},
    "vir_blackbox": {"Square", "SPSA"},
}


EPS = [pytest.param(["data.eps=0.3"], id="eps0.3"), pytest.param([], id="data-eps", marks=pytest.mark.slow)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("suites")
    return run_inprocess([*TINY, "eval.grid=[2]", f"output_root={root}"])


def check_metrics(run_dir, labels: set[str]) -> pd.DataFrame:
    m = pd.read_csv(run_dir / "metrics.csv")
    acc = m[m.metric == "acc"]
    assert labels <= set(acc.attack), sorted(set(acc.attack))
    assert acc.value.between(0, 1).all()
    # clean accuracy on the attacked points (the whole split's "clean" row describes more points)
    clean = acc[acc.attack == "clean-attacked"].value.max()
    assert (acc[acc.attack == "clean-attacked"].n == 12).all()
    for label in labels:  # an attack never raises accuracy above clean accuracy on the same points
        rows = acc[(acc.attack == label) & (acc.eps > 0)]
        if label == "FGSM" and (acc[acc.attack == label].eps == 0).any():  # paper auc: points: all,
            # the curve may rebound above f(0); f(0) is clean accuracy on the same points
            assert acc[(acc.attack == label) & (acc.eps == 0)].value.iloc[0] == pytest.approx(clean)
            continue
        assert len(rows) and (rows.value <= clean + 1e-9).all(), label
    return m


@pytest.mark.parametrize("eps", EPS)
@pytest.mark.parametrize("suite", sorted(LABELS))
def test_each_suite_runs_in_mode_eval(trained, tmp_path, suite, eps):
    out = run_inprocess(["mode=eval", f"checkpoint={trained}", f"output_root={tmp_path}", f"attacks={suite}",
                         "model.batch_norm=true", *EVAL, *eps, *CHEAP.get(suite, [])])  # fmt: skip
    m = check_metrics(out, LABELS[suite])
    if eps and suite != "auc":  # the command line's data.eps beats the checkpoint's (0.1)
        assert set(m[(m.metric == "acc") & (m.attack != "FGSM")].eps.dropna()) - {0.0} == {0.3}


@pytest.mark.slow  # ~8 s; every attack of the suites runs in test_each_suite_runs_in_mode_eval
@pytest.mark.parametrize("eps", EPS)
def test_standalone_attack_configs_run_in_mode_eval(trained, tmp_path, eps):
    """Attack configs no paper suite lists on their own: APGD-T, FAB-T, MD, MD-MT, APGD-CE."""
    extra = {"apgd_t": "APGD-T", "fab": "FAB-T", "md": "MD", "md_mt": "MD-MT", "apgd": "APGD-CE"}
    adds = [f"+attack@attacks.{key}={key}" for key in extra]
    out = run_inprocess(["mode=eval", f"checkpoint={trained}", f"output_root={tmp_path}", "attacks=none",
                         "model.batch_norm=true", *adds, *EVAL, *eps])  # fmt: skip
    check_metrics(out, set(extra.values()))


def test_a_paper_suite_runs_during_training(tmp_path):
    tiny = [o for o in TINY if not o.startswith("attacks.")]
    out = run_inprocess([*tiny, "eval.grid=[2]", f"output_root={tmp_path}", "attacks=irat", "data.eps=0.3",
                         "eval.n_eval=12", "attacks.pgd100.steps=10", "attacks.cw_pgd.steps=10"])  # fmt: skip
    m = check_metrics(out, LABELS["irat"] - {"PGD-100"} | {"PGD-10"})  # the label follows steps
    assert set(m.checkpoint) == {"epoch_002"}
    assert (out / "DONE").exists()


@pytest.mark.slow  # ~10 s; the eps0.3 suite runs above pass data.eps on the command line too
def test_cli_mode_eval_uses_the_command_lines_eps(trained, tmp_path):
    """Through the real entrypoint: ``data.eps=0.2`` replaces the checkpoint's eps (0.1)."""
    res = cli(["mode=eval", f"checkpoint={trained}", f"output_root={tmp_path}", "attacks.pgd20.steps=2",
               "data.eps=0.2", *EVAL])  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert "data.eps=0.2 (command line) replaces the checkpoint's value" in res.stdout
    m = pd.read_csv(tmp_path / "evals" / trained.name / "metrics.csv")
    assert set(m[m.attack == "PGD-2"].eps) == {0.2}
