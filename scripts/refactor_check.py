"""Check that a refactor left the paper reproductions unchanged (issue 14's "done when").

Two kinds of evidence, each a snapshot taken in a source tree (run with that tree's package on
``PYTHONPATH``) and compared afterwards:

* **Resolved configs.** ``make -n -B reproduce-all SCALE=<scale>`` lists every command the paper
  reproductions run. Every ``rbr-run -m`` line is composed with Hydra's compose API, its sweep
  (the command line's ``a,b`` values times the experiment's ``hydra.sweeper.params``) is expanded
  into jobs, and each job's resolved config (``hydra`` left out) is written as YAML together with
  its config hash. Other commands (the sample-robustness CLI, ``rbr-tables``) are kept as text.
* **Tables.** Every ``.csv``/``.md`` file under a tables folder, byte for byte (figures are
  listed, not compared: PNG bytes depend on the matplotlib build).

    PYTHONPATH=OLD python scripts/refactor_check.py snapshot --tree OLD --out /tmp/before
    PYTHONPATH=NEW python scripts/refactor_check.py snapshot --tree NEW --out /tmp/after
    python scripts/refactor_check.py compare /tmp/before /tmp/after

Issue 14 (the paper layer's redesign) moved modules, so its resolved configs differ in those
``_target_`` strings and in the config hashes that follow; its check reads::

    python scripts/refactor_check.py compare --ignore-hash \
        --renames-file scripts/refactor_check_issue14_renames.txt BEFORE/configs AFTER/configs
    python scripts/refactor_check.py compare --slugs BEFORE/tables AFTER/tables

``compare`` prints each difference (a unified diff, first lines) and exits 1 if there is any.
The tree's own path is written as ``<repo>`` so two checkouts compare equal.
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

SCALES = ("smoke", "paper")
#: paper scale needs a data folder on the command line; any path works for composing
PAPER_DATA = "/data"
TABLE_SUFFIXES = (".csv", ".md")


# ---------------------------------------------------------------- make -n: the commands
def make_commands(tree: Path, scale: str) -> list[str]:
    """The shell commands ``make reproduce-all`` would run at ``scale`` (loops expanded)."""
    args = ["make", "-s", "-n", "-B", "reproduce-all", f"SCALE={scale}", "LAUNCHER=local"]
    if scale == "paper":
        args.append(f"DATA={PAPER_DATA}")
    out = subprocess.run(args, cwd=tree, capture_output=True, text=True, check=True).stdout
    text = out.replace("\\\n", " ")
    commands: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        commands.extend(_expand_for(line))
    return commands


_FOR = re.compile(r"^for (\w+) in ([^;]*); do (.*?)(?: \|\| exit 1)?; done$")


def _expand_for(line: str) -> list[str]:
    m = _FOR.match(line)
    if not m:
        return [line]
    var, values, body = m.group(1), m.group(2).split(), m.group(3).strip()
    return [body.replace(f"${var}", v) for v in values]


def rbr_run_overrides(command: str) -> list[str] | None:
    """The overrides of an ``rbr-run -m`` command, or None for another command."""
    words = shlex.split(command)
    for i, word in enumerate(words):
        if word.endswith("/rbr-run") or word == "rbr-run":
            rest = words[i + 1 :]
            return [w for w in rest if w not in ("-m", "--multirun")]
    return None


# ---------------------------------------------------------------- compose + expand sweeps
def _sweep_choices(overrides: list[str]) -> list[list[str]]:
    """Each override as the list of its single-valued forms (``a=1,2`` -> [a=1, a=2])."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    choices = []
    for text, ov in zip(overrides, parser.parse_overrides(overrides), strict=True):
        if ov.is_sweep_override():
            key = ov.get_key_element()
            choices.append([f"{key}={v}" for v in ov.sweep_string_iterator()])
        else:
            choices.append([text])
    return choices


