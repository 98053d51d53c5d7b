"""``rbr-run``: the Hydra entrypoint (also ``python -m robustbench_runner.run``).

    rbr-run                                  # the default experiment (CNN-6 on digits)
    rbr-run dataset=cifar10 model=resnet18 scheme=pgd_at
    rbr-run -m seed=1,2,3                    # a sweep into outputs/sweeps/<sweep_name>/
    rbr-run mode=eval checkpoint=<path> attacks=vir
    rbr-run --cfg job                        # print the composed config

Errors the user can fix print one line and exit with status 2 (``verbose=true`` or
``HYDRA_FULL_ERROR=1`` shows the traceback); Ctrl-C prints one line and exits with 130.

Only Hydra's public surface is used: ``hydra.main``, ``HydraConfig``, the exception classes of
``hydra.errors`` (read through their attributes, not their text) and the documented
``HYDRA_FULL_ERROR`` switch, which makes Hydra hand composition errors back to :func:`main`
instead of printing its own multi-line report. In a ``-m`` sweep a failed job prints its line
and the launcher goes on with the other jobs (Hydra's basic sweeper runs the whole batch and
only then re-raises the first failure); :func:`main` then sums up in one line.
"""

from __future__ import annotations

import os
import re
import sys
from contextlib import contextmanager

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

from . import bundles, schema
from . import config as _config  # noqa: F401  (registers the resolvers)
from .errors import UserError
from .io import folder_error
from .paths import conf_dir
from .seeding import CUBLAS_WORKSPACE

CONF_DIR = str(conf_dir())
bundles.attach()  # the paper bundles' conf/ roots join Hydra's search path (robustbench_runner/bundles.py)
PROG = "rbr-run"
#: exit status after Ctrl-C (128 + SIGINT), as a shell reports it
EXIT_INTERRUPTED = 130


class SweepJobFailed(Exception):
    """Raised in a sweep job after its error was printed: Hydra marks the job failed and the
    launcher goes on with the others."""

    def __init__(self, message: str, expected: bool = False):
        super().__init__(message)
        self.expected = expected  # the job's error was user-fixable (exit 2, else 1)

    def __reduce__(self):  # launchers that run jobs in worker processes pickle it
        return type(self), (str(self), self.expected)


