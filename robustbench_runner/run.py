"""``rbr-run``: the Hydra entrypoint (also ``python -m robustbench_runner.run``).

    rbr-run                                  # the default experiment (CNN-6 on digits)
    rbr-run dataset=cifar10 model=resnet18 scheme=pgd_at
    rbr-run -m seed=1,2,3                    # a sweep into outputs/sweeps/<sweep_name>/
    rbr-run mode=eval checkpoint=<path> attacks=paper_e
    rbr-run --cfg job                        # print the composed config

Errors the user can fix print one line and exit with status 2 (``verbose=true`` or
``HYDRA_FULL_ERROR=1`` shows the traceback).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from . import config as _config  # noqa: F401  (registers the resolvers)
from .errors import SweepJobFailed, UserError

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
PROG = "rbr-run"


_VERBOSE = False


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def _app(cfg: DictConfig) -> None:
    from .pipeline import execute

    try:
        hydra_cfg = HydraConfig.get()
        execute(cfg, hydra_cfg.runtime.output_dir, list(hydra_cfg.overrides.task))
    except Exception as ex:  # report here, before Hydra logs "Error executing job..."
        if _VERBOSE or cfg.get("verbose"):
            raise
        if HydraConfig.get().mode == RunMode.MULTIRUN:  # one failed job must not stop the sweep
            sys.stderr.write(f"{PROG}: error: job {HydraConfig.get().job.override_dirname}: {one_line(ex)}\n")
            raise SweepJobFailed("a job of the sweep failed (its error is printed above); the other jobs ran") from None
        _exit_with(ex)


def one_line(ex: BaseException) -> str:
    """Condense an exception's message (Hydra's are multi-line) into one line that names the
    problem and the fix."""
    if isinstance(ex, UserError):
        return ex.one_line()
    inner = ex.__cause__ or ex.__context__
    for _ in range(5):  # a UserError raised inside a resolver (tag=../x) arrives wrapped
        if isinstance(inner, UserError):
            return inner.one_line()
        inner = inner and (inner.__cause__ or inner.__context__)
    text = str(ex)
    cause = ex.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text += "\n" + str(cause)
    text = text.split("Config search path:")[0]
    missing = re.search(r"Could not find '([^']+)'", text)
    if missing:
        group = missing.group(1).split("/")[0]
        options = re.search(r"Available options in '[^']+':(.*)", text, re.S)
        names = ", ".join(options.group(1).split()) if options else ""
        return f"Could not find '{missing.group(1)}' (fix: use one of {group}={{{names}}})" if names else f"Could not find '{missing.group(1)}'"
    override = re.search(r"Could not override '([^']+)'", text)
    if override:
        key = override.group(1)
        return f"{key} is not a config key (fix: check its spelling with `rbr-run --cfg job`, or add a new key with +{key}=...)"
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith(("full_key:", "object_type=", "reference_type="))]
    return " ".join(lines)


def _verbose(argv: list[str]) -> bool:
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        return True
    return any(re.fullmatch(r"\+{0,2}verbose=(true|True|1)", a) for a in argv)


def _exit_with(ex: BaseException):
    """Print one line and exit: 2 for problems the user can fix, 1 for anything else."""
    expected = isinstance(ex, UserError) or type(ex).__module__.startswith(("hydra", "omegaconf"))
    hint = "" if expected else " (rerun with verbose=true for the traceback)"
    name = "" if expected else f"{type(ex).__name__}: "
    sys.stderr.write(f"{PROG}: error: {name}{one_line(ex)}{hint}\n")
    sys.exit(2 if expected else 1)


def _report(verbose: bool):
    """Replacement for Hydra's ``run_and_report`` (config composition errors) that prints one
    line instead of a multi-line message and a traceback hint."""

    def run_and_report(func):
        try:
            return func()
        except SystemExit:
            raise
        except Exception as ex:
            if verbose:
                raise
            _exit_with(ex)

    return run_and_report


def main() -> None:
    import hydra._internal.utils as hydra_utils

    global _VERBOSE
    _VERBOSE = _verbose(sys.argv[1:])
    hydra_utils.run_and_report = _report(_VERBOSE)
    try:
        _app()
    except Exception as ex:  # raised by Hydra outside run_and_report (e.g. conflicting flags)
        if _VERBOSE:
            raise
        _exit_with(ex)


if __name__ == "__main__":
    main()
