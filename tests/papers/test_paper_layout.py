"""One home and one name per paper: every slug of ``robustbench_runner.papers.SLUGS`` is one
bundle folder (package, configs, stages, documents; tests under tests/papers/<slug>/) where its
package docstring says, the bundle scan finds exactly these, and
no file of the project still calls a paper by a letter (``paper A``, ``paper_e``,
``PAPER_C_...``) or by a seed-file number (``Seed 003``)."""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path

import pytest

from robustbench_runner.papers import SLUGS

REPO = Path(__file__).resolve().parents[2]
#: the places every paper has, as its package docstring names them
#: (paths that start with neither robustbench_runner/ nor tests/ are inside the bundle folder)
PLACES = (
    "robustbench_runner/papers/{slug}/",
    "conf/experiment/{slug}/",
    "conf/scale/smoke/{slug}/",
    "table_specs/",
    "stages.yaml",
    "README.md",
    "reproduce.md",
    "tests/papers/{slug}/",
)
#: papers with an evaluation attack suite of their own (samplerob judges clean LOSS / ACC)
ATTACK_SUITES = {"prs", "irat", "auc", "vir"}
#: folders and files that must not call a paper by a letter or a seed number
SCANNED = ("conf", "mk", "robustbench_runner", "docs", "README.md", "REPRODUCE.md", "CITATION.cff")
TEXT_SUFFIXES = {".py", ".yaml", ".yml", ".md", ".mk", ".txt", ".toml", ".cfg", ".cff"}
#: "paper A", "Paper E's"; "paper_e", "paper-c", "PAPER_C_SIZES" (a letter a-e not followed by
#: a letter or digit, so PAPER_DATA is not one); "papers B and E", "papers A, C and D",
#: "papers A-E"; "Seed 003" (the seed files' numbers)
LETTER = re.compile(
    r"\b[Pp]aper [A-E](?![A-Za-z0-9])"
    r"|(?i:\bpaper[_-][a-e](?![a-z0-9]))"
    r"|\b[Pp]apers [A-E](?:(?:, | and | or |/|-)[A-E])+\b"
    r"|(?i:\bseed[ _-]?0\d\d\b)"
)


def where_it_lives(slug: str) -> str:
    doc = importlib.import_module(f"robustbench_runner.papers.{slug}").__doc__ or ""
    assert "\nWhere it lives:\n" in doc, f"robustbench_runner/papers/{slug}/__init__.py: no 'Where it lives:' list"
    return doc.split("\nWhere it lives:\n", 1)[1]


def test_the_paper_packages_are_the_slugs():
    packages = sorted(p.name for p in (REPO / "robustbench_runner" / "papers").iterdir() if (p / "__init__.py").is_file())
    assert packages == sorted(SLUGS)
    from robustbench_runner.bundles import bundles

    shipped = {s: b for s, b in bundles().items() if b.source == "package"}
    assert sorted(shipped) == sorted(SLUGS)
    for slug, b in shipped.items():  # each bundle's configs are its own paper's only
        assert sorted(p.name for p in (b.conf / "experiment").iterdir()) == [slug]
        assert b.table_dir == b.root / "table_specs" and b.table_dir.is_dir() and not (b.conf / "table").exists()
    # the package's own conf/ keeps no paper's experiments, and no conf/ holds table specs
    # (rbr-tables' input, not choices of a run: off Hydra's search path)
    assert not list((REPO / "conf").glob("experiment/**/*.yaml")) and not (REPO / "conf" / "table").exists()
    assert len(set(SLUGS)) == len(SLUGS) and all(re.fullmatch(r"[a-z][a-z0-9]*", s) for s in SLUGS)


@pytest.mark.parametrize("slug", SLUGS)
def test_each_paper_lives_where_its_package_says(slug):
    section = where_it_lives(slug)
    wanted = [p.format(slug=slug) for p in PLACES]
    if slug in ATTACK_SUITES:
        wanted.append(f"conf/attacks/{slug}.yaml")
    named = re.findall(r"``([\w./<>-]+)``", section)
    missing_from_doc = [w for w in wanted if w not in named]
    assert not missing_from_doc, f"papers/{slug}/__init__.py does not name {missing_from_doc}"
    bundle = REPO / "robustbench_runner" / "papers" / slug
    paths = [n for n in named if ("/" in n or n.endswith((".md", ".yaml"))) and "<" not in n]
    absent = [p for p in paths if not ((REPO if p.startswith(("robustbench_runner/", "tests/")) else bundle) / p).exists()]
    assert not absent, f"papers/{slug}/__init__.py names places that do not exist: {absent}"
    if slug not in ATTACK_SUITES:
        assert not (bundle / "conf" / "attacks").exists(), "add the suite to ATTACK_SUITES"


def test_letter_pattern_finds_letters_and_spares_slugs():
    hits = ["paper A", "paper D's eq. 1", "attacks=paper_e", "paper_e_blackbox", "PAPER_C_SIZES",
            "Paper-B", "papers B and E", "papers A, C and D", "papers A-E", "(Seed 003)"]  # fmt: skip
    misses = ["paper prs", "paper auc's eq. 1", "attacks=vir", "PAPER_DATA", "paper scale",
              "papers irat and vir", "the paper a reader", "seed 0", "seed 907", "papers_by_slug"]  # fmt: skip
    assert [h for h in hits if not LETTER.search(h)] == []
    assert [m for m in misses if LETTER.search(m)] == []


def test_no_file_calls_a_paper_by_its_letter():
    found = []
    for folder in SCANNED:
        walk = os.walk(REPO / folder) if (REPO / folder).is_dir() else [(str(REPO), [], [folder])]
        for root, dirs, files in walk:  # does not follow robustbench_runner/conf -> conf
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(dirs + files):
                path = Path(root) / name
                rel = path.relative_to(REPO).as_posix()
                if LETTER.search(name):
                    found.append(f"{rel} (file name)")
                if name not in files or path.suffix not in TEXT_SUFFIXES or path.is_symlink():
                    continue
                for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                    m = LETTER.search(line)
                    if m:
                        found.append(f"{rel}:{n}: {m.group(0)!r}")
    assert not found, f"{len(found)} paper letters or seed numbers (use the slugs {', '.join(SLUGS)}):\n" + "\n".join(found)
