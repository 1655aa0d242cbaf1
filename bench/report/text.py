"""The report as text cells and grids (header + rows of strings), shared by the Markdown and
HTML writers so that both show the same figures the same way."""

from __future__ import annotations

from typing import Any

from bench.report.flags import short_flag
from bench.report.model import Column, Figure, Headline, Report, Row, Transfer
from bench.stats import LEVEL

MISSING = "—"
FLAG = "⚠"
DISTORTION = "Av. distortion"

Grid = tuple[list[str], list[list[str]]]


def fmt(value: float | None, digits: int = 3) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def digits(n: int | None) -> int:
    """Four decimals where n >= 10,000 resolves them (clean accuracy on the whole test set), so a
    0.9898 is not shown as the 0.990 a target asks for; three elsewhere."""
    return 4 if n is not None and n >= 10_000 else 3


def interval_digits(n: int | None) -> int:
    """Decimals of an interval's bounds: enough that a bound never rounds onto the value.

    The closest a 95% bound ever lies to its value is 0 of n's upper bound (n of n's lower one, the
    same distance), 1 - 0.025^(1/n), about 3.7/n; the decimals are the fewest (at least two) that
    keep it off the value: two up to n = 735 (0/100's bound is 0.036), three from 736 (0/817's is
    0.0045, which two decimals would print as a [0.00, 0.00] that claims no uncertainty at all),
    four from 7,376."""
    if n is None or n <= 0:
        return 2
    edge = 1 - ((1 - LEVEL) / 2) ** (1 / n)
    d = 2
    while 0.5 * 10 ** -d > edge:
        d += 1
    return d


def interval_text(fig: Figure) -> str:
    """' [0.05, 0.16]', or '' without an interval (decimals: ``interval_digits``)."""
    if not fig.has_interval:
        return ""
    d = interval_digits(fig.n) if not fig.statistic else digits(fig.n)  # a distortion: as many as its value
    return f" [{fig.lo:.{d}f}, {fig.hi:.{d}f}]"


def value_text(fig: Figure, show_n: bool = False, paper: bool = True) -> str:
    """'0.750 [0.19, 0.99] ≤0.500 (paper 0.09, n=4)': the value, its interval, the bound an audit's
    verified breaks prove (beside the figure, so nobody quotes one without the other), the card's
    value, n."""
    notes = ([f"paper {fig.reported:g}"] if paper and fig.reported is not None else []) + \
        ([f"n={fig.n}"] if show_n and fig.n is not None else [])
    return fmt(fig.value, digits(fig.n)) + interval_text(fig) + audited_text(fig) + (f" ({', '.join(notes)})" if notes else "")


AUDITED = "≤"
AUDITED_NOTE = (f"{AUDITED}x = at most x: an audit (attacks beyond the battery, docs/audits.md) found verified adversarial "
                "examples among those the figure counts robust")


def audited_text(fig: Figure) -> str:
    """' ≤0.318' where a current audit's verified breaks prove the figure at most that; else ''."""
    return "" if fig.verified_at_most is None else f" {AUDITED}{fmt(fig.verified_at_most, digits(fig.n))}"


def common_n(rows: tuple[Row, ...] | list[Row], key: str) -> int | None:
    """The single n shared by every row that has one, so it can go in the header instead."""
    ns = {r.figure(key).n for r in rows if r.figure(key).n is not None}
    return ns.pop() if len(ns) == 1 else None


def _header(label: str, n: int | None) -> str:
    return label if n is None else f"{label} (n={n})"


AUDITS_INTRO = ("Audits (`bench audit`, docs/audits.md): attacks beyond the battery on a random sample of the examples a "
                "cell counts robust, every break verified")


def flag_notes(report: Report) -> list[tuple[int, str, str]]:
    """(number, model, full flag text), numbered in row order."""
    notes: list[tuple[int, str, str]] = []
    for row in report.rows:
        for flag in row.flags:
            notes.append((len(notes) + 1, row.model, flag))
    return notes


def _note_numbers(report: Report) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for number, model, _ in flag_notes(report):
        out.setdefault(model, []).append(number)
    return out


def headline_columns(report: Report) -> list[Column]:
    clean = report.clean_column
    return ([clean] if clean else []) + report.worst_columns


