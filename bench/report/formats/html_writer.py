"""Static HTML: ``leaderboard.html`` (the headline table, sortable by any column with a small
inline script, then every table of the Markdown leaderboard and the plots), a page per model
under ``models/``, and the plots under ``plots/``. Nothing is fetched from outside."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from bench.report import model_page, plots, text
from bench.report.html_parts import STYLE, ci_bar, page, sort_key, table
from bench.report.layout import threat_groups
from bench.report.model import Column, Report
from bench.report.writers import Files, writer

__all__ = ["STYLE", "body", "render"]


def _headline(report: Report, base: str) -> str:
    """The headline grid, sortable: model names link to their pages, figures carry error bars."""
    grid = text.headline_grid(report)
    columns = text.headline_columns(report)
    cells, sort = [], []
    for row, texts in zip(report.rows, grid[1]):
        link = f'<a href="{escape(base + model_page.href(row.model))}">{escape(texts[0])}</a>'
        figs = [row.figure(c.key) for c in columns]
        cells.append([link] + [escape(t) + ci_bar(f) for t, f in zip(texts[1:], figs)] + [escape(t) for t in texts[1 + len(figs):]])
        sort.append([row.model] + [sort_key(f) for f in figs] + [str(len(row.flags))] * (len(texts) - 1 - len(figs)))
    return table(grid, "headline", cells=cells, sort=sort)


def _columns(report: Report, columns: list[Column]) -> str:
    grid = text.columns_grid(report, columns)
    cells = [[escape(texts[0])] + [escape(t) + ci_bar(row.figure(c.key)) for t, c in zip(texts[1:], columns)]
             for row, texts in zip(report.rows, grid[1])]
    return table(grid, "leaderboard", cells=cells)


def _img(src: str, alt: str, caption: str) -> str:
    return f'<figure><img src="{escape(quote(src))}" alt="{escape(alt)}"><figcaption>{escape(caption)}</figcaption></figure>'


def body(report: Report, base: str = "", heading: int = 1) -> str:
    """The leaderboard page's body; ``base`` prefixes every link (the results folder as seen from
    the page that embeds it), ``heading`` is the level of its title."""
    h1, h2 = f"h{heading}", f"h{heading + 1}"
    parts = [f"<{h1}>{escape(text.title(report))}</{h1}>", f"<p>{escape(text.ranking(report))} Click a header to sort.</p>",
             _headline(report, base), f'<p class="legend">{escape(text.legend(report))}</p>']
    notes = text.flag_notes(report)
    if notes:
        items = "".join(f'<li><a href="{escape(base + model_page.href(m))}">{escape(m)}</a>: {escape(flag)}</li>\n'
                        for _, m, flag in notes)
        parts.append(f'<ol class="flags">\n{items}</ol>')
    if report.audits:
        items = "".join(f'<li><a href="{escape(base + model_page.href(m))}">{escape(m)}</a> {escape(label)}: {escape(found)}</li>\n'
                        for m, label, found in report.audits)
        parts.append(f'<p class="audits">{escape(text.AUDITS_INTRO)}:</p>\n<ul class="audits">\n{items}</ul>')
    if plots.eps_curves(report):
        parts += [f"<{h2}>Robust accuracy vs ε</{h2}>",
                  _img(base + plots.ROBUST_VS_EPS, "robust accuracy vs eps, every model",
                       "Each model's clean accuracy (ε = 0), then its worst case at each ε of the suite's worst cases (a suite "
                       "without them: the lowest robust accuracy of its L∞ attacks at each ε); bars: 95% intervals.")]
    for h in report.headlines:
        parts += [f'<{h2}>Robustness at reference strength: <a href="{escape(base)}../{escape(quote(h.folder))}/leaderboard.html">'
                  f"{escape(h.suite)}</a></{h2}>",
                  f"<p>This suite's columns are its protocol's attacks; a model's robustness is the worst case over a "
                  f"reference-strength battery, {escape(h.suite)}'s.</p>", table(text.reference_grid(h), "reference")]
    for name, columns in threat_groups(report):
        parts += [f"<{h2}>{escape(name)}</{h2}>", _columns(report, columns)]
    for t in report.transfers:
        parts += [f"<{h2}>{escape(text.transfer_title(t))}</{h2}>", table(text.transfer_grid(t), "transfer"),
                  _img(base + plots.transfer_plot(t), f"transfer heat map {t.label}", "The matrix above as a heat map.")]
    parts += [f"<{h2}>Timing (wall time, examples per second)</{h2}>", table(text.timing_grid(report, report.of_role("attack")), "timing"),
              f"<{h2}>Provenance</{h2}>", table((["field", "value"], [list(p) for p in text.provenance(report)]), "provenance")]
    models = report.run.get("models")
    if isinstance(models, dict) and models:  # checkpoint hashes from run.json tie each row to exact weights
        parts.append(table((["model", "checkpoint sha256"], [[str(m), str(s)] for m, s in models.items()]), "models"))
    return "\n".join(parts)


def pages(report: Report) -> Files:
    """A page per model and the plots the leaderboard page shows."""
    files: Files = {model_page.page_path(row.model): model_page.render(report, row) for row in report.rows}
    curve = plots.robust_vs_eps(report)
    if curve is not None:
        files[plots.ROBUST_VS_EPS] = curve
    for t in report.transfers:
        files[plots.transfer_plot(t)] = plots.transfer_heatmap(t)
    return files


@writer("html", "static HTML: sortable headline table, a page per model, plots (robust accuracy vs eps, transfer heat maps)",
        pages=pages, order=3)
def render(report: Report) -> str:
    return page(text.title(report), body(report), script=True)
