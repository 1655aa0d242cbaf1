"""GitHub-flavoured Markdown: what `bench leaderboard` prints and README tables quote. The
headline table first (a line per model, however wide), then the per-attack tables by threat
model, none wider than 120 characters (``wide``: every column in one table), notes wrapped at
``width``."""

from __future__ import annotations

from tabulate import tabulate

from bench.report import text
from bench.report.layout import WIDTH, fit, threat_groups, wrap
from bench.report.model import Report
from bench.report.writers import writer


def _escape(cell: str) -> str:
    """A pipe inside a cell would split the column."""
    return cell.replace("|", "\\|")


def table(grid: text.Grid) -> str:
    """Cells are pre-formatted text, so tabulate must not re-parse them as numbers."""
    header, rows = grid
    return tabulate([[_escape(t) for t in row] for row in rows], headers=[_escape(h) for h in header],
                    tablefmt="github", disable_numparse=True)


def _tables(grid: text.Grid, wide: bool) -> list[str]:
    return [table(grid)] if wide else [table(part) for part in fit(grid, WIDTH)]


def render_text(report: Report, width: int = WIDTH, wide: bool = False) -> str:
    """The leaderboard as Markdown; ``width`` wraps the prose (tables fit 120 unless ``wide``)."""
    sections = [f"# {text.title(report)}"]
    if wide:
        sections.append(table(text.columns_grid(report, list(report.columns), flags=report.has_flags)))
    else:
        sections += [wrap(text.ranking(report), width), table(text.headline_grid(report))]
    sections.append(wrap(text.legend(report), width))
    notes = text.flag_notes(report)
    if notes:
        sections.append("Flags:\n\n" + "\n".join(wrap(f"{n}. {model}: {text}", width, "   ") for n, model, text in notes))
    if report.audits:
        sections.append(wrap(f"{text.AUDITS_INTRO}:", width) + "\n\n"
                        + "\n".join(wrap(f"- {model} {label}: {found}", width, "  ") for model, label, found in report.audits))
    for h in report.headlines:
        sections += [f"## Robustness at reference strength: [{h.suite}](../{h.folder}/leaderboard.md)",
                     wrap(f"This suite's columns are its protocol's attacks; a model's robustness is the worst case over a "
                          f"reference-strength battery, {h.suite}'s:", width), *_tables(text.reference_grid(h), wide)]
    if not wide:
        for name, columns in threat_groups(report):
            n = text.group_n(report, columns)
            sections += [f"## {name}" + ("" if n is None else f" (n={n})"),
                         *_tables(text.columns_grid(report, columns, n_in_header=n is None), wide)]
    for transfer in report.transfers:
        sections += [f"## {text.transfer_title(transfer)}", *_tables(text.transfer_grid(transfer), wide)]
    sections += ["## Timing (wall time, examples per second)", *_tables(text.timing_grid(report, report.of_role("attack")), wide)]
    sections.append(wrap("Provenance: " + "; ".join(f"{k} {v}" for k, v in text.provenance(report)) + ".", width))
    return "\n\n".join(sections) + "\n"


@writer("md", "Markdown leaderboard: headline table, per-attack tables by threat model, notes", order=0)
def render(report: Report) -> str:
    return render_text(report)
