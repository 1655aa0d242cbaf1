"""One HTML page per model (``models/<model>.html``): its card, every figure with n and interval,
its transfer rows, the masking check's security curve, its adversarial galleries and its flags
with their evidence. Links are relative, so the folder can be moved or served as it is."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

from bench.report.html_parts import ci_bar, page, table
from bench.report.model import Column, Report, Row
from bench.report.text import MISSING, audited_text, fmt, interval_text, title, value_text

CARD_FIELDS = ("description", "family", "architecture", "dataset", "threat_model", "parameters", "notes")


def page_path(model: str) -> str:
    """Where a model's page lies, relative to the results folder."""
    return f"models/{model}.html"


def href(model: str) -> str:
    return quote(page_path(model))


def _up(path: str) -> str:
    """A path relative to the results folder, as seen from models/."""
    return quote(f"../{path}")


def _card(card: dict[str, Any]) -> str:
    rows = [[k.replace("_", " "), str(card[k])] for k in CARD_FIELDS if card.get(k) not in (None, "")]
    source = card.get("source") or {}
    if isinstance(source, dict):
        rows += [[f"source: {k}", str(v)] for k, v in source.items()]
    checkpoint = card.get("checkpoint") or {}
    if isinstance(checkpoint, dict) and checkpoint.get("sha256"):
        rows.append(["checkpoint sha256", str(checkpoint["sha256"])])
    return table((["card", ""], rows), "card") if rows else "<p>No model card in the zoo.</p>"


def _threat(col: Column) -> str:
    t = col.threat
    if t is None:
        return "" if col.role != "worst" else (f"L∞ ε = {col.eps}" if col.eps else "every listed attack")
    norm = {"linf": "L∞", "l2": "L2"}.get(t.norm or "", t.norm or "")
    return "clean" if t.clean else f"{norm} " + ("unbounded" if t.eps is None else f"ε = {t.eps:g}") + ("" if t.adversarial else " (random)")


def _figures(report: Report, row: Row) -> str:
    header = ["figure", "attack", "threat", "value", "95% interval", "n", "paper", "wall time"]
    rows, cells = [], []
    for col in report.columns:
        fig = row.figure(col.key)
        attack = ", ".join(col.attacks) if col.role == "worst" else col.attack + (f" ({col.field})" if col.field else "")
        texts = [col.label, attack, _threat(col), fmt(fig.value, 4 if (fig.n or 0) >= 10_000 else 3) + audited_text(fig),
                 interval_text(fig).strip() or MISSING, MISSING if fig.n is None else str(fig.n),
                 MISSING if fig.reported is None else f"{fig.reported:g}",
                 MISSING if fig.wall_time_s is None else f"{fig.wall_time_s:.1f} s"]
        rows.append(texts)
        cells.append([escape(t) for t in texts[:3]] + [escape(texts[3]) + ci_bar(fig)] + [escape(t) for t in texts[4:]])
    return table((header, rows), "figures", cells=cells)


def _transfers(report: Report, model: str) -> list[str]:
    parts = []
    for t in report.transfers:
        rows = []
        pairs = ([(source, model) for source in t.sources] if model in t.targets else []) + \
            ([(model, target) for target in t.targets if target != model] if model in t.sources else [])
        rows = [[f"{s} → {g}", value_text(t.cell(s, g)), str(t.cell(s, g).n or MISSING)] for s, g in pairs]
        cells = [[escape(r[0]), escape(r[1]) + ci_bar(t.cell(s, g)), escape(r[2])] for r, (s, g) in zip(rows, pairs)]
        if rows:
            parts += [f"<h2>Transfer: {escape(t.label)}</h2>",
                      table((["source → target", "error rate [95% interval]", "n"], rows), "transfer", cells=cells)]
    return parts


def render(report: Report, row: Row) -> str:
    model = row.model
    parts = [f'<p><a href="../leaderboard.html">← {escape(title(report))}</a></p>', f"<h1>{escape(row.name)}</h1>",
             "<h2>Model card</h2>", _card(report.cards.get(model, {})), "<h2>Every figure</h2>", _figures(report, row)]
    if row.flags:
        items = "".join(f"<li>{escape(flag)}</li>\n" for flag in row.flags)
        parts += ["<h2>Flags</h2>", f'<ol class="flags">\n{items}</ol>']
    parts += _transfers(report, model)
    curve = report.security_curves.get(model)
    if curve:
        parts += ["<h2>Security curve</h2>",
                  f'<figure><img src="{_up(curve)}" alt="robust accuracy vs eps of {escape(model)}">'
                  "<figcaption>The masking check's security curve: robust accuracy must fall with ε.</figcaption></figure>"]
    galleries = report.galleries.get(model, ())
    if galleries:
        parts.append("<h2>Adversarial galleries</h2>")
        parts += [f'<figure><img src="{_up(g)}" alt="{escape(g.rsplit("/", 1)[-1])}"><figcaption>{escape(g.rsplit("/", 1)[-1])}'
                  "</figcaption></figure>" for g in galleries]
    return page(f"{model}: {report.name}", "\n".join(parts))
