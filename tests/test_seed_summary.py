"""``rbr-report``'s own summary across seeds (issue 24 item 9): first on the page, mean and
sample std over seed replicates, band plots, and the reason when there are no replicates."""

from __future__ import annotations

import json
import statistics
from html.parser import HTMLParser
from pathlib import Path

from robustbench_runner.io import OUT_MANIFEST, atomic_write_text, read_manifest, recording
from robustbench_runner.report import main as report_main
from robustbench_runner.results import RunFiles, RunIdentity
from robustbench_runner.seed_summary import NO_REPLICATES, replicate_groups, seed_stats
from robustbench_runner.tables.runs import load_runs

EPS = [0.0, 0.1, 0.3]
EPOCHS = (1, 2)
ATTACK = "FGSM"


def acc(seed: int, epoch: int, eps: float) -> float:
    """The accuracy the fake run of ``seed`` reports (differs across seeds, epochs, eps)."""
    return round(0.5 + 0.1 * epoch - eps + 0.013 * seed * seed, 6)


def make_run(sweep: Path, seed: int, name: str | None = None, lr: float = 0.01) -> Path:
    """A finished run folder as rbr-run leaves it (run.json with its config record, metrics.csv, DONE),
    without training."""
    name = name or f"digits-cnn6-standard-s{seed}"
    d = sweep / name
    d.mkdir(parents=True)
    files = RunFiles(d)
    ident = RunIdentity(run=name, dataset="digits", model="cnn6", scheme="standard", seed=seed, batch_size=16, config_hash=f"h{seed}")
    with recording(d):
        config = {"name": name, "seed": seed, "optim": {"lr": lr}, "data": {"name": "digits"}, "model": {"name": "cnn6"}}
        atomic_write_text(d / "run.json", json.dumps({"config_hash": f"h{seed}", "config": config}))
        for e in EPOCHS:
            rows = [{"attack": ATTACK, "eps": x, "metric": "acc", "value": acc(seed, e, x), "n": 100} for x in EPS]
            rows += [{"attack": "clean", "eps": 0.0, "metric": "acc", "value": acc(seed, e, 0.0), "n": 100}]
            rows += [{"attack": ATTACK, "eps": 0.3, "metric": "loss", "value": 9.0 + seed, "n": 100}]  # not accuracy
            files.add_metrics(ident, e, f"epoch_{e:03d}", "test", rows)
        atomic_write_text(d / "DONE", "finished\n")
    return d


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.h2, self.imgs, self.text = [], [], []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        self._in_h2 = tag == "h2"
        if tag == "img":
            self.imgs.append(dict(attrs)["src"])

    def handle_endtag(self, tag):
        self._in_h2 = False if tag == "h2" else self._in_h2

    def handle_data(self, data):
        self.text.append(data)
        if self._in_h2:
            self.h2.append(data)


class Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str) -> list[list[str]]:
    cells = Cells()
    cells.feed(html)
    return [r for r in cells.rows if r]


def report(sweep: Path, capsys) -> tuple[str, Page, Path]:
    report_main([str(sweep)])
    capsys.readouterr()
    html = (sweep / "report" / "index.html").read_text()
    page = Page()
    page.feed(html)
    return html, page, sweep / "report"


def test_stats_are_mean_and_sample_std_over_seeds(tmp_path):
    seeds = [1, 2, 3]
    sweep = tmp_path / "seeds"
    for s in seeds:
        make_run(sweep, s)
    groups, no_config = replicate_groups(load_runs(sorted(sweep.iterdir())))
    assert no_config == 0 and len(groups) == 1 and len(groups[0]) == 3
    stats = seed_stats(groups[0])
    fgsm = stats[stats.attack == ATTACK]
    assert len(fgsm) == len(EPS) * len(EPOCHS)
    for e in EPOCHS:
        for x in EPS:
            row = fgsm[(fgsm.epoch == e) & (fgsm.eps == x)].iloc[0]
            values = [acc(s, e, x) for s in seeds]
            assert abs(row["mean"] - statistics.mean(values)) < 1e-12
            assert abs(row["std"] - statistics.stdev(values)) < 1e-12  # sample std (n-1)
            assert row["seeds"] == 3
    assert not (stats["mean"] > 5).any()  # the loss rows are not accuracy


