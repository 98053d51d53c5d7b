"""``rbr-reproduce <slug>``: run a paper bundle's reproduction stages (its ``stages.yaml``).

One generic runner for every paper (``make reproduce-<slug>`` calls it): a bundle declares
its stages, this module turns each into a command line and runs them in order, stopping at
the first that fails. ``--dry-run`` prints the commands instead.

``stages.yaml`` (docs/new_paper.md)::

    vars:                       # optional: values the stages use as {name}
      image: {smoke: [dataset=mnist, data.image_size=12], paper: [dataset=cifar10]}  # by scale
      reg:                      # first matching rule
        - {when: {scale: paper}, value: onp}
        - {value: diabetes}
    env: {OMP_NUM_THREADS: "1"} # optional: set for every stage unless already set
    env_when: {scale: smoke}    # optional: only when this holds
    stages:
      - run: [experiment=mypaper/main, model=cnn6,lenet]   # rbr-run -m <common> <these>
        when: {warmup: shared}                             # optional condition
      - command: [rbr-samplerob, select-best, "{sweep_dir}"]  # any command
      - tables: mypaper                                    # rbr-tables <sweep dir> --table mypaper
      - note: "printed as it is"

Every ``run`` stage is ``rbr-run -m scale=<scale> <launcher> progress=false
data.root=<data root> sweep_name=<slug>_<scale>[_standin] <overrides>``: all runs of a paper
land in one sweep folder, which its ``tables`` stages read and write to
``outputs/tables/<slug>``. ``{name}`` in a string is replaced by a variable (``${...}`` is left
to Hydra); an item that is exactly ``{name}`` of a list variable is replaced by its items.
Built-in variables: ``slug``, ``scale``, ``data_root``, ``sweep_name``, ``sweep_dir``,
``tables_out``, ``warmup`` (shared | none) and ``warmup_from`` (the two overrides that branch
runs from the sweep's warm-up runs, docs/warmup.md; empty with ``--warmup none``).
Conditions (``when``): ``scale``, ``warmup``, ``data_given`` (``--data`` passed), ``data_has``
(any of these paths exists under the data root); every key must hold.

At smoke scale without ``--data`` the digits-derived stand-in datasets are written first (to
``outputs/standin_data``, once) and the sweep is named ``*_standin`` (as ``make`` did).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError
from .paths import is_standin_root
from .reading import load_yaml

SCALES = ("smoke", "paper")
LAUNCHERS = {"local": [], "joblib": ["hydra/launcher=local_processes"], "slurm": ["hydra/launcher=slurm"],
             "submitit_local": ["hydra/launcher=submitit_local"]}  # fmt: skip
STANDIN = Path("outputs/standin_data")
#: the package's console scripts, run as ``python -m <module>`` with this interpreter (so a
#: checkout on PYTHONPATH runs its own code); any other command is looked up on PATH
MODULES = {
    "rbr-run": "robustbench_runner.run",
    "rbr-tables": "robustbench_runner.tables.cli",
    "rbr-report": "robustbench_runner.report",
    "rbr-samplerob": "robustbench_runner.papers.samplerob",
}
STAGE_KINDS = ("run", "command", "tables", "note")
CONDITIONS = ("scale", "warmup", "data_given", "data_has")
_VAR = re.compile(r"(?<!\$)\{([a-z_][a-z0-9_]*)\}")


@dataclass
class Options:
    scale: str = "smoke"
    launcher: str = "local"
    data: str | None = None
    warmup: str = "shared"
    output_root: Path = Path("outputs")


@dataclass
class Step:
    """One command of a reproduction: its argv (as written, console-script names kept), the
    environment it adds, or a note to print."""

    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""

    def shell(self) -> str:
        if self.note:
            return f"echo {shlex.quote(self.note)}"
        return " ".join(
            [*(f"{k}={shlex.quote(v)}" for k, v in self.env.items()), *map(shlex.quote, self.argv)]
        )


def load_stages(path: Path) -> dict:
    """``stages.yaml`` read and checked: a mapping with a ``stages`` list of one-kind entries."""
    where = str(path)
    # bounded, a regular file, YAML's safe loader with alias/depth bounds: one line naming it
    raw = load_yaml(path, what="stages file", fix="write or fix the bundle's stages.yaml (docs/new_paper.md)")
    if not isinstance(raw, dict) or not isinstance(raw.get("stages"), list) or not raw["stages"]:
        raise UserError(
            f"{where} holds no 'stages:' list",
            fix="write stages: [- run: [...], - tables: <slug>] (docs/new_paper.md)",
        )
    unknown = set(raw) - {"vars", "env", "env_when", "stages"}
    if unknown:
        raise UserError(
            f"{where}: unknown top-level keys {sorted(unknown)}",
            fix="use vars, env, env_when, stages",
        )
    for i, st in enumerate(raw["stages"], 1):
        kinds = [k for k in STAGE_KINDS if isinstance(st, dict) and k in st]
        extra = set(st) - {*STAGE_KINDS, "when", "name"} if isinstance(st, dict) else set()
        if len(kinds) != 1 or extra:
            raise UserError(f"{where}: stage {i} must hold exactly one of {', '.join(STAGE_KINDS)} (plus optional when, name)",
                            fix=f"fix stage {i}: {str(st)[:80]}")  # fmt: skip
        _check_when(st.get("when"), f"{where}: stage {i}")
    for name in raw.get("vars") or {}:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", str(name)):
            raise UserError(
                f"{where}: variable name {name!r} is not lower_snake_case", fix="rename it"
            )
    return raw


def _check_when(when: Any, where: str) -> None:
    if when is None:
        return
    if not isinstance(when, dict) or set(when) - set(CONDITIONS):
        raise UserError(
            f"{where}: 'when' must be a mapping of {', '.join(CONDITIONS)}",
            fix=f"fix its 'when': {when!r}",
        )


def _holds(when: dict | None, ctx: dict) -> bool:
    for key, want in (when or {}).items():
        if key == "data_has":
            paths = [want] if isinstance(want, str) else list(want)
            if not any((Path(ctx["data_root"]) / p).exists() for p in paths):
                return False
        elif key == "data_given":
            if bool(want) != ctx["data_given"]:
                return False
        elif str(ctx[key]) not in (
            [str(w) for w in want] if isinstance(want, list) else [str(want)]
        ):
            return False
    return True


def _var_value(name: str, spec: Any, ctx: dict, where: str) -> Any:
    if isinstance(spec, dict) and spec and set(spec) <= set(SCALES):
        if ctx["scale"] not in spec:
            raise UserError(
                f"{where}: variable {name} has no value for scale {ctx['scale']}",
                fix=f"add {ctx['scale']}: ... to it",
            )
        return spec[ctx["scale"]]
    if isinstance(spec, list) and spec and all(isinstance(r, dict) and "value" in r for r in spec):
        for rule in spec:
            _check_when(rule.get("when"), f"{where}: variable {name}")
            if _holds(rule.get("when"), ctx):
                return rule["value"]
        raise UserError(
            f"{where}: no rule of variable {name} holds",
            fix="end its rules with one without 'when'",
        )
    return spec


def _subst(item: Any, ctx: dict, where: str) -> list[str]:
    """One stage item as argv words: ``{name}`` replaced; an item that is exactly a list
    variable splices its items."""
    text = str(item)
    whole = _VAR.fullmatch(text)
    if whole and isinstance(ctx.get(whole.group(1)), list):
        return [str(v) for v in ctx[whole.group(1)]]

    def repl(m: re.Match) -> str:
        if m.group(1) not in ctx:
            raise UserError(
                f"{where}: unknown variable {{{m.group(1)}}}",
                fix=f"define it under vars: or use one of {sorted(ctx)}",
            )
        value = ctx[m.group(1)]
        if isinstance(value, list):
            raise UserError(
                f"{where}: list variable {{{m.group(1)}}} used inside a word",
                fix="write it as an item of its own",
            )
        return str(value)

    return [_VAR.sub(repl, text)]


def context(slug: str, opts: Options, raw: dict, where: str) -> dict:
    """The variables of a bundle's stages at these options (built-ins, then ``vars``)."""
    if opts.scale not in SCALES:
        raise UserError(f"unknown scale {opts.scale!r}", fix=f"use one of {', '.join(SCALES)}")
    if opts.warmup not in ("shared", "none"):
        raise UserError(
            f"unknown warm-up mode {opts.warmup!r}", fix="use shared or none (docs/warmup.md)"
        )
    standin = opts.data is None and opts.scale == "smoke"
    data_root = opts.data or (
        str((opts.output_root / "standin_data").resolve())
        if standin
        else os.environ.get("RBR_DATA", "data")
    )
    sweep_name = f"{slug}_{opts.scale}{'_standin' if standin else ''}"
    ctx: dict[str, Any] = {
        "slug": slug,
        "scale": opts.scale,
        "data_root": data_root,
        "data_given": opts.data is not None,
        "standin": standin,
        "sweep_name": sweep_name,
        "sweep_dir": str(opts.output_root / "sweeps" / sweep_name),
        "tables_out": str(opts.output_root / "tables" / slug),
        "warmup": opts.warmup,
        # runs branch from the warm-up runs of their own sweep folder (docs/warmup.md); Hydra
        # resolves ${output_root} and ${sweep_name} in each job
        "warmup_from": ["warmup.from=${output_root}/sweeps/${sweep_name}", "warmup.missing=train"]
        if opts.warmup == "shared"
        else [],
    }
    for name, spec in (raw.get("vars") or {}).items():
        value = _var_value(name, spec, ctx, where)
        ctx[name] = (
            [w for v in value for w in _subst(v, ctx, where)]
            if isinstance(value, list)
            else _subst(value, ctx, where)[0]
        )
    return ctx


