"""One static, self-contained HTML page (inline CSS, no scripts or external assets)."""

from __future__ import annotations

from html import escape

from bench.report.tables import (
    Grid,
    Report,
    flag_notes,
    leaderboard_grid,
    legend,
    provenance,
    timing_grid,
    transfer_grid,
    transfer_title,
)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; }
p.legend { color: #555; max-width: 60em; }
ol.flags { color: #555; max-width: 60em; font-size: 0.9em; }
"""


def _table(grid: Grid, css_class: str) -> str:
    header, rows = grid
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(t)}</td>" for t in row) + "</tr>\n" for row in rows)
    return f'<table class="{css_class}">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>'


def _models_table(report: Report) -> str:
    """Checkpoint hashes from run.json, so a reader can tie each row to exact weights."""
    models = report.run.get("models")
    if not isinstance(models, dict) or not models:
        return ""
    return _table((["model", "checkpoint sha256"], [[str(m), str(s)] for m, s in models.items()]), "models")


def _flag_list(report: Report) -> str:
    """The evidence behind each flag, numbered as the [n] in the Flags column."""
    notes = flag_notes(report)
    if not notes:
        return ""
    items = "".join(f"<li>{escape(model)}: {escape(text)}</li>\n" for _, model, text in notes)
    return f'<ol class="flags">\n{items}</ol>'


def render(report: Report) -> str:
    info = provenance(report)
    title = f"Leaderboard: {dict(info).get('suite', report.results_dir.name)}"
    parts = [
        f"<h1>{escape(title)}</h1>",
        _table(leaderboard_grid(report), "leaderboard"),
        f'<p class="legend">{escape(legend(report))}</p>',
        _flag_list(report),
    ]
    for transfer in report.transfers:
        parts += [f"<h2>{escape(transfer_title(transfer))}</h2>", _table(transfer_grid(transfer), "transfer")]
    parts += ["<h2>Timing (wall time, examples per second)</h2>", _table(timing_grid(report), "timing")]
    parts += ["<h2>Provenance</h2>", _table((["field", "value"], [list(pair) for pair in info]), "provenance")]
    parts.append(_models_table(report))
    body = "\n".join(p for p in parts if p)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
