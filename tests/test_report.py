"""``curves.png`` per run and ``rbr-report`` (one static index.html per sweep)."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from robustbench_runner.plots import at_chance, chance_checkpoints, write_curves
from robustbench_runner.report import main as report_main
from robustbench_runner.results import RunFiles, RunIdentity
from robustbench_runner.summary import print_summary

EPS = [0.0, 0.1, 0.2, 0.3]


def make_run(root: Path, seed: int, epochs: int = 2, done: bool = True, chance: bool = False) -> RunFiles:
    """A run directory as rbr-run writes it (10 classes, an FGSM sweep and PGD-20)."""
    name = f"digits-cnn6-standard-s{seed}"
    files = RunFiles(root / name)
    files.dir.mkdir(parents=True)
    (files.dir / "run.json").write_text("{}")
    ident = RunIdentity(run=name, dataset="digits", model="cnn6", scheme="standard", seed=seed, batch_size=16, config_hash=f"h{seed}")
    for e in range(1, epochs + 1):
        files.add_train_log({"epoch": e, "loss": 2.0 / e, "acc": 0.5 + 0.2 * e, "lr": 0.001})
        clean = 0.1 if chance else 0.6 + 0.1 * e + 0.01 * seed
        acc = [clean] * 4 if chance else [clean * (1 - 2 * x) for x in EPS]
        rows = [{"attack": "clean", "eps": 0.0, "metric": "acc", "value": clean, "n": 300}]
        rows += [{"attack": "FGSM", "eps": x, "metric": "acc", "value": a, "n": 300} for x, a in zip(EPS, acc, strict=True)]
        rows += [{"attack": "FGSM", "eps": float("nan"), "metric": "auc_norm", "value": 1.0 if chance else 0.7, "n": 300}]
        rows += [{"attack": "PGD-20", "eps": 0.3, "metric": "acc", "value": acc[-1] * 0.8, "n": 300}]
        files.add_metrics(ident, e, f"epoch_{e:03d}", "test", rows)
    files.add_confusion(epochs, f"epoch_{epochs:03d}", "test", [{"attack": "FGSM", "eps": 0.0, "true": t, "pred": t, "count": 3} for t in range(10)])
    if done:
        files.done.write_text("finished\n")
    return files


def test_curves_png_and_chance_marking(tmp_path, capsys):
    good = make_run(tmp_path, 0)
    png = write_curves(good)
    assert png == good.dir / "curves.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert chance_checkpoints(good) == set()
    flat = make_run(tmp_path, 1, chance=True)
    assert chance_checkpoints(flat) == {"epoch_001", "epoch_002"}
    write_curves(flat)
    print_summary(flat)
    out = capsys.readouterr().out
    assert "at chance" in out and "R ~ 1.0 by its definition" in out
    print_summary(good)
    assert "at chance" not in capsys.readouterr().out


def test_at_chance_threshold():
    assert at_chance(0.11, 300, 10) and not at_chance(0.25, 300, 10)
    assert not at_chance(0.1, 300, None)


class Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.text, self.tables, self.imgs = [], 0, []

    def handle_starttag(self, tag, attrs):
        self.tables += tag == "table"
        if tag == "img":
            self.imgs.append(dict(attrs)["src"])

    def handle_data(self, data):
        self.text.append(data)


def make_sweep(tmp_path: Path) -> Path:
    sweep = tmp_path / "sweeps" / "s"
    for seed in (0, 1):
        write_curves(make_run(sweep, seed))
    make_run(sweep, 2, epochs=1, done=False)  # still running, no curves.png yet
    return sweep


def test_report_has_tables_sources_missing_runs_and_curves(tmp_path, capsys):
    sweep = make_sweep(tmp_path)
    report_main([str(sweep), "--table", "summary"])
    index = sweep / "report" / "index.html"
    assert str(index) in capsys.readouterr().out
    page = Text()
    page.feed(index.read_text())
    text = " ".join(page.text)
    assert "summary: mean ± std over seeds" in text
    assert "3 runs, 2 finished, 1 not finished" in text and "1 run(s) have not finished" in text
    assert "digits-cnn6-standard-s2" in text and "in progress" in text
    assert "runs behind each cell" in text and "digits-cnn6-standard-s0; digits-cnn6-standard-s1" in text
    assert page.tables >= 4  # runs, not finished, summary, sources
    assert len(page.imgs) == 3  # one curves picture per run
    for src in page.imgs:  # relative links that resolve on disk
        assert not src.startswith(("http", "/")) and (index.parent / src).is_file()
    assert (sweep / "report" / "curves" / "digits-cnn6-standard-s2.png").is_file()  # drawn for the run without one


def test_report_embed_is_self_contained(tmp_path):
    sweep = make_sweep(tmp_path)
    out = tmp_path / "rep"
    report_main([str(sweep), "--table", "summary", "--out", str(out), "--embed"])
    page = Text()
    page.feed((out / "index.html").read_text())
    assert page.imgs and all(s.startswith("data:image/png;base64,") for s in page.imgs)


def test_report_default_shows_only_filled_tables(tmp_path):
    sweep = make_sweep(tmp_path)
    report_main([str(sweep)])
    text = (sweep / "report" / "index.html").read_text()
    assert "summary: mean" in text and "table specs not shown" in text
    assert "irat/table1:" not in text.split("table specs not shown")[0]  # no cell of a paper irat table is filled


def test_report_without_runs_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        report_main([str(tmp_path)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rbr-report: error: no runs" in err


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian: apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(tmp_path):
    sweep = make_sweep(tmp_path)
    report_main([str(sweep), "--table", "summary"])
    url = (sweep / "report" / "index.html").resolve().as_uri()
    dom = subprocess.run([CHROMIUM, *FLAGS, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert "summary: mean ± std over seeds" in dom.stdout and "digits-cnn6-standard-s2" in dom.stdout
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--screenshot={shot}", "--window-size=1200,1600", url], capture_output=True, timeout=120)
    assert shot.exists()
    from matplotlib.image import imread

    img = imread(shot)
    assert img.shape[0] >= 1000 and img.shape[1] >= 1000
    assert img[..., :3].std() > 0.05  # not a blank page: text, table borders, pictures
