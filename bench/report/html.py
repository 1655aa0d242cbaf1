"""One static, self-contained HTML page (inline CSS, no scripts or external assets)."""

from __future__ import annotations

from html import escape

from bench.report.tables import (
    Grid,
    Report,
    flag_notes,
    headline_grid,
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
svg.ci { display: block; margin: 2px 0 0 auto; }
svg.ci line.axis { stroke: #ddd; stroke-width: 1; }
svg.ci line.bar { stroke: #36c; stroke-width: 2; }
svg.ci circle { fill: #036; }
"""

CI_WIDTH, CI_HEIGHT = 80, 8


def _ci_bar(value: float, lo: float, hi: float) -> str:
    """The 95% interval as an error bar on [0, 1], the value as a dot (inline SVG, no assets)."""
    def at(v: float) -> str:
        return f"{2 + v * (CI_WIDTH - 4):.1f}"

    mid = CI_HEIGHT / 2
    return (f'<svg class="ci" width="{CI_WIDTH}" height="{CI_HEIGHT}" role="img" aria-label="95% interval {lo:.3f} to {hi:.3f}">'
            f'<line class="axis" x1="2" y1="{mid}" x2="{CI_WIDTH - 2}" y2="{mid}"/>'
            f'<line class="bar" x1="{at(lo)}" y1="{mid}" x2="{at(hi)}" y2="{mid}"/>'
            f'<circle cx="{at(value)}" cy="{mid}" r="2"/></svg>')


def _leaderboard_table(report: Report) -> str:
    """The leaderboard grid, each proportion with its interval drawn as an error bar."""
    import math

    header, rows = leaderboard_grid(report)
    frame = report.leaderboard
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for (model, row), texts in zip(frame.iterrows(), rows):
        cells = [f"<td>{escape(texts[0])}</td>"]
        for label, text in zip(report.labels, texts[1:]):
            lo, hi, value = row.get(f"{label}_lo", math.nan), row.get(f"{label}_hi", math.nan), row[label]
            bar = "" if any(v != v for v in (lo, hi, value)) else _ci_bar(float(value), float(lo), float(hi))
            cells.append(f"<td>{escape(text)}{bar}</td>")
        cells += [f"<td>{escape(t)}</td>" for t in texts[1 + len(report.labels):]]
        body.append("<tr>" + "".join(cells) + "</tr>\n")
    return f'<table class="leaderboard">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{"".join(body)}</tbody>\n</table>'



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
        _leaderboard_table(report),
        f'<p class="legend">{escape(legend(report))}</p>',
        _flag_list(report),
    ]
    for h in report.headlines:
        parts += [f'<h2>Robustness at reference strength: <a href="../{escape(h.folder)}/leaderboard.html">{escape(h.suite)}</a></h2>',
                  f"<p>This suite's columns are its protocol's attacks; a model's robustness is the worst case over a "
                  f"reference-strength battery, {escape(h.suite)}'s.</p>", _table(headline_grid(h), "headline")]
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
