"""`bench perf`: speed and strength of one attack across backends (a benchmark, not a test)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.errors import BenchError
from bench.commands import DATA_DIR_HELP, non_negative_int, positive_int

# The kind and what the benchmark changes from its defaults (the kind's Param spec): PGD as
# evaluated; CW on a benchmark's budget (100 steps x 3 searches, not 1000 x 10).
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "pgd": ("pgd_linf", {}),
    "cw": ("cw_l2", {"steps": 100, "binary_search_steps": 3}),
}


def parse_params(kind_name: str, items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` overrides, typed and checked by the attack kind's own parameter spec."""
    from bench.attacks import get_kind
    from bench.attacks.spec import validate_params

    spec = get_kind(kind_name).params
    out: dict[str, Any] = {}
    for item in items:
        key, _, text = item.partition("=")
        if not text or key not in spec:
            raise BenchError(f"--param {item!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(spec))}")
        types = spec[key].type if isinstance(spec[key].type, tuple) else (spec[key].type,)
        if bool in types:
            if text.lower() not in ("true", "false"):
                raise BenchError(f"--param {item!r}: expected true or false")
            out[key] = text.lower() == "true"
        elif int in types and text.lstrip("-").isdigit():
            out[key] = int(text)
        elif float in types or int in types:
            try:
                out[key] = float(text)
            except ValueError:
                raise BenchError(f"--param {item!r}: expected a number") from None
        else:
            out[key] = text
    problems = validate_params(spec, out, "--param")
    if problems:
        raise BenchError(problems[0])
    return out