_VERBOSE = False
_SWEEP = {"jobs": 0, "failed": []}  # jobs run in this process (the basic launcher)


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def _app(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    sweep = hydra_cfg.mode == RunMode.MULTIRUN
    _SWEEP["jobs"] += sweep
    try:
        from .execute import execute

        execute(cfg, hydra_cfg.runtime.output_dir, list(hydra_cfg.overrides.task))
    except Exception as ex:  # report here, before Hydra logs "Error executing job..."
        if _VERBOSE or cfg.get("verbose"):
            raise
        if not sweep:
            _exit_with(ex)
        name = os.path.basename(str(hydra_cfg.runtime.output_dir))
        _print_error(ex, prefix=f"sweep job {hydra_cfg.job.num} ({name}) failed: ")
        _SWEEP["failed"].append(name)
        raise SweepJobFailed(f"{name}: {one_line(ex)}", _is_expected(ex)) from ex


# -- one-line messages ---------------------------------------------------------------------


def one_line(ex: BaseException) -> str:
    """One line that names the problem and the fix, from the exception's type and attributes
    (Hydra's own messages span many lines)."""
    if isinstance(ex, UserError):
        return ex.one_line()
    inner = ex.__cause__ or ex.__context__
    for _ in range(5):  # a UserError raised inside a resolver (tag=../x) arrives wrapped
        if isinstance(inner, UserError):
            return inner.one_line()
        inner = inner and (inner.__cause__ or inner.__context__)
    if isinstance(ex, SweepJobFailed):
        return str(ex)
    typed = _type_error(ex)
    if typed is not None:
        return typed.one_line()
    missing = _missing_value(ex)
    if missing:
        return f"{missing} has no value (fix: set it on the command line, e.g. {missing}=<value>; `rbr-run --cfg job` shows the ??? keys)"
    if isinstance(ex, MissingConfigException) and ex.missing_cfg_file:
        return _missing_config(ex.missing_cfg_file, list(ex.options or []))
    if isinstance(ex, OverrideParseException):
        return _bad_override(ex)
    cause = ex.__cause__
    if isinstance(ex, ConfigCompositionException) and isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
        key = cause.full_key or cause.key
        if key:
            return f"{key} is not a config key (fix: check its spelling with `rbr-run --cfg job`, or add a new key with +{key}=...)"
    text = str(ex)
    if cause is not None and str(cause) and str(cause) not in text:
        text += "\n" + str(cause)
    return _squeeze(text)


def _type_error(ex: BaseException) -> UserError | None:
    """A value the schema's type refuses (``train.epochs=abc``: Hydra wraps OmegaConf's
    ValidationError), from the error's ``full_key`` and ``value`` and the type
    :mod:`.schema` declares for that key."""
    for _ in range(5):
        if ex is None:
            return None
        if isinstance(ex, ValidationError) and ex.full_key:
            return schema.type_error(ex.full_key, ex.value)
        ex = ex.__cause__ or ex.__context__
    return None


def _missing_value(ex: BaseException) -> str | None:
    """The key of a mandatory ``???`` value left unset (e.g. ``model=timm`` without
    ``model.name``), from OmegaConf's MissingMandatoryValue anywhere in the chain."""
    from omegaconf.errors import MissingMandatoryValue

    for _ in range(5):
        if ex is None:
            return None
        if isinstance(ex, MissingMandatoryValue):
            m = re.search(r"Missing mandatory value: ([\w.\[\]]+)", str(ex))
            return m.group(1) if m else getattr(ex, "full_key", None)
        ex = ex.__cause__ or ex.__context__
    return None


def _squeeze(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines()]
    return " ".join(ln for ln in lines if ln and not ln.startswith(("full_key:", "object_type=", "reference_type=")))


def _missing_config(path: str, options: list[str]) -> str:
    group, _, _ = path.rpartition("/")
    if not group:
        return f"Could not find the config '{path}' (fix: check --config-name; rbr-run's own config is 'config')"
    if not options:
        return f"Could not find '{path}' (fix: `rbr-run --help` lists the config groups and their options)"
    # the user's group: hydra/launcher=x names a nested group; experiment=prs/x an option in a folder
    top, _, sub = group.partition("/") if not group.startswith("hydra/") else (group, "", "")
    prefix = f"{sub}/" if sub else ""
    return f"Could not find '{path}' (fix: use one of {top}={prefix}{{{', '.join(options)}}})"


def _bad_override(ex: OverrideParseException) -> str:
    key, _, value = ex.override.partition("=")
    if any(ord(c) > 127 for c in value) and not value.startswith(("'", '"')):
        # Hydra's grammar admits non-ASCII characters only in quoted values; its own message
        # is a bare caret under the character
        return (
            f"cannot parse the override '{ex.override}': Hydra reads non-ASCII characters only inside quotes "
            f"(fix: quote the value, e.g. {key}='\"{value}\"' in a shell, or use ASCII letters)"
        )
    detail = [ln.strip() for ln in ex.message.splitlines() if ln.strip() and ex.override not in ln and not ln.startswith("See ") and ln.strip() != "^"]
    reason = f": {' '.join(detail)}" if detail else ""
    return (
        f"cannot parse the override '{ex.override}'{reason} (fix: write key=value; a sweep (with -m) lists "
        "its values as key=a,b,c; quote a value that holds spaces, commas or brackets)"
    )


def _is_expected(ex: BaseException) -> bool:
    """User-fixable: our UserError or a config problem Hydra/OmegaConf reported."""
    if isinstance(ex, SweepJobFailed):
        return ex.expected
    return isinstance(ex, UserError) or type(ex).__module__.startswith(("hydra", "omegaconf"))


def _print_error(ex: BaseException, prefix: str = "") -> bool:
    expected = _is_expected(ex)
    hint = "" if expected else " (rerun with verbose=true for the traceback)"
    name = "" if expected or isinstance(ex, SweepJobFailed) else f"{type(ex).__name__}: "
    sys.stderr.write(f"{PROG}: error: {prefix}{name}{one_line(ex)}{hint}\n")
    sys.stderr.flush()
    return expected


def _exit_with(ex: BaseException):
    """Print one line and exit: 2 for problems the user can fix, 1 for anything else."""
    sys.exit(2 if _print_error(ex) else 1)


def _exit_after_sweep(ex: SweepJobFailed):
    failed, jobs = _SWEEP["failed"], _SWEEP["jobs"]
    if failed:  # the basic launcher: the jobs ran in this process
        ran = "the other jobs ran" if len(failed) < jobs else "no job finished"
        what = f"{len(failed)} of {jobs} sweep jobs failed ({', '.join(failed)}; each printed its error above); {ran}"
    else:  # a launcher plugin ran them in other processes; Hydra re-raises the first failure
        what = f"a sweep job failed, the first: {ex}; the other jobs ran"
    sys.stderr.write(f"{PROG}: error: {what} (fix: fix them and rerun the same command: finished runs are skipped)\n")
    sys.exit(2 if ex.expected else 1)


# -- entrypoint ----------------------------------------------------------------------------


def _verbose(argv: list[str]) -> bool:
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        return True
    return any(re.fullmatch(r"\+{0,2}verbose=(true|True|1)", a) for a in argv)


@contextmanager
def _errors_to_caller():
    """Hydra's documented ``HYDRA_FULL_ERROR=1``: its error handler re-raises instead of
    printing, so :func:`main` reports the exception in one line."""
    old = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = old


def main() -> None:
    global _VERBOSE
    # before any job can initialise cuBLAS (also the later jobs of a -m sweep run in this process)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    _VERBOSE = _verbose(sys.argv[1:])
    _SWEEP.update(jobs=0, failed=[])
    try:
        with _errors_to_caller():
            _app()
    except BrokenPipeError:  # `rbr-run --help | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        sys.exit(1)
    except KeyboardInterrupt:
        if _VERBOSE:
            raise
        sys.stderr.write(
            f"\n{PROG}: interrupted (Ctrl-C); rerun the same command to continue "
            "(a run resumes from its last checkpoint, finished runs are skipped)\n"
        )
        sys.exit(EXIT_INTERRUPTED)
    except Exception as ex:
        if _VERBOSE:
            raise
        if isinstance(ex, SweepJobFailed):
            _exit_after_sweep(ex)
        if isinstance(ex, OSError) and ex.filename:
            # Hydra's own mkdir of the run / sweep folder, before any job: output_root is a
            # file, under /proc, read-only, not writable...
            ex = folder_error(ex, ex.filename, "output folder", "output_root=... (or hydra.run.dir=...)")
        _exit_with(ex)


if __name__ == "__main__":
    main()
