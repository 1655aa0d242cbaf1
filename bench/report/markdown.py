"""GitHub-flavoured markdown leaderboard: what `bench leaderboard` prints and README tables quote."""

from __future__ import annotations

from tabulate import tabulate

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


def _escape(text: str) -> str:
    """A pipe inside a cell would split the column."""
    return text.replace("|", "\\|")


def _table(grid: Grid) -> str:
    """Cells are pre-formatted text, so tabulate must not re-parse them as numbers."""
    header, rows = grid
    return tabulate(
        [[_escape(t) for t in row] for row in rows],
        headers=[_escape(h) for h in header],
        tablefmt="github",
        disable_numparse=True,
    )


def render(report: Report) -> str:
    info = dict(provenance(report))
    title = f"# Leaderboard: {info.get('suite', report.results_dir.name)}"
    sections = [title, _table(leaderboard_grid(report)), legend(report)]
    notes = flag_notes(report)
    if notes:
        sections.append("Flags:\n\n" + "\n".join(f"{n}. {model}: {text}" for n, model, text in notes))
    for h in report.headlines:
        sections += [f"## Robustness at reference strength: [{h.suite}](../{h.folder}/leaderboard.md)",
                     f"This suite's columns are its protocol's attacks; a model's robustness is the worst case over a "
                     f"reference-strength battery, {h.suite}'s:", _table(headline_grid(h))]
    for transfer in report.transfers:
        sections += [f"## {transfer_title(transfer)}", _table(transfer_grid(transfer))]
    sections += ["## Timing (wall time, examples per second)", _table(timing_grid(report))]
    sections.append("Provenance: " + "; ".join(f"{k} {v}" for k, v in provenance(report)) + ".")
    return "\n\n".join(sections) + "\n"
