"""Every ``rbr-run ...`` command that README.md, docs/** and the comments of conf/** show must
compose: the config is built with Hydra's compose API (what ``rbr-run --cfg job`` prints),
resolved, and checked by ``config.validate`` — not run.

Extraction: lines of fenced code blocks that start with ``rbr-run`` (after optional
``VAR=value`` prefixes; ``\\`` continuations joined, ``# comments`` dropped), inline code spans
`` `rbr-run ...` `` (also across a line break), and ``rbr-run ...`` in YAML comments.
Placeholders are filled as a reader would: ``$SCALE`` -> smoke, ``<run>`` -> ``run`` (a value
to fill in: the command must compose with any value there), ``...`` (standing for "the options
above") dropped. In a ``-m`` sweep every value of each swept key is composed (the other
swept keys at their first value). Commands needing files of a worked example are listed in
:data:`SKIP` with the reason; tests/test_byo.py runs those as written.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

import robustbench_runner.config  # noqa: F401  (resolvers)
from robustbench_runner.config import validate
from robustbench_runner.run import CONF_DIR

REPO = Path(__file__).resolve().parent.parent
PAPERS = REPO / "robustbench_runner" / "papers"  # each paper bundle's docs pages and conf/
SOURCES = ["README.md", "REPRODUCE.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").rglob("*.md")),
           *sorted(str(p.relative_to(REPO)) for p in (REPO / "conf").rglob("*.yaml")),
           *sorted(str(p.relative_to(REPO)) for p in PAPERS.glob("*/*.md")),
           *sorted(str(p.relative_to(REPO)) for p in PAPERS.glob("*/conf/**/*.yaml"))]  # fmt: skip
SHELL_VARS = {"$SCALE": "smoke", "${SCALE}": "smoke"}
#: Commands that cannot be composed here, with the reason (matched by substring).
SKIP = {
    "--config-dir": "uses the user's own config folder of a worked example (tests/test_byo.py and tests/test_byo_walk.py run them as written)",
    "hydra.searchpath": "uses the user's own config folder of a worked example (tests/test_byo.py and tests/test_byo_walk.py run them as written)",
    "experiment=mypaper/": "the example bundle of docs/new_paper.md, attached with RBR_BUNDLES (tests/test_new_paper_bundle.py runs it)",
}
FLAGS_WITH_VALUE = {
    "--config-dir",
    "-cd",
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
    "--cfg",
    "-c",
    "--package",
    "-p",
}


def _md_commands(text: str) -> list[str]:
    out = []
    fence = False
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        if not fence:
            continue
        line = pending + line.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        cmd = _command_at_start(line)
        if cmd:
            out.append(cmd)
    # inline code spans, possibly broken over one line ending
    out += [" ".join(m.split()) for m in re.findall(r"`(rbr-run\b[^`]*)`", text)]
    return out


def _command_at_start(line: str) -> str | None:
    line = re.sub(r"^\$\s+", "", line)
    m = re.match(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)*(rbr-run\b.*)$", line)
    if not m:
        return None
    return re.sub(r"\s+#.*$", "", m.group(1)).strip()


def _yaml_commands(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        if "#" not in line or "rbr-run" not in line:
            continue
        comment = line.split("#", 1)[1]
        spans = re.findall(r"`(rbr-run\b[^`]*)`", comment)
        if spans:
            out += spans
            continue
        m = re.search(r"(rbr-run\b.*?)(?:\s{2,}\(|\s{2,}#|$)", comment)
        if m:
            out.append(m.group(1).strip())
    return out


def documented_commands() -> list[tuple[str, str]]:
    found: dict[str, str] = {}
    for rel in SOURCES:
        text = (REPO / rel).read_text()
        cmds = _yaml_commands(text) if rel.endswith(".yaml") else _md_commands(text)
        for c in cmds:
            c = c.rstrip(".,;:")
            if looks_like_command(c):
                found.setdefault(c, rel)
    return sorted((src, cmd) for cmd, src in found.items())


def looks_like_command(cmd: str) -> bool:
    """A command, not prose that names rbr-run ("rbr-run: error: ...", "rbr-run --help without
    the internal groups"): every word after ``rbr-run`` is a flag, a flag's value, an override
    (``key=value``, ``+key=...``, ``~key``) or ``...``."""
    words = cmd.split()
    if not words or words[0] != "rbr-run":
        return False
    after_flag = False
    for w in words[1:]:
        if after_flag:
            after_flag = False
            continue
        if w in FLAGS_WITH_VALUE:
            after_flag = True
            continue
        if not (w.startswith(("-", "~")) or "=" in w or w in ("...", "\\")):
            return False
    return True


COMMANDS = documented_commands()


def overrides_of(cmd: str) -> list[str]:
    for k, v in SHELL_VARS.items():
        cmd = cmd.replace(k, v)
    cmd = re.sub(r"<([\w ]+)>", lambda m: m.group(1).replace(" ", "_"), cmd)  # <run> -> run
    words = shlex.split(cmd)[1:]
    out, skip_next = [], False
    for w in words:
        if skip_next:
            skip_next = False
            continue
        if w in FLAGS_WITH_VALUE:
            skip_next = True
            continue
        if w.startswith("-") or w == "...":
            continue  # -m, --multirun, --resolve, --help; "..." = "the options above"
        out.append(w)
    return out


def expand_sweeps(overrides: list[str]) -> list[list[str]]:
    """One override list per value of each swept key (others at their first value)."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    base, sweeps = [], []
    for text, ov in zip(overrides, parsed, strict=True):
        if ov.is_sweep_override():
            key = text.split("=", 1)[0]
            values = [str(v) for v in ov.sweep_string_iterator()]
            sweeps.append((key, values))
        else:
            base.append(text)
    firsts = [f"{k}={vals[0]}" for k, vals in sweeps]
    combos = [base + firsts]
    for i, (k, vals) in enumerate(sweeps):
        for v in vals[1:]:
            combos.append(base + firsts[:i] + [f"{k}={v}"] + firsts[i + 1 :])
    return combos


def compose_and_check(overrides: list[str]) -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            "config",
            overrides=overrides,
            return_hydra_config="hydra/launcher=slurm" in overrides or None,
        )
    if "hydra" in cfg:
        OmegaConf.set_struct(cfg, False)
        assert cfg.hydra.launcher._target_.startswith("hydra_plugins.hydra_submitit_launcher")
        del cfg["hydra"]
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    validate(cfg)


