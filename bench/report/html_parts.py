"""What every HTML page of the report shares: the style, tables of pre-formatted cells, the 95%
interval drawn as an inline SVG error bar, and the small inline script that sorts a table by a
clicked column (no script or asset is fetched from anywhere)."""

from __future__ import annotations

from html import escape

from bench.report.model import Figure
from bench.report.text import Grid

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; }
table.sortable th { cursor: pointer; }
table.sortable th[aria-sort="descending"]::after { content: " ▼"; }
table.sortable th[aria-sort="ascending"]::after { content: " ▲"; }
p.legend { color: #555; max-width: 60em; }
ol.flags { color: #555; max-width: 60em; font-size: 0.9em; }
svg.ci { display: block; margin: 2px 0 0 auto; }
svg.ci line.axis { stroke: #ddd; stroke-width: 1; }
svg.ci line.bar { stroke: #36c; stroke-width: 2; }
svg.ci circle { fill: #036; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
table.card td, table.figures td:nth-child(-n+3) { text-align: left; }
table.figures td:nth-child(3) { white-space: nowrap; }
table.card td:first-child { white-space: nowrap; color: #555; }
"""

# Click a header of a table.sortable: rows sort by the cells' data-sort (numbers numerically,
# missing last), descending first, again for ascending.
SORT_SCRIPT = """
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach(table => {
    table.querySelectorAll("thead th").forEach((th, col) => th.addEventListener("click", () => {
      const down = th.getAttribute("aria-sort") !== "descending";
      table.querySelectorAll("thead th").forEach(h => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", down ? "descending" : "ascending");
      const key = row => { const c = row.cells[col]; return c.dataset.sort !== undefined ? c.dataset.sort : c.textContent.trim(); };
      const body = table.tBodies[0];
      const rows = [...body.rows].sort((a, b) => {
        const x = key(a), y = key(b);
        if (x === "" || y === "") return (x === "") - (y === "");
        const nx = Number(x), ny = Number(y);
        const cmp = !isNaN(nx) && !isNaN(ny) ? nx - ny : x.localeCompare(y);
        return down ? -cmp : cmp;
      });
      rows.forEach(r => body.appendChild(r));
    }));
  });
});
"""

CI_WIDTH, CI_HEIGHT = 80, 8


def ci_bar(fig: Figure) -> str:
    """The 95% interval of a proportion as an error bar on [0, 1], the value as a dot ('' without
    an interval, and for a mean or median distortion, which has no [0, 1] scale: its text says it)."""
    if fig.value is None or fig.lo is None or fig.hi is None or fig.statistic:
        return ""

    def at(v: float) -> str:
        return f"{2 + v * (CI_WIDTH - 4):.1f}"

    mid = CI_HEIGHT / 2
    return (f'<svg class="ci" width="{CI_WIDTH}" height="{CI_HEIGHT}" role="img" aria-label="95% interval {fig.lo:.3f} to {fig.hi:.3f}">'
            f'<line class="axis" x1="2" y1="{mid}" x2="{CI_WIDTH - 2}" y2="{mid}"/>'
            f'<line class="bar" x1="{at(fig.lo)}" y1="{mid}" x2="{at(fig.hi)}" y2="{mid}"/>'
            f'<circle cx="{at(fig.value)}" cy="{mid}" r="2"/></svg>')


def table(grid: Grid, css: str, cells: list[list[str]] | None = None, sort: list[list[str]] | None = None) -> str:
    """An HTML table of the grid's text. ``cells``: raw HTML per cell instead of the escaped text
    (same shape as the rows); ``sort``: each cell's sort key, making the table sortable."""
    header, rows = grid
    classes = f"{css} sortable" if sort is not None else css
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        tds = []
        for j, text in enumerate(row):
            content = cells[i][j] if cells is not None else escape(text)
            key = f' data-sort="{escape(sort[i][j])}"' if sort is not None else ""
            tds.append(f"<td{key}>{content}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>\n")
    return f'<table class="{classes}">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{"".join(body)}</tbody>\n</table>'


def sort_key(fig: Figure) -> str:
    return "" if fig.value is None else repr(fig.value)


def page(title: str, body: str, script: bool = False) -> str:
    head = f"<style>{STYLE}</style>\n" + (f"<script>{SORT_SCRIPT}</script>\n" if script else "")
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{escape(title)}</title>\n{head}</head>\n<body>\n{body}\n</body>\n</html>\n")
