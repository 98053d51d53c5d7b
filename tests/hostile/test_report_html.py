"""``rbr-report``'s page cannot be turned against the colleague who opens it (issue 21:
"a run name with a quote injects an event handler"; "``--embed`` follows a symlinked
``curves.png`` and embeds any file's content").

Generated run names full of markup characters (quotes, ``<``, ``>``, ``&``, ``=``, spaces,
``onerror=``...) become run folders of a sweep; the page is parsed with ``html.parser`` and
must hold only the tags and attributes the template writes, no ``on*`` handler, no script,
every ``src`` a relative file link or a PNG data URI, and each run name back as plain text.
A ``curves.png`` that is a symlink, not a PNG, or not in the run's manifest is never linked
or embedded.
"""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hostile_kit import fast, plant
from hypothesis import given
from hypothesis import strategies as st
from run_folder_kit import SECRET, TINY_PNG, make_run, make_sweep, outside_file

from robustbench_runner.report import main as report_main

#: rbr-report reads run PNGs only through these
READERS = ["reading.read_bytes", "reading.open_regular"]

TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "span", "nav", "a", "table", "thead",
        "tbody", "tr", "th", "td", "img", "div", "details", "summary", "ul", "li", "em"}  # fmt: skip
ATTRS = {"charset", "href", "id", "class", "alt", "src", "border", "style", "halign", "valign"}


class Page(HTMLParser):
    """Every start tag with its attributes, and the text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


def parse(index: Path) -> Page:
    page = Page()
    page.feed(index.read_text())
    page.close()
    return page


def assert_inert(page: Page, out: Path) -> None:
    for tag, attrs in page.tags:
        assert tag in TAGS, f"unexpected tag <{tag}>"
        for name, value in attrs.items():
            assert name in ATTRS and not name.startswith("on"), f"injected attribute {name}={value!r} on <{tag}>"
        if tag == "img":
            src = attrs["src"]
            assert src.startswith("data:image/png;base64,") or ((out / src).is_file() and not src.startswith(("/", "javascript:", "http"))), src
        if tag == "a":
            assert attrs["href"].startswith("#"), attrs
        if tag == "style":
            assert not attrs


# markup characters and letters; no "/" or NUL (they cannot be in a folder name)
PIECES = st.sampled_from(list("'\"<>&=; aZ9-_.()!`") + ["onerror=", "<script>", "\u00e9", "\u202e", "' onmouseover='"])
NAMES = st.lists(PIECES, min_size=1, max_size=12).map("".join).filter(
    lambda s: s.strip(" .") and not s.strip().startswith("-") and len(s.encode()) < 200
)


@fast
@given(names=st.lists(NAMES, min_size=1, max_size=3, unique_by=lambda s: s.strip()))
def test_run_names_cannot_inject_markup(tmp_path_factory, names):
    root = tmp_path_factory.mktemp("names")
    sweep = make_sweep(root, names=[n.strip() for n in names])
    out = root / "rep"
    for embed in (False, True):
        report_main([str(sweep), "--table", "summary", "--out", str(out), *(["--embed"] if embed else [])])
        page = parse(out / "index.html")
        assert_inert(page, out)
        text = "".join(page.text)
        for n in names:
            assert n.strip() in text  # shown, as text
        assert len(curves(page)) == len(names)  # one per run (the seed summary's figure aside)


def test_a_quote_in_a_run_name_is_no_event_handler(tmp_path):
    """The reported case, written out: a run folder named ``x' onmouseover='alert(1)``."""
    name = "x' onmouseover='alert(1)"
    sweep = make_sweep(tmp_path, names=[name, 'y" onerror="alert(2)'])
    out = tmp_path / "rep"
    report_main([str(sweep), "--table", "summary", "--out", str(out)])
    page = parse(out / "index.html")
    assert_inert(page, out)
    assert any(t == "img" and name in a["src"] for t, a in page.tags)  # the quote stayed inside the src value


def curves(page: Page) -> list[str]:
    return [a["src"] for t, a in page.tags if t == "img" and a.get("alt", "").startswith("curves of")]


@pytest.mark.parametrize("embed", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_symlinked_curves_png_is_refused_with_a_warning(tmp_path, capsys, embed):
    sweep = make_sweep(tmp_path)
    bad = sweep / "digits-cnn6-standard-s1"
    secret = outside_file(tmp_path)
    plant(bad / "curves.png", "symlink_outside", outside=secret)  # listed in the manifest: the run wrote a curves.png
    out = tmp_path / "rep"
    report_main([str(sweep), "--table", "summary", "--out", str(out), *(["--embed"] if embed else [])])
    err = capsys.readouterr().err
    warnings = [ln for ln in err.splitlines() if "WARNING" in ln]
    assert len(warnings) == 1 and "curves.png" in warnings[0] and "symbolic link" in warnings[0], err
    html = (out / "index.html").read_text()
    assert SECRET not in html
    srcs = curves(parse(out / "index.html"))
    assert len(srcs) == 2
    for s in srcs:
        if s.startswith("data:"):
            assert SECRET.encode() not in base64.b64decode(s.split(",", 1)[1])
    if not embed:
        assert not any("digits-cnn6-standard-s1/curves.png" in s for s in srcs)  # drawn into the report instead
        assert (out / "curves" / "digits-cnn6-standard-s1.png").is_file()
    with pytest.raises(SystemExit) as e:
        report_main([str(sweep), "--table", "summary", "--out", str(out), "--strict"])
    assert e.value.code == 1


def test_curves_png_not_in_the_manifest_or_not_a_png_is_never_embedded(tmp_path, capsys):
    sweep = make_sweep(tmp_path, n=3)
    not_listed = sweep / "digits-cnn6-standard-s0"
    manifest = not_listed / ".rbr-manifest"
    manifest.write_text("".join(ln + "\n" for ln in manifest.read_text().split() if ln != "curves.png"))
    (not_listed / "curves.png").write_bytes(TINY_PNG + SECRET.encode())  # planted after the run
    fake = sweep / "digits-cnn6-standard-s1" / "curves.png"
    fake.unlink()
    fake.write_bytes(b"<svg onload=alert(1)>" + SECRET.encode())  # listed, but not a PNG
    out = tmp_path / "rep"
    report_main([str(sweep), "--table", "summary", "--out", str(out), "--embed"])
    err = capsys.readouterr().err
    warnings = [ln for ln in err.splitlines() if "WARNING" in ln]
    assert len(warnings) == 1 and "not a PNG" in warnings[0], err  # the unlisted one is redrawn silently
    page = parse(out / "index.html")
    srcs = curves(page)
    assert len(srcs) == 3 and all(s.startswith("data:image/png;base64,") for s in srcs)
    for s in srcs:
        assert SECRET.encode() not in base64.b64decode(s.split(",", 1)[1])
    good = sweep / "digits-cnn6-standard-s2" / "curves.png"
    assert any(base64.b64decode(s.split(",", 1)[1]) == good.read_bytes() for s in srcs)  # the intact one is the run's own


def test_a_run_without_curves_png_gets_drawn_curves(tmp_path):
    sweep = tmp_path / "sweep"
    d = make_run(sweep, "r-s0")
    (d / "curves.png").unlink()
    out = tmp_path / "rep"
    report_main([str(sweep), "--table", "summary", "--out", str(out)])
    srcs = curves(parse(out / "index.html"))
    assert srcs == ["curves/r-s0.png"] and (out / srcs[0]).read_bytes()[:8] == TINY_PNG[:8]
