"""rbr-run end to end: files and columns, idempotence, resume after SIGKILL at any moment,
determinism, config guarding, evaluation of existing checkpoints."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import torch

from rbr_testing import TEST_DEVICE, TINY, cli, run_inprocess
from robustbench_runner.errors import UserError
from robustbench_runner.io import read_csv
from robustbench_runner.results import METRIC_COLUMNS, METRIC_KEY


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted tiny run (in-process), shared by the tests below."""
    root = tmp_path_factory.mktemp("reference")
    run_dir = run_inprocess([*TINY, f"output_root={root}"])
    return run_dir


def test_run_directory_layout(reference):
    d = reference
    assert d.name == "digits-cnn6-standard-s0"
    for rel in ("config.yaml", "run.json", "metrics.csv", "confusion.csv", "train_log.csv", "model_summary.csv", "DONE",
                "ckpt/epoch_001.pt", "ckpt/epoch_002.pt", "ckpt/last.pt"):  # fmt: skip
        assert (d / rel).is_file(), rel
    m = read_csv(d / "metrics.csv")
    assert list(m.columns) == METRIC_COLUMNS
    assert not m.duplicated(METRIC_KEY).any()
    assert set(m.epoch) == {1, 2}
    assert set(m.attack) == {"clean", "clean-attacked", "FGSM", "PGD-5", "worst-case"}
    # FGSM sweep: one accuracy per eps of the grid, plus R and the raw AUC
    fgsm = m[(m.attack == "FGSM") & (m.epoch == 2)]
    assert sorted(fgsm.metric.unique()) == ["acc", "auc_norm", "auc_raw"]
    assert (fgsm.metric == "acc").sum() == 9
    assert (m.loc[m.attack == "clean", "n"] == 80).all()  # full (limited) test split
    assert (m.loc[m.attack == "PGD-5", "n"] == 40).all()  # the eval subset
    assert (m.loc[m.attack == "clean-attacked", "n"] == 40).all()  # clean accuracy on it
    assert m[m.metric == "acc"].value.between(0, 1).all()
    clean = m[(m.attack == "clean") & (m.epoch == 2)].value.item()
    assert clean > 0.5  # the tiny model does learn, so the attacks below mean something
    log = read_csv(d / "train_log.csv")
    assert list(log.columns) == ["epoch", "loss", "acc", "lr", "seconds", "n"]
    assert list(log.epoch) == [1, 2]
    summary = read_csv(d / "model_summary.csv")
    from robustbench_runner.models import create_model

    model = create_model("cnn6", num_classes=10, in_channels=1, image_size=16, batch_norm=True)
    assert summary.loc[summary.layer == "TOTAL", "params"].item() == sum(p.numel() for p in model.parameters())
    assert summary.loc[summary.layer.str.len() > 0, "params"].iloc[:-2].sum() == sum(p.numel() for p in model.parameters())
    ck = torch.load(d / "ckpt" / "epoch_002.pt", weights_only=True)
    assert ck["epoch"] == 2 and "config" in ck and "model" in ck


def test_identity_columns(reference):
    m = read_csv(reference / "metrics.csv")
    info = json.loads((reference / "run.json").read_text())
    assert (m.config_hash == info["config_hash"]).all()
    assert (m.dataset == "digits").all() and (m.model == "cnn6").all() and (m.scheme == "standard").all()
    assert (m.seed == 0).all() and (m.batch_size == 16).all()