def jobs_of(overrides: list[str]) -> list[list[str]]:
    """The single-run override lists of one ``-m`` command (as Hydra's basic sweeper forms them)."""
    from hydra import compose

    jobs = []
    for combo in itertools.product(*_sweep_choices(overrides)):
        combo = list(combo)
        cfg = compose("config", overrides=combo, return_hydra_config=True)
        params = cfg.hydra.sweeper.get("params") or {}
        given = {o.split("=")[0].lstrip("+~") for o in combo}
        extra = [f"{k}={v}" for k, v in params.items() if str(k).lstrip("+~") not in given]
        for more in itertools.product(*_sweep_choices(extra)) if extra else [()]:
            jobs.append(combo + list(more))
    return jobs


def resolved_job(overrides: list[str]) -> tuple[str, str]:
    """(run name, resolved YAML with its hash) of one job."""
    from hydra import compose
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from robustbench_runner.config import config_hash

    cfg = compose("config", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # ${hydra:...} interpolations resolve as in a run
    plain = OmegaConf.to_container(cfg, resolve=True)
    plain.pop("hydra", None)
    job = OmegaConf.create(plain)
    text = OmegaConf.to_yaml(job, sort_keys=True)
    return str(job.get("run_name", "run")), f"# config_hash: {config_hash(job)}\n{text}"


def snapshot_configs(tree: Path, out: Path, scales: list[str]) -> None:
    from hydra import initialize_config_dir

    import robustbench_runner.run  # noqa: F401  (registers every resolver rbr-run uses)

    repo = str(tree.resolve())
    with initialize_config_dir(config_dir=str(tree.resolve() / "conf"), version_base="1.3"):
        for scale in scales:
            commands = make_commands(tree, scale)
            base = out / "configs" / scale
            base.mkdir(parents=True, exist_ok=True)
            other = []
            n_jobs = 0
            for command in commands:
                command = command.replace(repo, "<repo>")
                overrides = rbr_run_overrides(command)
                if overrides is None:
                    other.append(command)
                    continue
                overrides = [o.replace("<repo>", repo) for o in overrides]
                for job in jobs_of(overrides):
                    name, text = resolved_job(job)
                    sweep = next((o.split("=", 1)[1] for o in job if o.startswith("sweep_name=")), "run")
                    path = base / sweep / f"{name}.yaml"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    text = text.replace(repo, "<repo>")
                    if path.exists() and path.read_text() != text:
                        path = path.with_name(f"{name}.{n_jobs}.yaml")  # same name, other config
                    path.write_text(text)
                    n_jobs += 1
            (base / "other_commands.txt").write_text("\n".join(other) + "\n")
            print(f"[configs] {scale}: {len(commands)} commands, {n_jobs} rbr-run jobs -> {base}")


def snapshot_tables(tables: Path, out: Path) -> None:
    n = 0
    for path in sorted(tables.rglob("*")):
        if path.is_file():
            dest = out / "tables" / path.relative_to(tables)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix in TABLE_SUFFIXES:
                shutil.copyfile(path, dest)
                n += 1
            else:
                dest.with_name(dest.name + ".listed").write_text("")
    print(f"[tables] {n} table files from {tables}")


# ---------------------------------------------------------------- compare
#: issue 14 renames the papers' letters A-E to their slugs, also in table titles and notes
LETTER_SLUGS = {"A": "prs", "B": "irat", "C": "samplerob", "D": "auc", "E": "vir"}


def letters_to_slugs(text: str) -> str:
    """``paper D`` -> ``paper auc``, ``papers B and E`` -> ``papers irat and vir``, ``paper_e`` -> ``vir``."""
    def letters(s: str) -> str:
        return re.sub(r"\b([A-E])\b", lambda k: LETTER_SLUGS[k.group(1)], s)

    text = re.sub(r"\b[Pp]apers [A-E](?:(?:, | and | or |/|-)[A-E])+\b", lambda m: letters(m.group(0)), text)
    text = re.sub(r"\b([Pp])aper [A-E](?![A-Za-z0-9])", lambda m: m.group(1) + "aper " + LETTER_SLUGS[m.group(0)[-1]], text)
    return re.sub(r"(?i:\bpaper[_-]([a-e]))(?![a-z0-9])", lambda m: LETTER_SLUGS[m.group(1).upper()], text)


def _normalized(text: str, renames: list[tuple[str, str]], ignore_hash: bool) -> str:
    for old, new in renames:
        text = text.replace(old, new)
    if ignore_hash:
        text = re.sub(r"^# config_hash: \w+\n", "", text, flags=re.M)
    return text


def compare(
    a: Path, b: Path, max_lines: int = 30, slugs: bool = False, renames: list[tuple[str, str]] = (), ignore_hash: bool = False
) -> int:
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    problems = 0
    renamed = 0
    for rel in sorted(files_a - files_b):
        print(f"only in {a}: {rel}")
        problems += 1
    for rel in sorted(files_b - files_a):
        print(f"only in {b}: {rel}")
        problems += 1
    same = 0
    for rel in sorted(files_a & files_b):
        ta, tb = (a / rel).read_bytes(), (b / rel).read_bytes()
        if ta == tb:
            same += 1
            continue
        text_a, text_b = ta.decode(errors="replace"), tb.decode(errors="replace")
        if slugs:
            text_a = letters_to_slugs(text_a)
        if renames or ignore_hash:
            text_a, text_b = _normalized(text_a, renames, ignore_hash), _normalized(text_b, [], ignore_hash)
        if (slugs or renames or ignore_hash) and text_a == text_b:
            renamed += 1
            continue
        problems += 1
        print(f"differs: {rel}")
        diff = difflib.unified_diff(
            ta.decode(errors="replace").splitlines(), tb.decode(errors="replace").splitlines(), lineterm="", n=1
        )
        for line in itertools.islice(diff, 2, 2 + max_lines):
            print("    " + line)
    by_kind = {}
    for rel in files_a & files_b:
        by_kind.setdefault(rel.parts[0], 0)
        by_kind[rel.parts[0]] += 1
    print(
        f"compared {len(files_a & files_b)} files present in both ({', '.join(f'{k}: {v}' for k, v in sorted(by_kind.items()))}); "
        f"{same} identical"
        + (f", {renamed} identical once normalized ({', '.join(_what(slugs, renames, ignore_hash))})" if (slugs or renames or ignore_hash) else "")
        + f", {problems} differences"
    )
    return 1 if problems else 0


def _what(slugs: bool, renames, ignore_hash: bool) -> list[str]:
    out = ["paper letters read as slugs"] if slugs else []
    out += [f"{len(renames)} renamed strings"] if renames else []
    return out + (["config_hash lines left out"] if ignore_hash else [])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    snap = sub.add_parser("snapshot", help="write the resolved configs (and tables) of a tree")
    snap.add_argument("--tree", type=Path, default=Path("."), help="the source tree (its conf/ and Makefile)")
    snap.add_argument("--out", type=Path, required=True)
    snap.add_argument("--scales", default=",".join(SCALES))
    snap.add_argument("--tables", type=Path, default=None, help="a tables folder to copy (e.g. outputs/tables)")
    snap.add_argument("--no-configs", action="store_true")
    cmp_ = sub.add_parser("compare", help="compare two snapshots")
    cmp_.add_argument("a", type=Path)
    cmp_.add_argument("b", type=Path)
    cmp_.add_argument("--slugs", action="store_true", help="also accept files that differ only in paper letters -> slugs")
    cmp_.add_argument("--rename", action="append", default=[], metavar="OLD=NEW", help="a moved module or renamed command: OLD in A reads as NEW")
    cmp_.add_argument("--renames-file", type=Path, help="OLD=NEW lines, as --rename (e.g. scripts/refactor_check_issue14_renames.txt)")
    cmp_.add_argument("--ignore-hash", action="store_true", help="leave the config_hash lines out (they follow from any renamed _target_)")
    args = ap.parse_args(argv)
    if args.cmd == "compare":
        lines = args.rename + (args.renames_file.read_text().splitlines() if args.renames_file else [])
        renames = [tuple(r.split("=", 1)) for r in lines if r.strip()]
        return compare(args.a, args.b, slugs=args.slugs, renames=renames, ignore_hash=args.ignore_hash)
    if args.out.exists() and any(args.out.iterdir()):
        print(f"error: {args.out} is not empty (choose a new folder)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("RBR_DATA", PAPER_DATA)
    if not args.no_configs:
        snapshot_configs(args.tree, args.out, [s for s in args.scales.split(",") if s])
    if args.tables is not None:
        snapshot_tables(args.tables, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