def headline_grid(report: Report) -> Grid:
    """Model, clean accuracy, the worst case per eps (each with its interval), number of flags."""
    columns = headline_columns(report)
    shared = {c.key: common_n(report.rows, c.key) for c in columns}
    short = {c.key: f"Worst @{c.eps}" if c.eps else c.label for c in columns}  # "Worst case @0.1 (n=100)" is wider than its cells
    header = ["Model"] + [_header(short[c.key], shared[c.key]) for c in columns] + (["Flags"] if report.has_flags else [])
    notes = _note_numbers(report)
    rows = []
    for row in report.rows:
        texts = [row.name] + [value_text(row.figure(c.key), shared[c.key] is None, paper=False) for c in columns]
        if report.has_flags:
            refs = notes.get(row.model, [])
            texts.append(f"{len(refs)} [{', '.join(map(str, refs))}]" if refs else "")
        rows.append(texts)
    return header, rows


def group_n(report: Report, columns: list[Column]) -> int | None:
    """The n every figure of these columns shares (said once, in the table's title), else None."""
    ns = {common_n(report.rows, c.key) for c in columns}
    return ns.pop() if len(ns) == 1 else None


def columns_grid(report: Report, columns: list[Column], flags: bool = False, n_in_header: bool = True) -> Grid:
    """Model and the given columns, each figure with its interval and the card's value; n in the
    header when every row shares it (``n_in_header`` False: the caller says it once). ``flags``:
    a Flags column of short names with note numbers."""
    shared = {c.key: common_n(report.rows, c.key) for c in columns}
    header = ["Model"] + [_header(c.label, shared[c.key] if n_in_header else None) for c in columns] + (["Flags"] if flags else [])
    numbers = {(model, text): n for n, model, text in flag_notes(report)}
    rows = []
    for row in report.rows:
        texts = [row.name] + [value_text(row.figure(c.key), shared[c.key] is None) for c in columns]
        if flags:
            texts.append("; ".join(f"{short_flag(f)} [{numbers[(row.model, f)]}]" for f in row.flags))
        rows.append(texts)
    return header, rows


def timing_grid(report: Report, columns: list[Column]) -> Grid:
    rows = []
    for row in report.rows:
        texts = [row.name]
        for col in columns:
            fig = row.figure(col.key)
            texts.append(MISSING if fig.wall_time_s is None else f"{fig.wall_time_s:.1f} s ({fmt(fig.examples_per_s, 1)}/s)")
        rows.append(texts)
    return ["Model"] + [c.label for c in columns], rows


def transfer_grid(transfer: Transfer) -> Grid:
    """Error rates with their intervals, rows = sources; n said once: in the title when every
    figure shares it, else after the source (its adversarial examples), else in the cell."""
    common = transfer.common_n
    header = ["source \\ target", *transfer.targets] + ([] if transfer.distortion is None else [DISTORTION])
    rows = []
    for source in transfer.sources:
        row_n = None if common is not None else transfer.row_n(source)
        texts = [source if row_n is None else f"{source} (n={row_n})"]
        texts += [value_text(transfer.cell(source, t), show_n=common is None and row_n is None) for t in transfer.targets]
        if transfer.distortion is not None:
            texts.append(value_text(transfer.distortion.get(source, Figure())))
        rows.append(texts)
    return header, rows


def transfer_title(transfer: Transfer) -> str:
    common = transfer.common_n
    return f"Transfer: {transfer.label}" + ("" if common is None else f" (n={common})")


def reference_grid(headline: Headline) -> Grid:
    """Model, then each worst-case column of the headline suite with its interval and n (in the
    header when every row shares it)."""
    shared = {c.key: common_n(headline.rows, c.key) for c in headline.columns}
    header = ["Model"] + [_header(c.label, shared[c.key]) for c in headline.columns]
    rows = [[r.model] + [MISSING if r.figure(c.key).missing else value_text(r.figure(c.key), shared[c.key] is None, paper=False)
                         for c in headline.columns] for r in headline.rows]
    return header, rows


def ranking(report: Report) -> str:
    """How the headline table is ordered, in words."""
    worst = sorted(report.worst_columns, key=lambda c: -float(c.eps) if c.eps else 0.0)
    by = [c.label for c in worst] + ([report.clean_column.label] if report.clean_column else [])
    text = f"Ranked by {', then '.join(by)} (highest first)." if by else ""
    if any(c.eps for c in worst):
        text += " Worst @eps = the worst case at that eps: right under every attack of its threat model (see below)."
    return text