def test_run_json_records_device_and_precision(reference):
    info = json.loads((reference / "run.json").read_text())
    rt = info["runtime"]
    assert rt["device"] == str(torch.device(TEST_DEVICE if TEST_DEVICE != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")))
    assert rt["device_name"] and rt["torch"] == torch.__version__
    assert rt["deterministic"] is True and rt["eval_tf32"] is True and rt["amp"] is False
    assert set(rt["fp32_precision"]) == {"cuda.matmul", "cudnn.conv", "cudnn.rnn"}
    assert ("threads" in rt) == (rt["device"] == "cpu") and "earlier_runtimes" not in info


def test_pgd_never_above_clean_and_worst_case_is_min(reference):
    m = read_csv(reference / "metrics.csv")
    for _epoch, g in m.groupby("epoch"):
        sub = g[g.metric == "acc"].set_index(["attack", "eps"])["value"]
        pgd = sub[("PGD-5", 0.1)]
        fgsm = sub[("FGSM", 0.1)]
        worst = sub[("worst-case", 0.1)]
        assert worst <= min(pgd, fgsm) + 1e-12
        assert pgd <= sub[("FGSM", 0.0)] + 1e-12


def test_same_command_again_does_no_work(reference, capsys):
    before = {p: p.stat().st_mtime_ns for p in reference.rglob("*") if p.is_file() and p.name != ".lock"}
    root = reference.parent.parent
    run_inprocess([*TINY, f"output_root={root}"])
    after = {p: p.stat().st_mtime_ns for p in reference.rglob("*") if p.is_file() and p.name != ".lock"}
    assert before == after
    assert "nothing to do" in capsys.readouterr().out


def test_determinism_bit_identical(reference, tmp_path):
    again = run_inprocess([*TINY, f"output_root={tmp_path}"])
    assert (again / "metrics.csv").read_bytes() == (reference / "metrics.csv").read_bytes()
    assert (again / "confusion.csv").read_bytes() == (reference / "confusion.csv").read_bytes()


def test_different_seed_differs(reference, tmp_path):
    other = run_inprocess([*TINY, f"output_root={tmp_path}", "seed=1"])
    assert other.name.endswith("-s1")
    a, b = read_csv(reference / "metrics.csv"), read_csv(other / "metrics.csv")
    assert not a.value.equals(b.value)


def test_other_config_in_same_dir_is_refused_then_overwritten(reference, tmp_path):
    root = tmp_path
    shutil.copytree(reference, root / "runs" / reference.name)
    with pytest.raises(UserError, match=r"different config .*optim.optimizer.lr: 0.001 -> 0.01"):
        run_inprocess([*TINY, f"output_root={root}", "optim.optimizer.lr=0.01"])
    metrics = (root / "runs" / reference.name / "metrics.csv").read_bytes()
    assert metrics == (reference / "metrics.csv").read_bytes()  # nothing touched
    run_inprocess([*TINY, f"output_root={root}", "optim.optimizer.lr=0.01", "overwrite=true"])
    assert (root / "runs" / reference.name / "metrics.csv").read_bytes() != metrics


def test_finished_run_drops_optimizer_state_but_keeps_weights(reference, tmp_path):
    """train.keep_optimizer_state=false (default): once DONE, last.pt holds the final weights
    without the optimizer/schedule state; true keeps it; the key is not part of the hash."""
    last = torch.load(reference / "ckpt" / "last.pt", weights_only=True)
    final = torch.load(reference / "ckpt" / "epoch_002.pt", weights_only=True)
    assert not {"optimizer", "schedule", "best"} & set(last) and last["epoch"] == 2
    assert last["model"].keys() == final["model"].keys()
    assert all(torch.equal(last["model"][k], final["model"][k]) for k in final["model"])
    kept = run_inprocess([*TINY, f"output_root={tmp_path}", "train.keep_optimizer_state=true"])
    assert "optimizer" in torch.load(kept / "ckpt" / "last.pt", weights_only=True)
    assert (kept / "metrics.csv").read_bytes() == (reference / "metrics.csv").read_bytes()  # same hash
    # a finished run with either setting is still finished: no config-guard refusal, no work
    again = run_inprocess([*TINY, f"output_root={tmp_path}"])
    assert again == kept and "optimizer" in torch.load(kept / "ckpt" / "last.pt", weights_only=True)


def test_resuming_a_run_whose_optimizer_state_was_dropped_is_a_clear_error(reference, tmp_path):
    root = tmp_path
    shutil.copytree(reference, root / "runs" / reference.name)
    (root / "runs" / reference.name / "DONE").unlink()  # e.g. deleted by hand
    metrics = (reference / "metrics.csv").read_bytes()
    with pytest.raises(UserError, match=r"holds no optimizer state.*overwrite=true"):
        run_inprocess([*TINY, f"output_root={root}"])
    assert (root / "runs" / reference.name / "metrics.csv").read_bytes() == metrics  # untouched


# mid-epoch and mid-attack kills in the fast suite; the two between-file kill points are slow
# (tests/test_run_safety.py also resumes after kills between files)
@pytest.mark.parametrize(
    "point",
    ["batch:4", pytest.param("attack_batch:2", marks=pytest.mark.slow), pytest.param("checkpoint:2", marks=pytest.mark.slow), pytest.param("metrics:3", marks=pytest.mark.slow)],
)
def test_killed_run_resumes_to_identical_metrics(reference, tmp_path, point):
    """SIGKILL mid-epoch, right after a checkpoint, mid-attack, between attacks; the same
    command then finishes with a metrics.csv byte-identical to the uninterrupted run."""
    args = [*TINY, f"output_root={tmp_path}"]
    killed = cli(args, env={"RBR_CRASH_AT": point})
    assert killed.returncode == -9, killed.stderr[-2000:]
    run_dir = tmp_path / "runs" / reference.name
    assert not (run_dir / "DONE").exists()
    run_inprocess(args)
    got = (run_dir / "metrics.csv").read_bytes()
    assert got == (reference / "metrics.csv").read_bytes()
    assert (run_dir / "confusion.csv").read_bytes() == (reference / "confusion.csv").read_bytes()
    log = read_csv(run_dir / "train_log.csv")
    assert list(log.epoch) == [1, 2]


def test_mode_eval_on_a_run_and_on_a_plain_state_dict(reference, tmp_path):
    out = run_inprocess(["mode=eval", f"checkpoint={reference}", f"output_root={tmp_path}", "eval.n_eval=40",
                         "attacks.pgd20.steps=5", "progress=false"])  # fmt: skip
    assert out.parent.name == "evals" and out.name == reference.name
    m = read_csv(out / "metrics.csv")
    assert set(m.checkpoint) == {"epoch_001", "epoch_002"}
    ref = read_csv(reference / "metrics.csv")
    # same checkpoint, same attack config and points -> same numbers as during training
    key = ["checkpoint", "attack", "eps", "metric"]
    merged = m.merge(ref, on=key, suffixes=("", "_ref"))
    assert len(merged) == len(ref)
    assert (merged.value == merged.value_ref).all()
    # a plain state dict, read with the model/dataset of the command line
    sd = torch.load(reference / "ckpt" / "epoch_002.pt", weights_only=True)["model"]
    plain = tmp_path / "weights.pt"
    torch.save(sd, plain)
    plain_args = ["mode=eval", f"checkpoint={plain}", f"output_root={tmp_path}", "data.image_size=16",
                  "data.limit_test=80", "eval.n_eval=40", "attacks.pgd20.steps=5", "progress=false"]  # fmt: skip
    with pytest.raises(UserError, match="does not fit model 'cnn6'.*fix: pass the model="):
        run_inprocess(plain_args)  # trained with batch norm, read without
    out2 = run_inprocess([*plain_args, "model.batch_norm=true"])  # nothing was computed: no overwrite needed
    m2 = read_csv(out2 / "metrics.csv")
    assert set(m2.checkpoint) == {"weights"}
    clean = m2[(m2.attack == "clean")].value.item()
    assert clean == ref[(ref.attack == "clean") & (ref.epoch == 2)].value.item()


def test_summary_printed(reference, capsys):
    from robustbench_runner.results import RunFiles
    from robustbench_runner.summary import print_summary, summarize

    df = summarize(RunFiles(reference))
    assert list(df.columns[:5]) == ["checkpoint", "epoch", "train_loss", "train_acc", "clean"]
    assert "FGSM R" in df.columns and "PGD-5" in df.columns
    print_summary(RunFiles(reference))
    assert "FGSM R" in capsys.readouterr().out


def test_metrics_rows_have_no_duplicates_after_concurrent_style_upserts(tmp_path):
    from robustbench_runner.io import upsert_csv

    p = tmp_path / "m.csv"
    rows = pd.DataFrame({"k": [1, 2], "v": [0.1, 0.2]})
    assert upsert_csv(p, rows, ["k"]) == 2
    assert upsert_csv(p, pd.DataFrame({"k": [2, 3], "v": [9.9, 0.3]}), ["k"]) == 1
    got = read_csv(p)
    assert got.k.tolist() == [1, 2, 3] and got.v.tolist() == [0.1, 0.2, 0.3]