def plan(slug: str, opts: Options) -> list[Step]:
    """The commands ``rbr-reproduce <slug>`` runs at these options, in order."""
    from . import bundles

    bundle = bundles.get(slug)
    raw = load_stages(bundle.stages)
    where = str(bundle.stages)
    ctx = context(slug, opts, raw, where)
    env = (
        {str(k): str(v) for k, v in (raw.get("env") or {}).items()}
        if _holds(raw.get("env_when"), ctx)
        else {}
    )
    env = {k: os.environ.get(k, v) for k, v in env.items()}  # "unless already set"
    steps: list[Step] = []
    if ctx["standin"]:
        steps.append(Step(["python", "-m", "robustbench_runner.data.standin", ctx["data_root"]]))
    common = [
        f"scale={opts.scale}",
        *LAUNCHERS[opts.launcher],
        "progress=false",
        f"data.root={ctx['data_root']}",
        f"sweep_name={ctx['sweep_name']}",
    ]
    for i, st in enumerate(raw["stages"], 1):
        if not _holds(st.get("when"), ctx):
            continue
        here = f"{where}: stage {i}"

        def words(items: list, here: str = here) -> list[str]:
            return [w for it in items for w in _subst(it, ctx, here)]

        if "note" in st:
            steps.append(Step(note=_subst(st["note"], ctx, here)[0]))
        elif "run" in st:
            steps.append(Step(["rbr-run", "-m", *common, *words(_as_list(st["run"], here))], env))
        elif "tables" in st:
            steps.append(
                Step(
                    [
                        "rbr-tables",
                        "--quiet",
                        ctx["sweep_dir"],
                        "--table",
                        *words([st["tables"]]),
                        "--out",
                        ctx["tables_out"],
                    ],
                    env,
                )
            )
        else:
            steps.append(Step(words(_as_list(st["command"], here)), env))
    return steps


