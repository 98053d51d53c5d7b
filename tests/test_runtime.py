"""run.json's record of where a run computes (robustbench_runner/runtime.py), and the one line a
run prints when it continues on another device."""

from __future__ import annotations

import json

import torch

from rbr_testing import compose_cfg
from robustbench_runner.results import RunFiles
from robustbench_runner.runtime import record, runtime_info


def test_runtime_info_names_the_device_and_the_precision_settings():
    cfg = compose_cfg(["train.amp=true", "eval.tf32=false", "deterministic=false"])
    rt = runtime_info(cfg, torch.device("cpu"))
    assert rt["device"] == "cpu" and rt["device_name"] and rt["threads"] == torch.get_num_threads()
    assert (rt["amp"], rt["eval_tf32"], rt["deterministic"]) == (True, False, False)
    assert rt["torch"] == torch.__version__ and "cuda.matmul" in rt["fp32_precision"]


def test_a_run_resumed_on_another_device_says_so_in_one_line_and_keeps_the_earlier_runtime(tmp_path, capsys):
    files = RunFiles(tmp_path)
    here = runtime_info(compose_cfg([]), torch.device("cpu"))
    gpu = {**here, "device": "cuda:0", "device_name": "NVIDIA H100 80GB HBM3"}
    gpu.pop("threads")
    files.info.write_text(json.dumps({"config_hash": "abc", "runtime": gpu}))
    out = record(files, here, "abc")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "computed on cuda:0 (NVIDIA H100 80GB HBM3) so far and continues on cpu (" in err[0]
    assert out == {"runtime": here, "earlier_runtimes": [gpu]}
    # the same device again: no line; the earlier runtimes stay in run.json
    files.info.write_text(json.dumps({"config_hash": "abc", **out}))
    assert record(files, here, "abc") == out and capsys.readouterr().err == ""
    # another config's run.json (a refused or replaced run) and a finished run: nothing to say
    assert record(files, gpu, "other") == {"runtime": gpu} and capsys.readouterr().err == ""
    files.done.write_text("finished")
    assert record(files, gpu, "abc") == {"runtime": gpu} and capsys.readouterr().err == ""
