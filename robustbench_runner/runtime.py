"""Where and how a run computes: the device and the precision settings, recorded in
``run.json`` (``runtime``), and one line when a run continues on another device.

Bit-identical results need the same device (the same CPU model and thread count, or the same
GPU model) and the same software: kernels differ in the order they add numbers. A run that
resumes elsewhere keeps its earlier results and computes the rest there; the line printed
says so, and ``run.json`` keeps the earlier runtimes (``earlier_runtimes``).
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys

import torch
from omegaconf import DictConfig

from .attacks.precision import precision_settings
from .errors import UserError


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU model."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):  # noqa: SIM115 - a short read
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "cpu"


def runtime_info(cfg: DictConfig, device: torch.device) -> dict:
    """What ``run.json`` records about where this invocation computes and in which precision."""
    info = {
        "device": str(device),
        "device_name": device_name(device),
        "torch": torch.__version__,
        "deterministic": bool(cfg.get("deterministic", False)),
        "eval_tf32": bool(cfg.eval.get("tf32", False)),
        "amp": bool(cfg.train.get("amp", False)),
        "channels_last": str(cfg.train.get("channels_last", "")),
        "fp32_precision": precision_settings(),  # the backends' setting outside eval.tf32's scope
    }
    if device.type == "cuda":
        info.update(cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                    cublas_workspace_config=os.environ.get("CUBLAS_WORKSPACE_CONFIG"))  # fmt: skip
    else:
        info["threads"] = torch.get_num_threads()
    return info


def where(runtime: dict) -> str:
    """A short description of a runtime for messages: device, its name, threads on a CPU."""
    threads = f", {runtime['threads']} threads" if "threads" in runtime else ""
    return f"{runtime.get('device')} ({runtime.get('device_name')}{threads})"


def _identity(runtime: dict) -> tuple:
    return runtime.get("device", "").split(":")[0], runtime.get("device_name"), runtime.get("threads"), runtime.get("torch")


def record(files, runtime: dict, chash: str) -> dict:
    """The ``run.json`` entries for this invocation of the run in ``files`` (config hash
    ``chash``): ``runtime``, and ``earlier_runtimes`` (the runtimes the run had before, when
    they differ). When the results so far were computed on another device, CPU model, thread
    count or torch version, prints one line saying so."""
    from .run_dir import read_info  # run_dir imports the config; keep this module light

    old: dict = {}
    if files.info.exists() and not files.done.exists():
        with contextlib.suppress(UserError):  # a damaged run.json is reported where it is read
            old = read_info(files)
    if old.get("config_hash") != chash:  # another run (refused or replaced): nothing to continue
        old = {}
    earlier = list(old.get("earlier_runtimes") or [])
    before = old.get("runtime")
    if isinstance(before, dict) and _identity(before) != _identity(runtime):
        print(f"[rbr] this run was computed on {where(before)} so far and continues on {where(runtime)}: "
              "its results can differ from an uninterrupted run on one device (README: bit-identical results)",
              file=sys.stderr, flush=True)  # fmt: skip
        earlier.append(before)
    out = {"runtime": runtime}
    if earlier:
        out["earlier_runtimes"] = earlier
    return out