def _as_list(value: Any, where: str) -> list:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        raise UserError(f"{where}: expected a list of words", fix="write it as [word, word, ...]")
    return value


def _argv(step: Step) -> list[str]:
    head, *rest = step.argv
    if head == "python":
        return [sys.executable, *rest]
    if head in MODULES:
        return [sys.executable, "-m", MODULES[head], *rest]
    return step.argv


def execute(steps: list[Step], slug: str) -> int:
    """Run the steps in order; the first that fails stops the reproduction (its status)."""
    for n, step in enumerate(steps, 1):
        if step.note:
            print(f"[{slug}] {step.note}", flush=True)
            continue
        if (
            step.argv[:3] == ["python", "-m", "robustbench_runner.data.standin"]
            and is_standin_root(step.argv[3])
        ):
            continue  # the stand-in datasets are written once
        print(f"[{slug} {n}/{len(steps)}] {step.shell()}", flush=True)
        rc = subprocess.run(_argv(step), env={**os.environ, **step.env}).returncode
        if rc != 0:
            print(
                f"rbr-reproduce: {slug}: step {n} failed with status {rc}: {step.shell()}",
                file=sys.stderr,
            )
            return rc
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="rbr-reproduce",
        description="Run a paper bundle's reproduction stages (its stages.yaml).",
    )
    p.add_argument(
        "slugs",
        nargs="*",
        help="paper bundles to reproduce (rbr-reproduce --list shows them); 'all': every one",
    )
    p.add_argument("--list", action="store_true", help="list the attached paper bundles and exit")
    p.add_argument("--scale", default=os.environ.get("SCALE", "smoke"), choices=SCALES)
    p.add_argument("--launcher", default="local", choices=sorted(LAUNCHERS))
    p.add_argument(
        "--data",
        default=None,
        help="folder of the real datasets (default at smoke scale: stand-ins)",
    )
    p.add_argument(
        "--warmup",
        default="shared",
        choices=("shared", "none"),
        help="shared: train each shared warm-up prefix once (docs/warmup.md)",
    )
    p.add_argument("--dry-run", "-n", action="store_true", help="print the commands, run nothing")
    args = p.parse_args(argv)
    try:
        from . import bundles

        found = bundles.bundles()
        if args.list or not args.slugs:
            for b in found.values():
                n = len(load_stages(b.stages)["stages"]) if b.stages.is_file() else 0
                print(f"{b.slug:<12} {n:>2} stages  {b.root}  ({b.source})")
            return 0
        slugs = list(found) if "all" in args.slugs else args.slugs
        opts = Options(args.scale, args.launcher, args.data, args.warmup)
        plans = {s: plan(s, opts) for s in slugs}  # every bundle checked before anything runs
        for slug, steps in plans.items():
            if args.dry_run:
                print("\n".join(s.shell() for s in steps))
                continue
            rc = execute(steps, slug)
            if rc:
                return rc
        return 0
    except UserError as e:
        print(f"rbr-reproduce: error: {e.one_line()}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