def test_seeds_sweep_report_shows_the_summary_first_with_plots(tmp_path, capsys):
    seeds = [1, 2, 3]
    sweep = tmp_path / "seeds"
    for s in seeds:
        make_run(sweep, s)
    html, page, out = report(sweep, capsys)
    assert page.h2[0] == "Across seeds"
    text = " ".join(page.text)
    assert "3 seed replicates (seeds 1, 2, 3)" in text and NO_REPLICATES not in text
    # the page's table: every FGSM cell's mean and std as printed, against the inputs
    section = html.split('id="seeds"')[1].split('id="runs"')[0]
    rows = table_rows(section)
    assert rows[0] == ["attack", "eps", "epoch", "mean", "std", "seeds"]
    fgsm = [r for r in rows[1:] if r[0] == ATTACK]
    assert len(fgsm) == len(EPS) * len(EPOCHS)
    for _attack, x, e, mean, std, n in fgsm:
        values = [acc(s, int(e), float(x)) for s in seeds]
        assert abs(float(mean) - statistics.mean(values)) < 1e-5 and abs(float(std) - statistics.stdev(values)) < 1e-5 and int(n) == 3
    figs = sorted((out / "figures").glob("seeds_*.png"))
    assert [f.name for f in figs] == ["seeds_1.png"] and figs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "figures/seeds_1.png" in page.imgs
    assert "figures/seeds_1.png" in read_manifest(out, OUT_MANIFEST)


def test_unrelated_runs_say_why_no_summary(tmp_path, capsys):
    runs = tmp_path / "runs"
    make_run(runs, 0, lr=0.01)
    make_run(runs, 1, lr=0.1)  # another config, not a replicate
    html, page, out = report(runs, capsys)
    assert page.h2[0] == "Across seeds"
    assert f"No across-seed summary: {NO_REPLICATES}." in " ".join(page.text)
    assert not list((out / "figures").glob("seeds_*.png")) if (out / "figures").exists() else True
    single = tmp_path / "single"
    make_run(single, 4)
    _, page, _ = report(single, capsys)
    assert NO_REPLICATES in " ".join(page.text)


def test_run_names_are_escaped_in_the_summary(tmp_path, capsys):
    sweep = tmp_path / "seeds"
    bad = '<script>alert(1)</script>"x'
    for s in (0, 1):
        make_run(sweep, s, name=f"{bad}-s{s}")
    html, page, _ = report(sweep, capsys)
    section = html.split('id="seeds"')[1].split('id="runs"')[0]
    assert "<script>" not in html
    assert "&lt;script&gt;" in section
    assert any(bad in t for t in page.text)  # shown as text, not markup


def test_worst_case_does_not_hide_pgd20_in_the_seeds_plot(tmp_path, monkeypatch):
    """The across-seeds plot draws the worst case under the attack it equals (a wide pale
    line, labelled ``= PGD-20 at every epoch``), as each run's curves.png does (issue 24 #8)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from robustbench_runner import seed_summary

    rows = []
    for epoch, (fgsm, pgd) in {1: (0.30, 0.20), 2: (0.35, 0.25)}.items():
        for attack, eps, mean in [("clean", 0.0, 0.9), ("FGSM", 0.1, fgsm), ("PGD-20", 0.1, pgd), ("worst-case", 0.1, pgd)]:
            rows.append({"attack": attack, "eps": eps, "epoch": epoch, "mean": mean, "std": 0.01, "seeds": 3})
    kept = []
    monkeypatch.setattr(plt, "close", kept.append)  # keep the figure to look at it
    assert seed_summary.draw(pd.DataFrame(rows), tmp_path / "seeds.png", "3 seeds").exists()
    ax_e, ax_x = kept[0].axes
    for ax, x in ((ax_e, "epoch"), (ax_x, "eps")):
        lines = {ln.get_label(): ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}
        lines |= {c.get_label(): c.lines[0] for c in ax.containers}  # one-point series: error bars
        label, worst = next((label, ln) for label, ln in lines.items() if label.startswith("worst-case"))
        pgd = next(ln for label, ln in lines.items() if label.startswith("PGD-20"))
        assert f"(= PGD-20 at every {x})" in label, lines
        assert worst.get_zorder() < pgd.get_zorder()
        if x == "epoch":  # a line: wider than the attack's; one eps: a bigger marker
            assert worst.get_linewidth() > 2 * pgd.get_linewidth()
        else:
            assert worst.get_markersize() > 2 * pgd.get_markersize()
    monkeypatch.undo()
    plt.close("all")