def test_commands_are_found():
    """The extraction sees the commands it is meant to see (the README quickstart, a YAML
    comment, a paper's reproduce.md fenced block, an inline span broken over a line)."""
    cmds = [c for _, c in COMMANDS]
    assert "rbr-run scheme=trades scheme.beta=6 attacks=vir" in cmds
    assert "rbr-run +attack@attacks.pgd50=pgd attacks.pgd50.steps=50" in cmds
    assert "rbr-run -m experiment=irat/main" in cmds
    assert any(c.startswith("rbr-run -m scale=$SCALE experiment=vir/") for c in cmds)
    assert len(COMMANDS) >= 40


def test_the_old_attack_hint_is_gone_and_was_wrong():
    """conf/attacks/default.yaml used to show `+attacks/attack@attacks.x=pgd`, a group that
    does not exist; the documented form composes and adds the attack."""
    from hydra.errors import MissingConfigException

    assert not any("+attacks/attack@" in c for _, c in COMMANDS)
    with pytest.raises((MissingConfigException, Exception), match="attacks/attack"):
        compose_and_check(["+attacks/attack@attacks.x=pgd"])
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=["+attack@attacks.pgd50=pgd", "attacks.pgd50.steps=50"])
    assert cfg.attacks.pgd50.name == "PGD-50" and cfg.attacks.pgd50._target_.endswith("PGD")


def _marks(source: str):
    # The paper reproduction pages hold ~50 experiment sweeps (~0.6 s per composed config on
    # one core): they run with the slow tests; the README, docs/byo.md and conf/ comments (the
    # commands users copy first) in the fast suite.
    slow = source == "REPRODUCE.md" or source.endswith("/reproduce.md")
    return [pytest.mark.slow] if slow else []


@pytest.mark.parametrize(
    ("source", "cmd"),
    [pytest.param(s, c, marks=_marks(s), id=f"{s}: {c}"[:110]) for s, c in COMMANDS],
)
def test_documented_command_composes(source, cmd):
    reason = next((why for key, why in SKIP.items() if key in cmd), None)
    if reason:
        pytest.skip(reason)
    for overrides in expand_sweeps(overrides_of(cmd)):
        try:
            compose_and_check(overrides)
        except Exception as e:  # name the command and its source in the failure
            raise AssertionError(f"{source}: `{cmd}` does not compose with {overrides}: {e}") from e
