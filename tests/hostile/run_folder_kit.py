"""A valid, finished run folder as ``rbr-run`` leaves it, and the ways a careless or malicious
collaborator can damage one (issue 21: shared run folders).

:func:`make_run` writes ``metrics.csv`` (through the package's own writer), ``config.yaml``,
``run.json`` (the config record the tables read), ``DONE`` and a ``curves.png``, every file recorded in the run's manifest as a
real run records them (``io.recording``). :data:`MUTATIONS` then damages one file of it:
each mutation is ``name -> function(run_dir, outside) -> description``, ``outside`` a file
outside the sweep that must never be read into an output (a "secret").

The readers that must survive these are the table core's (``tables.runs`` through
``reading.load_json``/``read_bytes``; ``reading.load_yaml`` for a legacy run's ``data.root``)
and ``rbr-report``'s. :data:`CONFIG_YAML_DAMAGES` damage the file the tables do not read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hostile_kit import plant, yaml_bomb

from robustbench_runner.io import atomic_write_bytes, atomic_write_text, recording
from robustbench_runner.results import RunFiles, RunIdentity

#: the smallest valid PNG (a 1x1 grey pixel): the kit's stand-in for a drawn curves.png
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010800000000"
    "3a7e9b550000000a4944415478da63680000000201010048af9d0a0000000049454e44ae426082"
)
SECRET = "TOP-SECRET-CANARY-7f3a"  # the content of the file outside the sweep


def make_run(sweep: Path, name: str, seed: int = 0, *, done: bool = True, value: float = 0.8, tag: str | None = None) -> Path:
    """A finished run ``sweep/name`` with two metrics rows per epoch (clean and PGD-20)."""
    d = Path(sweep) / name
    d.mkdir(parents=True)
    files = RunFiles(d)
    ident = RunIdentity(run=name, dataset="digits", model="cnn6", scheme="standard", seed=seed, batch_size=16, config_hash=f"h{seed}")
    with recording(d):
        atomic_write_text(d / "config.yaml", f"name: {json.dumps(name, ensure_ascii=False)}\nseed: {seed}\ntag: {json.dumps(tag, ensure_ascii=False)}\ndata:\n  name: digits\nmodel:\n  name: cnn6\n")
        config = {"name": name, "seed": seed, "tag": tag, "data": {"name": "digits"}, "model": {"name": "cnn6"}}
        atomic_write_text(d / "run.json", json.dumps({"config_hash": f"h{seed}", "config": config, "data_source": {"standin": False}}))
        for e in (1, 2):
            rows = [{"attack": "clean", "eps": 0.0, "metric": "acc", "value": value, "n": 100},
                    {"attack": "PGD-20", "eps": 0.3, "metric": "acc", "value": value / 2, "n": 100}]  # fmt: skip
            files.add_metrics(ident, e, f"epoch_{e:03d}", "test", rows)
        atomic_write_bytes(d / "curves.png", TINY_PNG)
        if done:
            atomic_write_text(d / "DONE", "finished\n")
    return d


def make_sweep(root: Path, n: int = 2, names: list[str] | None = None) -> Path:
    """``root/sweep`` with ``n`` finished seed replicates (or runs named ``names``)."""
    sweep = Path(root) / "sweep"
    for i, name in enumerate(names or [f"digits-cnn6-standard-s{s}" for s in range(n)]):
        make_run(sweep, name, seed=i)
    return sweep


def outside_file(root: Path) -> Path:
    """A file outside the sweep whose content must never reach an output."""
    p = Path(root) / "elsewhere" / "secret.png"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(TINY_PNG + SECRET.encode())
    return p


def _rewrite(path: Path, text: str | bytes) -> None:
    path.unlink()
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)


#: Damages of ``config.yaml`` (YAML the tables no longer read: their config record is
#: ``run.json``; a run written before ``run.json`` recorded ``data_source`` has its
#: ``config.yaml`` read for ``data.root`` alone). name -> function(run_dir, outside) -> description.
def _bomb(d: Path, outside: Path) -> str:
    _rewrite(d / "config.yaml", yaml_bomb())
    return "config.yaml is a YAML alias bomb"


def _python_tag(d: Path, outside: Path) -> str:
    _rewrite(d / "config.yaml", f"a: !!python/object/apply:os.system ['touch {outside.parent}/canary']\n")
    return "config.yaml holds a python tag"


CONFIG_YAML_DAMAGES = {
    "yaml_bomb": _bomb,
    "python_tag": _python_tag,
    "config.yaml_fifo": lambda d, outside: plant(d / "config.yaml", "fifo", outside=outside),
    "config.yaml_symlink_outside": lambda d, outside: plant(d / "config.yaml", "symlink_outside", outside=outside),
}


def _run_json(d: Path, **fields) -> dict:
    return {**json.loads((d / "run.json").read_text()), **fields}


def _config_list(d: Path, outside: Path) -> str:
    _rewrite(d / "run.json", json.dumps(_run_json(d, config=[1, 2])))
    return "run.json's config is a list"


def _config_deep(d: Path, outside: Path) -> str:
    _rewrite(d / "run.json", json.dumps(_run_json(d, config={"a": 0})).replace('{"a": 0}', '{"a": ' + "[" * 5000 + "]" * 5000 + "}"))
    return "run.json's config nests 5000 levels"


def _json_too_big(d: Path, outside: Path) -> str:
    _rewrite(d / "run.json", json.dumps(_run_json(d)) + " " * (16 * 1024 * 1024))
    return "run.json is over 16 MiB"


def _json_binary(d: Path, outside: Path) -> str:
    _rewrite(d / "run.json", b"\xff\xfe\x00garbage")
    return "run.json is not UTF-8"


def _json_nan(d: Path, outside: Path) -> str:
    _rewrite(d / "run.json", '{"a": NaN}')
    return "run.json holds NaN"


def _json_deep(d: Path, outside: Path) -> str:
    _rewrite(d / "run.json", "[" * 100_000 + "]" * 100_000)
    return "run.json nests 100000 levels"


def _json_list(d: Path, outside: Path) -> str:
    _rewrite(d / "run.json", "[1, 2]")
    return "run.json holds a list"


def _metrics_text(d: Path, outside: Path) -> str:
    text = (d / "metrics.csv").read_text().splitlines(keepends=True)
    head = text[0].split(",")
    cells = text[1].split(",")
    cells[head.index("value")] = "=cmd|' /C calc'!A0"
    _rewrite(d / "metrics.csv", "".join([text[0], ",".join(cells), *text[2:]]))
    return "metrics.csv holds a formula where a number belongs"


def _metrics_empty(d: Path, outside: Path) -> str:
    _rewrite(d / "metrics.csv", "")
    return "metrics.csv is empty"


def _metrics_no_column(d: Path, outside: Path) -> str:
    lines = (d / "metrics.csv").read_text().splitlines()
    head = lines[0].split(",")
    i = head.index("value")
    _rewrite(d / "metrics.csv", "\n".join(",".join(c for j, c in enumerate(ln.split(",")) if j != i) for ln in lines) + "\n")
    return "metrics.csv lacks its value column"


def _plant(name: str, kind: str):
    def mutate(d: Path, outside: Path) -> str:
        return plant(d / name, kind, outside=outside)

    mutate.__name__ = f"{name}_{kind}"
    return mutate


def _unreadable_folder(d: Path, outside: Path) -> str:
    d.chmod(0)
    return f"{d.name} cannot be listed"


#: mutation name -> function(run_dir, outside) -> description. Each leaves the run unusable
#: (it must be skipped with one warning line naming it, never read, never a hang).
MUTATIONS = {
    "config_list": _config_list,
    "config_deep": _config_deep,
    "json_too_big": _json_too_big,
    "json_binary": _json_binary,
    "json_nan": _json_nan,
    "json_deep": _json_deep,
    "json_list": _json_list,
    "metrics_formula": _metrics_text,
    "metrics_empty": _metrics_empty,
    "metrics_no_column": _metrics_no_column,
    **{f"{n}_{k}": _plant(n, k) for n in ("run.json", "metrics.csv") for k in ("fifo", "folder", "symlink_outside")},
    **{f"{n}_unreadable": _plant(n, "unreadable") for n in ("run.json", "metrics.csv")},
    "folder_unreadable": _unreadable_folder,
}
NEEDS_NON_ROOT = {k for k in MUTATIONS if k.endswith("unreadable")}


def restore_permissions(root: Path) -> None:
    """Give back read/list permission under ``root`` (so pytest can delete tmp_path)."""
    for dirpath, dirnames, filenames in os.walk(root):  # top-down: a folder is opened up before it is listed
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            if not p.is_symlink():
                p.chmod(0o700)
