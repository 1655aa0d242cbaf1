"""Regression check of a results folder against a committed baseline (``bench check``).

Why: robustness numbers drift silently (a retrained checkpoint, a changed attack default, a library
upgrade). Every (model, attack, metric) figure of a run is compared with the baseline; a figure
that moved beyond its tolerance, in either direction, fails the check (a robust accuracy going
*up* unexpectedly is drift too), and so does a figure that appeared or disappeared.

Baseline file (JSON, written by ``bench check --update``)::

    {"format": 1,
     "suite": {"name": "mnist_smoke", "version": 1, "sha256": "..."},
     "tolerances": {"default": "binomial3", "cw": 0.05},
     "models": {"Softmax": "<checkpoint sha256>", ...},
     "figures": [{"model": "Softmax", "attack": "pgd", "metric": "robust_accuracy",
                  "value": 0.12, "n": 50}, ...]}

Tolerances are absolute. ``tolerances`` maps an attack id, else a metric name, else ``default``
to either a number or ``"binomialK"``: ``max(K * sqrt(p * (1 - p) / n), 1 / n)`` with ``p`` the
baseline value and ``n`` its number of examples -- K standard errors of a binomial proportion,
floored at one example. ``"exact"`` is 0. Without a ``tolerances`` entry the default is
``binomial3``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.results import ResultsStore, atomic_write_json

FORMAT = 1
DEFAULT_TOLERANCES: dict[str, Any] = {"default": "binomial3"}
TRANSFER_PREFIX = "transfer_error_rate<-"  # per-source figures of a transfer cell
EPS = 1e-9  # float noise in the comparison, far below 1/n
_BINOMIAL = re.compile(r"binomial(\d+(?:\.\d+)?)")

Key = tuple[str, str, str]  # (model, attack, metric)


@dataclass(frozen=True)
class Figure:
    """One checked number: a cell's value (or one source of a transfer cell) and its n."""

    model: str
    attack: str
    metric: str
    value: float
    n: int
    n_from_data: bool = False  # n is a count the data decided (see AttackKind.n_from_data)

    @property
    def key(self) -> Key:
        return (self.model, self.attack, self.metric)

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "attack": self.attack, "metric": self.metric, "value": self.value, "n": self.n}


@dataclass(frozen=True)
class Row:
    """The comparison of one figure; ``failed`` rows make the check exit 1 (unless updating)."""

    model: str
    attack: str
    metric: str
    baseline: float | None
    now: float | None
    n: str
    delta: float | None
    tolerance: float | None
    status: str
    failed: bool

    @property
    def moved(self) -> bool:
        return self.failed or self.delta is None or self.delta != 0


@dataclass
class CheckResult:
    rows: list[Row]
    notes: list[str]
    updated: bool = False

    @property
    def failed(self) -> bool:
        return not self.updated and any(r.failed for r in self.rows)


# --- reading ---------------------------------------------------------------------------------------


def collect_figures(results_dir: Path) -> list[Figure]:
    """Every figure of a results folder, read from its cell JSONs (docs/formats.md)."""
    results_dir = Path(results_dir)
    store = ResultsStore(results_dir)
    paths = [store.cell_json(model, attack) for model, attack in store.cells()]
    if not paths:
        raise BenchError(f"{results_dir}: no results (run `bench run SUITE` first)")
    figures = []
    for path in paths:
        try:
            cell = json.loads(path.read_text())
            value, n = _number(cell["value"]), int(cell["n"])
            metric = str(cell.get("metric") or "value")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BenchError(f"{path}: unreadable cell ({type(exc).__name__}: {exc})") from None
        model, attack = path.parent.name, path.stem
        from_data = _n_from_data(cell.get("kind"))
        figures.append(Figure(model, attack, metric, value, n, from_data))
        sources = (cell.get("extra") or {}).get("sources") if from_data else None
        for src, entry in sorted((sources or {}).items()) if isinstance(sources, dict) else ():
            figures.append(Figure(model, attack, TRANSFER_PREFIX + src, _number(entry.get("error_rate")), int(entry.get("n", 0)), True))
    return figures


def _n_from_data(kind: Any) -> bool:
    from bench.attacks import KINDS

    return isinstance(kind, str) and kind in KINDS and KINDS.get(kind).n_from_data


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"not a number: {value!r}")
    return float(value)