def legend(report: Report) -> str:
    parts = [
        "Accuracy on the n evaluated examples (clean accuracy for benign inputs, robust accuracy under "
        "attack); [lo, hi] = its exact (Clopper-Pearson) 95% interval; (paper x) = the value the model's source "
        "reports (model card)"
    ]
    usual = ("", "robust_accuracy", "clean_accuracy")
    odd = [f"{c.label} = {c.metric}" for c in report.of_role("attack") if c.metric not in usual]
    if odd:
        parts.append("metrics: " + ", ".join(odd))
    for col in report.worst_columns:
        parts.append(f"{col.label} = right under every one of {', '.join(map(report.label_of, col.attacks))} (shared examples only)")
    if report.has_flags:
        parts.append(f"{FLAG} = flagged: Flags gives the number of flags and their note numbers; the notes give the evidence")
    if _audited(report):
        parts.append(AUDITED_NOTE)
    for col in report.of_role("extra"):
        what = "1 - value" if col.field == "error" else f"extra.{col.field}"
        parts.append(f"{col.label} = {what} of {report.label_of(col.attack)}")
    stats = {r.figure(c.key).statistic for r in report.rows for c in report.of_role("extra")} - {""}
    if stats:
        parts.append("the interval of a mean is Student's t, of a median the distribution-free one (order statistics), "
                     "each over its n examples (a distortion's n: the verified breaks)")
    if report.transfers:
        parts.append("Transfer = error rate of the target on adversarial examples crafted on the source")
    if any(t.distortion is not None for t in report.transfers):
        parts.append(f"{DISTORTION} = mean sqrt(sum((x'-x)^2)/pixels) of the row's inputs")
    parts.append(f"{MISSING} = not run")
    return "; ".join(parts) + "."


def _audited(report: Report) -> bool:
    """Whether a figure of the report, or of a headline suite's table in it, carries an audit's bound."""
    tables = [(report.rows, report.columns)] + [(h.rows, h.columns) for h in report.headlines]
    return any(r.figure(c.key).verified_at_most is not None for rows, columns in tables for r in rows for c in columns)


def _invocations(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The computing runs recorded in run.json (a single-run file counts as one)."""
    if isinstance(run.get("invocations"), list):
        return [i for i in run["invocations"] if isinstance(i, dict)]
    return [run] if run.get("started") else []


def _span(values: list[str], what: str) -> str:
    """'a' or 'a .. b (k <what>)' for values in the order first seen."""
    distinct = list(dict.fromkeys(v for v in values if v))
    if len(distinct) <= 1:
        return distinct[0] if distinct else ""
    return f"{distinct[0]} .. {distinct[-1]} ({len(distinct)} {what})"


def provenance(report: Report) -> list[tuple[str, str]]:
    """(field, text) pairs for humans: the suite, then who computed the cells (per-cell records;
    for cells older than those, the runs recorded in run.json), in a fixed order."""
    run = report.run
    suite = run.get("suite") if isinstance(run.get("suite"), dict) else {}
    name = suite.get("name", report.suite.get("name", "?"))
    version = suite.get("version", report.suite.get("version", "?"))
    runs = _invocations(run)
    recorded = sorted((o for o in report.origins if o), key=lambda o: str(o.get("computed_at", "")))
    unrecorded = len(report.origins) - len(recorded)
    commits = [str(o.get("git_commit", ""))[:12] for o in recorded] + [str(r.get("git_commit", ""))[:12] for r in runs if unrecorded]
    machines = [str(o.get("machine", "")) for o in recorded]
    times = [str(o.get("computed_at", "")) for o in recorded] + [str(r.get(k, "")) for r in runs for k in ("started", "finished") if unrecorded]
    times = sorted(t for t in times if t)
    latest = recorded[-1] if recorded else (runs[-1] if runs else {})
    packages = latest.get("packages") if isinstance(latest.get("packages"), dict) else {}
    pairs = [
        ("suite", f"{name} v{version}"),
        ("suite sha256", str(suite.get("sha256", ""))),
        ("cells", f"{len(report.origins)}" + (f" ({unrecorded} computed before per-cell provenance)" if unrecorded and recorded else "")),
        ("git commits", _span(commits, "commits")),
        ("machines", _span(machines, "machines")),
        ("devices", ", ".join(dict.fromkeys(str(o.get("device", "")) for o in [*recorded, *runs] if o.get("device")))),
        ("computed", f"{times[0]} .. {times[-1]}" if len(times) > 1 else (times[0] if times else "")),
        ("packages (latest cell)", ", ".join(f"{k} {v}" for k, v in packages.items())),
        ("seed", str(run.get("seed", ""))),
        ("peak memory", _peak_memory(recorded)),
    ]
    return [(k, v) for k, v in pairs if v]


def _peak_memory(recorded: list[dict[str, Any]]) -> str:
    """The largest peak resident memory of the processes that wrote the cells, where recorded."""
    peaks = [float(o["peak_rss_mb"]) for o in recorded if isinstance(o.get("peak_rss_mb"), (int, float))]
    if not peaks:
        return ""
    return f"{max(peaks) / 1024:.2f} GB (largest of {len(peaks)} recorded)"


def title(report: Report) -> str:
    return f"Leaderboard: {dict(provenance(report)).get('suite', report.results_dir.name)}"