def cmd_perf(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from bench import zoo
    from bench.device import configure_threads, resolve_device
    from bench.perf import benchmark, matmul_peak_gflops, profile_native

    threads = configure_threads()
    device = resolve_device(args.device)
    if args.attack == "autoattack":
        return _autoattack(args, device, threads)
    kind, params = PRESETS[args.attack]
    params = {**params, **parse_params(kind, args.param or [])}
    model = zoo.load(args.model, device)
    _, x, y = _examples(args)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    batch_size = _batch_size(args, model, device)
    peak = matmul_peak_gflops()
    rows = benchmark(model, x, y, kind, params, backends, batch_size, device)
    by = {r.backend: r for r in rows}
    table = []
    for r in rows:
        ratios = {f"x vs {o}": f"{r.examples_per_s / by[o].examples_per_s:.2f}" for o in ("art", "foolbox") if o in by and o != r.backend}
        table.append([r.backend, f"{r.seconds:.1f}", f"{r.examples_per_s:.2f}", f"{r.success_rate:.3f}", _with_interval(r.robust_accuracy, len(y)),
                      f"{r.passes_per_example:.1f}", f"{r.gflops:.1f}", f"{100 * r.gflops / peak:.0f}%",
                      ", ".join(f"{k} {v}" for k, v in ratios.items())])
    print(f"{args.model} / {kind} {params or '(its defaults)'} on {args.n} examples, batch {batch_size}, {device} ({threads} threads); "
          f"fp32 matmul peak {peak:.1f} GFLOP/s")
    print(tabulate(table, headers=["backend", "seconds", "examples/s", "success rate", "robust acc", "passes/ex", "GFLOP/s", "of peak", "speed ratio"]))
    if args.profile:
        print("\nnative backend, top operators by self time (torch.profiler):")
        print(profile_native(model, x, y, kind, params, batch_size, device))
    return 0


def _examples(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(test indices, images, labels) of --offset/--n in the model's own dataset, or a one-line
    error when the range leaves the split (a short or empty slice would time the wrong work)."""
    import torch

    from bench import data, zoo

    dataset = zoo.get_card(args.model).dataset
    split = data.load(dataset, "test", args.data_dir)
    if args.offset + args.n > len(split.y):
        raise BenchError(f"--offset {args.offset} --n {args.n}: the {dataset} test split has images 0-{len(split.y) - 1}")
    index = torch.arange(args.offset, args.offset + args.n)
    return index, split.x[index], split.y[index]


def _batch_size(args: argparse.Namespace, model: Any, device: Any) -> int:
    """--batch-size: a positive integer, or 'auto' (measured for this model and device, cached)."""
    from bench import zoo
    from bench.batch_size import autotune

    if args.batch_size == "auto":
        return autotune(model, zoo.get_card(args.model).sha256 or args.model, device)
    if args.batch_size.isdigit() and int(args.batch_size) > 0:
        return int(args.batch_size)
    raise BenchError(f"--batch-size {args.batch_size!r}: expected a positive integer or 'auto'")


def _precisions(value: str) -> tuple[str, ...]:
    from bench.models.search_copy import PRECISIONS

    names = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [v for v in names if v not in PRECISIONS]
    if unknown or not names:
        raise BenchError(f"--precision {value!r}: expected a comma list of {', '.join(PRECISIONS)}")
    return names


DEFAULT_CASCADES = ("autoattack_standard", "autoattack_standard+adaptive")


def _cascades(values: list[str] | None) -> list[list[str]]:
    """--presets: each value one cascade's preset list, joined by '+' (default: the headline's)."""
    from bench.attacks.kinds.cascade import PRESETS

    lists = [[name.strip() for name in v.split("+")] for v in (values or DEFAULT_CASCADES)]
    for v, names in zip(values or DEFAULT_CASCADES, lists):
        unknown = [n for n in names if n not in PRESETS]
        if not all(names):
            raise BenchError(f"--presets {v!r}: an empty preset name (join presets with '+': autoattack_standard+adaptive)")
        if unknown:
            raise BenchError(f"--presets {v!r}: unknown preset(s) {', '.join(unknown)} (known: {', '.join(PRESETS)})")
    return lists


def _autoattack(args: argparse.Namespace, device: Any, threads: int) -> int:
    """The cascade's presets against torchattacks' AutoAttack as it ships: time, robust accuracy,
    and whether the cascade's robust set lies inside the reference's (it may be stronger)."""
    from tabulate import tabulate

    from bench import zoo
    from bench.attacks.spec import unit_interval_open_closed
    from bench.models.search_copy import precision_note
    from bench.perf import REFERENCES, autoattack_comparison

    problem = unit_interval_open_closed(args.eps)  # the cascade's own eps check
    if problem:
        raise BenchError(f"--eps {args.eps}: an L-inf budget on [0, 1] images {problem}")
    cascades = _cascades(args.presets)  # bad input fails before the model loads
    model = zoo.load(args.model, device)
    index, x, y = _examples(args)
    batch = _batch_size(args, model, device)
    precisions = _precisions(args.precision)
    for note in filter(None, (precision_note(p, device) for p in precisions)):
        print(f"note: {note}", file=sys.stderr)
    rows = autoattack_comparison(model, x, y, index, args.eps, batch, device,
                                 cascades, precisions)
    refs = rows[:len(REFERENCES)]
    table = []
    for r in rows:
        outside = [f"{int((r.robust & ~ref.robust).sum())}" if r is not ref else "-" for ref in refs]
        table.append([r.name, f"{r.seconds:.1f}", _with_interval(r.robust_accuracy, len(y)), *(f"{ref.seconds / r.seconds:.2f}" for ref in refs),
                      *outside])
    print(f"{args.model}, L-inf eps {args.eps}, test images {args.offset}-{args.offset + args.n - 1} (n={len(y)}), "
          f"{device} ({threads} threads)")
    print(tabulate(table, headers=["attack", "seconds", "robust acc", "speed vs shipped", "speed vs 100 steps",
                                   "robust here, broken by shipped", "... by 100 steps"]))
    for r in rows[len(REFERENCES):]:
        print(f"\n{r.name}: " + "; ".join(f"{k} ({m['backend']}) {m['time_s']:.1f}s broke {m['broke']}/{m['attempted']}"
                                         for k, m in r.members.items() if m["attempted"]))
    return 0


def _with_interval(value: float, n: int) -> str:
    """A robust accuracy of n examples with its 95% interval, as the leaderboards print it."""
    from bench.report.model import Figure
    from bench.report.text import value_text
    from bench.stats import proportion_interval

    ci = proportion_interval(value, n)
    return value_text(Figure(value=value, n=n, lo=ci[0] if ci else None, hi=ci[1] if ci else None))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("perf", help="benchmark an attack across native, ART, foolbox (and torchattacks) backends")
    p.add_argument("--model", required=True, help="zoo model id")
    p.add_argument("--attack", choices=sorted(PRESETS) + ["autoattack"], default="pgd",
                   help="autoattack: the cascade's presets beside torchattacks' AutoAttack as it ships")
    p.add_argument("--eps", type=float, default=0.3, help="L-inf budget of --attack autoattack")
    p.add_argument("--precision", default="float32",
                   help="--attack autoattack: the cascade's search precision(s), a comma list of float32,bfloat16 "
                        "(each gets its rows; verification is float32 always)")
    p.add_argument("--presets", action="append",
                   help="--attack autoattack: a cascade to time, its preset list joined by '+' (repeatable; default: "
                        f"{' and '.join(DEFAULT_CASCADES)}; autoattack_shipped = the shipped 10-step budgets)")
    p.add_argument("--param", action="append", help="override an attack parameter, KEY=VALUE (repeatable)")
    p.add_argument("--n", type=positive_int, default=200, help="examples (test images from --offset)")
    p.add_argument("--offset", type=non_negative_int, default=1000)
    p.add_argument("--batch-size", default="200", help="examples per batch, or 'auto': measured for this model and device, cached")
    p.add_argument("--backends", default="native,foolbox,art,torchattacks")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    p.add_argument("--profile", action="store_true", help="also print the native backend's top operators (torch.profiler)")
    p.set_defaults(func=cmd_perf)