def load_baseline(path: Path) -> dict[str, Any]:
    """A baseline file, checked: every problem is one line naming the file and key."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BenchError(f"{path}: baseline not found (create it from a run with --update)") from None
    except (OSError, ValueError) as exc:
        raise BenchError(f"{path}: unreadable baseline ({exc})") from None
    if not isinstance(data, dict):
        raise BenchError(f"{path}: baseline must be a JSON object")
    if data.get("format") != FORMAT:
        raise BenchError(f"{path}: key 'format' must be {FORMAT}, got {data.get('format')!r}")
    figures = data.get("figures")
    if not isinstance(figures, list):
        raise BenchError(f"{path}: key 'figures' must be a list")
    for i, fig in enumerate(figures):
        if not isinstance(fig, dict) or not {"model", "attack", "metric", "value", "n"} <= set(fig):
            raise BenchError(f"{path}: figures[{i}] must have model, attack, metric, value and n")
    tolerances = data.setdefault("tolerances", dict(DEFAULT_TOLERANCES))
    if not isinstance(tolerances, dict):
        raise BenchError(f"{path}: key 'tolerances' must be a mapping (attack id or metric -> tolerance)")
    for key, spec in tolerances.items():
        if _tolerance_problem(spec):
            raise BenchError(f"{path}: tolerances.{key}: {_tolerance_problem(spec)}")
    return data


def _tolerance_problem(spec: Any) -> str | None:
    if isinstance(spec, bool):
        return f"must be a number >= 0, 'binomialK' or 'exact', got {spec!r}"
    if isinstance(spec, (int, float)):
        return None if spec >= 0 else f"must be >= 0, got {spec}"
    if isinstance(spec, str) and (spec == "exact" or _BINOMIAL.fullmatch(spec)):
        return None
    return f"must be a number >= 0, 'binomialK' (e.g. binomial3) or 'exact', got {spec!r}"


# --- comparing -------------------------------------------------------------------------------------


def tolerance(tolerances: dict[str, Any], attack: str, metric: str, p: float, n: int) -> float:
    """The absolute tolerance of one figure: by attack id, else metric, else default (module doc)."""
    spec = tolerances.get(attack, tolerances.get(metric, tolerances.get("default", DEFAULT_TOLERANCES["default"])))
    if isinstance(spec, (int, float)):
        return float(spec)
    if spec == "exact":
        return 0.0
    match = _BINOMIAL.fullmatch(str(spec))
    if not match or n <= 0 or math.isnan(p):
        return 0.0
    return max(float(match.group(1)) * math.sqrt(p * (1 - p) / n), 1.0 / n)


def compare(baseline: dict[str, Any], figures: list[Figure], suite_changed: bool = False) -> list[Row]:
    """One row per figure in either the baseline or the run, baseline order first.

    A figure whose n the data decides (``Figure.n_from_data``: a transfer cell counts the source's
    verified adversarials, which float order on another machine can move by one or two) is compared
    as a rate, with its tolerance on the smaller n; a changed n still fails when the suite changed
    (``suite_changed``) and for every figure whose n the suite fixes."""
    tolerances = baseline.get("tolerances") or DEFAULT_TOLERANCES
    base = {(str(f["model"]), str(f["attack"]), str(f["metric"])): f for f in baseline["figures"]}
    now = {f.key: f for f in figures}
    rows = []
    for key in [*base, *(k for k in now if k not in base)]:
        model, attack, metric = key
        if key not in now:
            b = base[key]
            rows.append(Row(model, attack, metric, _number(b["value"]), None, str(b["n"]), None, None, "REMOVED", True))
            continue
        f = now[key]
        if key not in base:
            rows.append(Row(model, attack, metric, None, f.value, str(f.n), None, None, "ADDED", True))
            continue
        b_value, b_n = _number(base[key]["value"]), int(base[key]["n"])
        rate = f.n_from_data and not suite_changed
        tol = tolerance(tolerances, attack, metric, b_value, min(b_n, f.n) if rate else b_n)
        rows.append(_compare_one(model, attack, metric, b_value, b_n, f, tol, rate))
    return rows


def _compare_one(model: str, attack: str, metric: str, b_value: float, b_n: int, f: Figure, tol: float, rate: bool) -> Row:
    n = str(b_n) if b_n == f.n else f"{b_n}->{f.n}"
    if math.isnan(b_value) or math.isnan(f.value):
        same = math.isnan(b_value) and math.isnan(f.value)
        return Row(model, attack, metric, b_value, f.value, n, 0.0 if same else None, tol, "ok" if same else "FAIL (nan)", not same)
    delta = f.value - b_value
    if b_n != f.n and not rate:
        return Row(model, attack, metric, b_value, f.value, n, delta, tol, "FAIL (n changed)", True)
    if abs(delta) <= tol + EPS:
        return Row(model, attack, metric, b_value, f.value, n, delta, tol, "ok" if delta == 0 else "within tolerance", False)
    return Row(model, attack, metric, b_value, f.value, n, delta, tol, "FAIL up" if delta > 0 else "FAIL down", True)


def _suite_changed(baseline: dict[str, Any], results_dir: Path) -> bool:
    b, r = baseline.get("suite") or {}, _read_run(results_dir).get("suite") or {}
    return bool(b.get("sha256") and r.get("sha256") and b["sha256"] != r["sha256"])


def _notes(baseline: dict[str, Any], results_dir: Path) -> list[str]:
    """What changed around the figures (suite, checkpoints): context for a failure, never one."""
    notes = []
    run = _read_run(results_dir)
    b_suite, r_suite = baseline.get("suite") or {}, run.get("suite") or {}
    if b_suite.get("sha256") and r_suite.get("sha256") and b_suite["sha256"] != r_suite["sha256"]:
        notes.append(f"note: the resolved suite changed since the baseline ({b_suite.get('name')} v{b_suite.get('version')} -> "
                     f"{r_suite.get('name')} v{r_suite.get('version')})")
    b_models, r_models = baseline.get("models") or {}, run.get("models") or {}
    for model in sorted(set(b_models) & set(r_models)):
        if b_models[model] and r_models[model] and b_models[model] != r_models[model]:
            notes.append(f"note: model {model}: checkpoint changed since the baseline "
                         f"({str(b_models[model])[:12]}... -> {str(r_models[model])[:12]}...)")
    return notes


def _read_run(results_dir: Path) -> dict[str, Any]:
    try:
        run = json.loads(ResultsStore(Path(results_dir)).run_json.read_text())
    except (OSError, ValueError):
        return {}
    return run if isinstance(run, dict) else {}


# --- the command's work ----------------------------------------------------------------------------


def make_baseline(results_dir: Path, figures: list[Figure], tolerances: dict[str, Any] | None = None) -> dict[str, Any]:
    """The baseline of a results folder; ``tolerances`` are kept from the previous baseline."""
    run = _read_run(results_dir)
    return {
        "format": FORMAT,
        "suite": {k: (run.get("suite") or {}).get(k) for k in ("name", "version", "sha256")},
        "tolerances": dict(tolerances or DEFAULT_TOLERANCES),
        "models": dict(run.get("models") or {}),
        "figures": [f.as_dict() for f in figures],
    }


def check(results_dir: Path, baseline_path: Path, update: bool = False) -> CheckResult:
    """Compare a run with its baseline; with ``update``, rewrite the baseline (atomically) instead
    of failing, keeping its tolerances."""
    figures = collect_figures(results_dir)
    if update and not Path(baseline_path).exists():
        atomic_write_json(Path(baseline_path), make_baseline(results_dir, figures))
        rows = [Row(f.model, f.attack, f.metric, None, f.value, str(f.n), None, None, "ADDED", True) for f in figures]
        return CheckResult(rows, [f"note: created baseline {baseline_path} ({len(figures)} figures)"], updated=True)
    baseline = load_baseline(baseline_path)
    rows = compare(baseline, figures, _suite_changed(baseline, results_dir))
    notes = _notes(baseline, results_dir)
    if update:
        atomic_write_json(Path(baseline_path), make_baseline(results_dir, figures, baseline.get("tolerances")))
        notes.append(f"note: rewrote baseline {baseline_path} ({len(figures)} figures)")
    return CheckResult(rows, notes, updated=update)


def format_rows(rows: list[Row]) -> str:
    """The rows that moved, as a table (tabulate)."""
    from tabulate import tabulate

    def num(v: float | None, signed: bool = False) -> str:
        if v is None:
            return "-"
        return "nan" if math.isnan(v) else (f"{v:+.4f}" if signed else f"{v:.4f}")

    table = [[r.model, r.attack, r.metric, num(r.baseline), num(r.now), r.n, num(r.delta, True), num(r.tolerance), r.status]
             for r in rows if r.moved]
    return tabulate(table, headers=["model", "attack", "metric", "baseline", "now", "n", "delta", "tolerance", "status"], disable_numparse=True)


def summary(result: CheckResult) -> str:
    rows = result.rows
    count = {s: sum(1 for r in rows if r.status == s) for s in ("ok", "within tolerance", "ADDED", "REMOVED")}
    beyond = sum(1 for r in rows if r.failed and r.status not in ("ADDED", "REMOVED"))
    verdict = "baseline updated" if result.updated else ("FAILED" if result.failed else "passed")
    return (f"check {verdict}: {len(rows)} figures: {count['ok']} identical, {count['within tolerance']} within tolerance, "
            f"{beyond} beyond tolerance, {count['ADDED']} added, {count['REMOVED']} removed")
