"""The HTML leaderboard and a model page in headless Chromium: screenshots, every image loads,
every link resolves, the headline table sorts by a clicked column (skipped without Chromium)."""

from __future__ import annotations

import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import matplotlib.image
import matplotlib.pyplot as plt
import pytest

from bench.report import render
from bench.results import ResultsStore
from browser import IMAGE_CHECK, chromium, chromium_or_skip, console_errors, screenshot, with_script
from test_report import RANKED, results  # noqa: F401  (the hand-made results folder)

# After load: click the Model header (sorts descending by name), record the row order.
SORT_CHECK = """<script>window.addEventListener("load", () => {
const table = document.querySelector("table.headline"); table.querySelector("thead th").click();
document.body.setAttribute("data-order", [...table.tBodies[0].rows].map(r => r.cells[0].textContent.trim()).join(","));
});</script>"""


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        values = dict(attrs)
        self.ids.add(values.get("id") or "")
        if tag in ("a", "img"):
            self.refs.append(values["href" if tag == "a" else "src"])


def _unresolved(page: Path) -> list[str]:
    """Links and images of ``page`` that name no existing file (every one must be relative)."""
    refs = _Refs()
    refs.feed(page.read_text())
    bad = []
    for ref in refs.refs:
        target, _, _ = ref.partition("#")
        if re.match(r"[a-z]+:", ref) or (target and not (page.parent / unquote(target)).exists()):
            bad.append(ref)
    return bad


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 0.1, 0.3], [1.0, 0.5, 0.0], marker="o")
    fig.savefig(path)
    plt.close(fig)


@pytest.fixture
def pages(results: Path) -> Path:  # noqa: F811
    """The folder rendered, with a security curve and a gallery for ModelA as the harness writes them."""
    store = ResultsStore(results)
    _png(store.security_curve_plot("ModelA"))
    _png(store.analysis_dir() / "ModelA" / "gallery_pgd.png")
    render(results, ["html"])
    return results


def test_every_link_and_image_of_the_pages_resolves(pages: Path) -> None:
    model_page = pages / "models" / "ModelA.html"
    assert _unresolved(pages / "leaderboard.html") == [] and _unresolved(model_page) == []
    html = model_page.read_text()
    assert 'src="../plots/ModelA_security_curve.png"' in html and "gallery_pgd.png" in html
    assert all((pages / "models" / f"{m}.html").is_file() for m in RANKED)
    (page,) = [p for p in render(pages, ["html"]) if p.name == "leaderboard.html"]
    assert 'src="plots/robust_accuracy_vs_eps.png"' in page.read_text() and 'src="plots/transfer_xfer.png"' in page.read_text()


def test_pages_in_headless_chromium(pages: Path, tmp_path: Path) -> None:
    exe = chromium_or_skip()
    shots = Path(os.environ.get("BENCH_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    for page, name in ((pages / "leaderboard.html", "leaderboard.png"), (pages / "models" / "ModelA.html", "model_ModelA.png")):
        dom, stderr = chromium(exe, page.as_uri(), "--dump-dom")
        assert console_errors(stderr) == [], console_errors(stderr)
        checked = with_script(page, IMAGE_CHECK, "check.html")
        dom, _ = chromium(exe, checked.as_uri(), "--dump-dom")
        checked.unlink()
        body = re.search(r"<body[^>]*>", dom)
        assert body is not None
        images = page.read_text().count("<img ")
        assert images >= 2 and f'data-images="{images}"' in body.group(0)
        assert 'data-broken=""' in body.group(0), body.group(0)
        image = matplotlib.image.imread(screenshot(exe, page, shots / name))
        assert image.shape[0] > 1000 and image.shape[1] > 1000 and image[..., :3].std() > 0.05  # not a blank page
    sorted_page = with_script(pages / "leaderboard.html", SORT_CHECK, "sort.html")
    dom, stderr = chromium(exe, sorted_page.as_uri(), "--dump-dom")
    assert console_errors(stderr) == []
    assert 'data-order="ModelC,ModelB ⚠,ModelA"' in dom  # descending by name; before: ranked A, B, C
    if os.environ.get("BENCH_SCREENSHOTS"):
        shutil.copy(sorted_page, shots / "sorted.html")
    sorted_page.unlink()


def test_an_error_bar_is_drawn_for_proportions_only() -> None:
    """A median L2 of 1.3 has no [0, 1] scale: its interval stays in the text, no bar off the axis."""
    from bench.report.html_parts import ci_bar
    from bench.report.model import Figure

    assert ci_bar(Figure(value=0.5, n=10, lo=0.2, hi=0.8)).startswith("<svg")
    assert ci_bar(Figure(value=1.3, n=198, lo=1.18, hi=1.38, statistic="median")) == ""
