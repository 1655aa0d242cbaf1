"""`bench perf`: speed and strength of one attack across backends (a benchmark, not a test)."""

from __future__ import annotations

import argparse

from bench.errors import BenchError

PRESETS = {
    "pgd": ("pgd_linf", {"eps": 0.3, "steps": 100, "step_size": 0.01}),
    "cw": ("cw_l2", {"steps": 100, "binary_search_steps": 3, "initial_const": 0.01, "lr": 0.01}),
}


def cmd_perf(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from bench import zoo
    from bench.data import load_mnist
    from bench.device import configure_threads, resolve_device
    from bench.batch_size import autotune
    from bench.perf import benchmark, matmul_peak_gflops, profile_native

    threads = configure_threads()
    device = resolve_device(args.device)
    kind, params = PRESETS[args.attack]
    params = dict(params)
    for item in args.param or []:
        key, _, value = item.partition("=")
        if not value:
            raise BenchError(f"--param {item!r}: expected KEY=VALUE")
        params[key] = type(params.get(key, 1.0))(float(value)) if key in params else float(value)
    model = zoo.load(args.model, device)
    split = load_mnist("test", args.data_dir)
    x, y = split.x[args.offset : args.offset + args.n], split.y[args.offset : args.offset + args.n]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if args.batch_size == "auto":
        batch_size = autotune(model, zoo.get_card(args.model).sha256 or args.model, device)
    elif args.batch_size.isdigit() and int(args.batch_size) > 0:
        batch_size = int(args.batch_size)
    else:
        raise BenchError(f"--batch-size {args.batch_size!r}: expected a positive integer or 'auto'")
    peak = matmul_peak_gflops()
    rows = benchmark(model, x, y, kind, params, backends, batch_size, device)
    by = {r.backend: r for r in rows}
    table = []
    for r in rows:
        ratios = {f"x vs {o}": f"{r.examples_per_s / by[o].examples_per_s:.2f}" for o in ("art", "foolbox") if o in by and o != r.backend}
        table.append([r.backend, f"{r.seconds:.1f}", f"{r.examples_per_s:.2f}", f"{r.success_rate:.3f}", f"{r.robust_accuracy:.3f}",
                      f"{r.passes_per_example:.1f}", f"{r.gflops:.1f}", f"{100 * r.gflops / peak:.0f}%",
                      ", ".join(f"{k} {v}" for k, v in ratios.items())])
    print(f"{args.model} / {kind} {params} on {args.n} examples, batch {batch_size}, {device} ({threads} threads); "
          f"fp32 matmul peak {peak:.1f} GFLOP/s")
    print(tabulate(table, headers=["backend", "seconds", "examples/s", "success rate", "robust acc", "passes/ex", "GFLOP/s", "of peak", "speed ratio"]))
    if args.profile:
        print("\nnative backend, top operators by self time (torch.profiler):")
        print(profile_native(model, x, y, kind, params, batch_size, device))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("perf", help="benchmark an attack across native, ART, foolbox (and torchattacks) backends")
    p.add_argument("--model", required=True, help="zoo model id")
    p.add_argument("--attack", choices=sorted(PRESETS), default="pgd")
    p.add_argument("--param", action="append", help="override an attack parameter, KEY=VALUE (repeatable)")
    p.add_argument("--n", type=int, default=200, help="examples (test images from --offset)")
    p.add_argument("--offset", type=int, default=1000)
    p.add_argument("--batch-size", default="200", help="examples per batch, or 'auto': measured for this model and device, cached")
    p.add_argument("--backends", default="native,foolbox,art,torchattacks")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--profile", action="store_true", help="also print the native backend's top operators (torch.profiler)")
    p.set_defaults(func=cmd_perf)
