"""One static HTML page per analysis run: the run's leaderboard (rendered by bench.report, so it is
the same table as `bench leaderboard`), then per model every figure and table. Images are PNG
files beside the page, linked by relative paths; the page has no scripts and no external assets."""

from __future__ import annotations

import os
from html import escape
from pathlib import Path
from urllib.parse import quote

from bench.analysis.common import Section, Table
from bench.report import build
from bench.report.formats import html_writer as leaderboard_html

STYLE = leaderboard_html.STYLE + """
nav a { margin-right: 1em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, p.note { color: #555; max-width: 70em; font-size: 0.9em; }
section.model { border-top: 2px solid #ccc; margin-top: 2em; }
details summary { cursor: pointer; color: #333; }
"""


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>\n" for row in table.rows)
    html = f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>"
    if table.note:
        html += f'\n<p class="note">{escape(table.note)}</p>'
    if table.collapsed:
        return f"<details><summary>{escape(table.title)} ({len(table.rows)} rows)</summary>\n{html}\n</details>"
    return f"<h4>{escape(table.title)}</h4>\n{html}"


def _section(section: Section) -> str:
    parts = [f"<h3>{escape(section.title)}</h3>"]
    for fig in section.figures:
        parts.append(f'<figure><img src="{escape(quote(fig.path))}" alt="{escape(fig.caption)}">'
                     f"<figcaption>{escape(fig.caption)}</figcaption></figure>")
    parts += [_table(t) for t in section.tables]
    parts += [f'<p class="note">{escape(n)}</p>' for n in section.notes]
    return "\n".join(parts)


def _leaderboard(results: Path, root: Path) -> str:
    """The body of the leaderboard page, headings one level down to nest under ours, its links
    (model pages, plots) relative to this page's folder."""
    from bench.report import render

    render(results, ["html"])  # the model pages and plots the body links to (unchanged files stay untouched)
    base = Path(os.path.relpath(results, root)).as_posix() + "/"
    return leaderboard_html.body(build(results), base=base, heading=2)


def anchor(model_id: str) -> str:
    return "model-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in model_id)


def render(root: Path, sections: dict[str, list[Section]], results: Path | None = None) -> Path:
    """Write ``root/index.html`` for the analysed models (and the run's leaderboard); return it."""
    title = f"Analysis: {results.name if results else ', '.join(sections)}"
    nav = " ".join(f'<a href="#{anchor(m)}">{escape(m)}</a>' for m in sections)
    parts = [f"<h1>{escape(title)}</h1>", f"<nav>{nav}</nav>"]
    if results is not None:
        parts.append(f'<section id="leaderboard">\n{_leaderboard(results, root)}\n</section>')
    for model_id, model_sections in sections.items():
        body = "\n".join(_section(s) for s in model_sections)
        parts.append(f'<section class="model" id="{anchor(model_id)}">\n<h2>{escape(model_id)}</h2>\n{body}\n</section>')
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<link rel="icon" href="data:,">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n" + "\n".join(parts) + "\n</body>\n</html>\n"
    )
    root.mkdir(parents=True, exist_ok=True)
    path = root / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
