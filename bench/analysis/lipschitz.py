"""Spectral analysis of instability (Szegedy et al. 2014, section 4.3 and Table 5): an upper
Lipschitz constant (L2 -> L2) for every layer and for the whole map from pixels to code scores.

Per layer: a dense layer's bound is its largest singular value. A convolution's bound is computed in
the frequency domain, with the stride's aliased frequencies stacked as in Szegedy's formula; the
DFT grid is large enough that the zero-padded operator is a restriction of the circular one, so the
value is a true upper bound at the layer's input size. A power iteration on the layer itself
(stride and padding included) gives its operator norm at that size, from below.

Whole network: the model is traced with torch.fx and the bounds are propagated through the graph:
layers in a chain multiply, sums add, and parallel branches that are concatenated (ensemble
members, per-bit heads) combine as sqrt(sum of squares). ELU (alpha <= 1), tanh, ReLU and max-pool
without overlap are 1-Lipschitz, the logistic sigmoid 1/4. The bound is set against the largest
Jacobian norm found on test images, which is a lower bound of the true constant.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import fx, nn
from torch.nn.modules.utils import _pair
from tqdm import tqdm

from bench.analysis.common import AnalysisContext, Section, Table, fmt, save_json
from bench.models.base import Classifier

SURFACES = ("code", "linear")


@dataclass
class LayerBound:
    """One layer call: ``bound`` is a guaranteed upper bound, ``norm`` the operator norm at its input."""

    name: str
    kind: str
    weight: str
    input: str
    bound: float
    norm: float


@dataclass
class NetworkBound:
    """The whole map from pixels to one surface; ``unhandled`` names graph ops without a rule."""

    surface: str
    layers: list[LayerBound]
    upper: float
    estimate: float
    empirical: float
    unhandled: list[str]


def dense_bound(weight: torch.Tensor) -> float:
    """Largest singular value of a dense layer's weight matrix."""
    return float(torch.linalg.matrix_norm(weight.detach().double(), ord=2))


def _dense_kernel(conv: nn.Conv2d) -> torch.Tensor:
    """The kernel as one (C_out, C_in, kh, kw) array: dilation spelled out, groups block-diagonal."""
    w = conv.weight.detach().double()
    dh, dw = conv.dilation
    if dh > 1 or dw > 1:
        full = w.new_zeros(*w.shape[:2], (w.shape[2] - 1) * dh + 1, (w.shape[3] - 1) * dw + 1)
        full[:, :, ::dh, ::dw] = w
        w = full
    g = conv.groups
    if g > 1:
        out_g, in_g = w.shape[0] // g, w.shape[1]
        dense = w.new_zeros(w.shape[0], in_g * g, *w.shape[2:])
        for i in range(g):
            dense[i * out_g : (i + 1) * out_g, i * in_g : (i + 1) * in_g] = w[i * out_g : (i + 1) * out_g]
        w = dense
    return w


def _dft_grid(conv: nn.Conv2d, size: tuple[int, int], kernel: tuple[int, int]) -> tuple[int, int] | None:
    """DFT size on which the layer is a restriction of a circular convolution, or None."""
    stride = conv.stride
    if conv.padding_mode == "zeros":
        # zero padding: every output is a coefficient of the full linear convolution, which a
        # circular one of size >= n + k - 1 holds without wrap-around; round up to the stride.
        return tuple(-(-(n + k - 1) // s) * s for n, k, s in zip(size, kernel, stride))  # type: ignore[return-value]
    pad = conv.padding if isinstance(conv.padding, tuple) else None
    if conv.padding_mode == "circular" and pad is not None:
        exact = all(2 * p == k - 1 and n % s == 0 and n >= k for n, k, s, p in zip(size, kernel, stride, pad))
        return size if exact else None
    return None


def conv_bound(conv: nn.Conv2d, size: tuple[int, int]) -> float:
    """Upper bound of a Conv2d's operator norm on inputs of spatial ``size`` (Szegedy's formula:
    sup over frequencies of the matrix stacking the kernel's aliased transfer matrices)."""
    w = _dense_kernel(conv)
    kernel = (w.shape[2], w.shape[3])
    grid = _dft_grid(conv, (int(size[0]), int(size[1])), kernel)
    if grid is None:
        return math.inf
    (n1, n2), (s1, s2) = grid, conv.stride
    m1, m2 = n1 // s1, n2 // s2
    co, ci = w.shape[:2]
    spectrum = torch.fft.fft2(w, s=grid)  # (C_out, C_in, n1, n2); frequency k + l*m in each axis
    blocks = spectrum.reshape(co, ci, s1, m1, s2, m2).permute(3, 5, 0, 2, 4, 1).reshape(m1, m2, co, s1 * s2 * ci)
    return float(torch.linalg.matrix_norm(blocks, ord=2).max()) / math.sqrt(s1 * s2)


def power_norm(f: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, ...], iters: int = 500,
               tol: float = 1e-5, seed: int = 0, device: torch.device | str = "cpu") -> float:
    """Operator norm of the linear part of an affine map (x -> f(x) - f(0)) on inputs of ``shape``,
    by power iteration on W^T W; converges from below."""
    x = torch.randn((1, *shape), generator=torch.Generator().manual_seed(seed)).to(device)
    sigma = 0.0
    with torch.enable_grad():
        zero = f(torch.zeros_like(x)).detach()
        for _ in range(iters):
            x = (x / x.norm()).requires_grad_(True)
            y = f(x) - zero
            (x,) = torch.autograd.grad(y, x, y)
            previous, sigma = sigma, float(y.detach().norm())
            if abs(sigma - previous) <= tol * sigma:
                break
    return sigma


def maxpool_bound(kernel: Any, stride: Any = None, dilation: Any = 1) -> float:
    """sqrt(largest number of pooling windows holding one pixel): 1 without overlap."""
    k, d = _pair(kernel), _pair(dilation)
    s = _pair(stride) if stride else k
    return math.sqrt(math.prod(-(-((ki - 1) * di + 1) // si) for ki, si, di in zip(k, s, d)))


def _leaf(module: nn.Module, x: torch.Tensor) -> tuple[float, float] | None:
    """(upper bound, operator norm at this input) of a leaf module, or None without a rule."""
    if isinstance(module, nn.Linear):
        b = dense_bound(module.weight)
        return b, b
    if isinstance(module, nn.Conv2d):
        return conv_bound(module, tuple(x.shape[-2:])), power_norm(module, tuple(x.shape[1:]), device=x.device)
    if isinstance(module, nn.ELU):
        return max(1.0, module.alpha), max(1.0, module.alpha)
    if isinstance(module, nn.Sigmoid):
        return 0.25, 0.25
    if isinstance(module, nn.MaxPool2d):
        b = maxpool_bound(module.kernel_size, module.stride, module.dilation)
        return b, b
    if isinstance(module, (nn.ReLU, nn.Tanh, nn.Identity, nn.Flatten, nn.ZeroPad2d, nn.Dropout)):
        return 1.0, 1.0
    return None


SAME = {"flatten", "view", "reshape", "contiguous", "permute", "transpose", "squeeze", "unsqueeze", "getitem",
        "clone", "float", "double", "to", "neg", "narrow", "select", "relu", "tanh", "clamp", "clip"}
SUMS = {"add", "sub", "iadd", "isub"}
CONCAT = {"cat", "concat", "stack"}


def _arg_nodes(node: fx.Node) -> list[fx.Node]:
    """Input nodes in argument order, repeats kept (x + x doubles, cat([a, a]) counts a twice)."""
    found: list[fx.Node] = []
    fx.node.map_arg((node.args, node.kwargs), found.append)
    return found


def _is_selection(index: Any) -> bool:
    """Indexing by ints, slices, None and ... only picks entries (never repeats one)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, slice)) or i is None or i is Ellipsis for i in items)


def _op_name(node: fx.Node) -> str:
    if node.op == "call_method":
        return str(node.target)
    target = node.target
    if target is getattr and len(node.args) > 1 and node.args[1] == "T":
        return "transpose"
    return getattr(target, "__name__", str(target)).strip("_")


class _Propagate(fx.Interpreter):
    """Runs the traced model once and carries (upper bound, norm estimate) from input to each node."""

    def __init__(self, gm: fx.GraphModule, cache: dict[tuple[str, tuple[int, ...]], tuple[float, float] | None], progress: bool):
        super().__init__(gm)
        self.cache = cache  # (module name, input shape) -> bounds, shared between surfaces
        self.lip: dict[fx.Node, np.ndarray] = {}
        self.layers: list[LayerBound] = []
        self.unhandled: list[str] = []
        calls = sum(1 for n in gm.graph.nodes if n.op == "call_module")
        self.bar = tqdm(total=calls, desc="layer bounds", unit="layer", disable=not progress, leave=False)

    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        self.lip[n] = self._rule(n, out)
        return out

    def _rule(self, n: fx.Node, out: Any) -> np.ndarray:
        if n.op == "placeholder":
            return np.ones(2)
        if n.op == "output":
            return self.lip[_arg_nodes(n)[0]]
        args = _arg_nodes(n)
        inputs = [self.lip[m] for m in args]
        if not isinstance(out, torch.Tensor) or not any(v.any() for v in inputs):
            return np.zeros(2)  # constant in x (weights, shapes, buffers)
        if n.op == "call_module":
            return self._module(n) * inputs[0]
        name = _op_name(n)
        varying = [m for m in args if self.lip[m].any()]
        if any(self.env[m].shape != out.shape for m in varying) and name not in SAME | CONCAT | {"matmul", "max_pool2d"}:
            self.unhandled.append(f"{n.op} {name} (broadcast)")  # broadcasting copies entries: not covered
            return np.full(2, math.inf)
        if name in SAME and len(varying) == 1 and (name != "getitem" or _is_selection(n.args[1])):
            return self.lip[varying[0]]
        if name in SUMS:
            return np.sum(inputs, axis=0)
        if name in CONCAT:
            return np.sqrt(np.sum(np.square(inputs), axis=0))
        if name == "sigmoid" and len(varying) == 1:
            return 0.25 * self.lip[varying[0]]
        if name == "max_pool2d" and len(varying) == 1:
            params = dict(zip(("kernel_size", "stride", "padding", "dilation"), n.args[1:]), **n.kwargs)
            return maxpool_bound(params["kernel_size"], params.get("stride"), params.get("dilation", 1)) * self.lip[varying[0]]
        if name in ("mul", "truediv", "div", "matmul") and len(varying) == 1:
            return self._constant_factor(n, name, varying[0]) * self.lip[varying[0]]
        self.unhandled.append(f"{n.op} {name}")
        return np.full(2, math.inf)

    def _module(self, n: fx.Node) -> np.ndarray:
        module = self.module.get_submodule(str(n.target))
        x = self.env[_arg_nodes(n)[0]]
        self.bar.update()
        key = (str(n.target), tuple(x.shape[1:]))
        if key not in self.cache:
            self.cache[key] = _leaf(module, x)
        bounds = self.cache[key]
        if bounds is None:
            self.unhandled.append(f"module {n.target} ({type(module).__name__})")
            return np.full(2, math.inf)
        if any(True for _ in module.parameters()) or bounds != (1.0, 1.0):
            weight = "x".join(map(str, module.weight.shape)) if isinstance(getattr(module, "weight", None), torch.Tensor) else "-"
            if isinstance(module, nn.Conv2d) and module.stride != (1, 1):
                weight += f" s{module.stride[0]}"
            self.layers.append(LayerBound(str(n.target).removeprefix("model."), type(module).__name__, weight,
                                          "x".join(map(str, x.shape[1:])), *bounds))
        return np.array(bounds)

    def _constant_factor(self, n: fx.Node, name: str, varying: fx.Node) -> float:
        """|c| for x*c, 1/|c| for x/c, sigma_max(C) for x @ C, with c independent of x."""
        args = [self.env[a] if isinstance(a, fx.Node) else a for a in n.args if a is not varying]
        if len(args) != 1 or (name in ("truediv", "div", "matmul") and n.args[0] is not varying):
            return math.inf
        c = torch.as_tensor(args[0], dtype=torch.float64)
        if name == "matmul":
            return dense_bound(c) if c.dim() == 2 else math.inf
        if name == "mul":
            return float(c.abs().max())
        return 1.0 / float(c.abs().min())


def jacobian_norm(f: nn.Module, x: torch.Tensor, iters: int = 20, seed: int = 0) -> torch.Tensor:
    """Spectral norm of the input-output Jacobian at each example (power iteration, batched):
    any of these values is a lower bound of the map's Lipschitz constant."""
    u = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)).to(x)
    _, pullback = torch.func.vjp(f, x)
    ju = x.new_zeros(len(x))
    for _ in range(iters):
        u = u / u.flatten(1).norm(dim=1).clamp_min(1e-30).view(-1, *([1] * (u.dim() - 1)))
        _, ju = torch.func.jvp(f, (x,), (u,))
        (u,) = pullback(ju)
    return ju.flatten(1).norm(dim=1)


def network_bound(model: Classifier, surface: str, x: torch.Tensor, progress: bool = False,
                  cache: dict[tuple[str, tuple[int, ...]], tuple[float, float] | None] | None = None) -> NetworkBound:
    """Per-layer and whole-network bounds of ``model.surface(surface)``; ``x`` are sample inputs
    for the empirical (lower) value; ``cache`` shares layer bounds between surfaces of one model.
    Raises TypeError when torch.fx cannot trace the model."""
    f = model.surface(surface)
    try:
        gm = fx.symbolic_trace(f)
    except Exception as exc:  # fx raises many types (TraceError, TypeError, ...) on untraceable code
        reason = str(exc).splitlines()[0].split(". ")[0]
        raise TypeError(f"torch.fx cannot trace {type(model).__name__}.{surface} ({reason})") from None
    prop = _Propagate(gm, {} if cache is None else cache, progress)
    with torch.no_grad():
        prop.run(x[:1])
    prop.bar.close()
    out = next(n for n in gm.graph.nodes if n.op == "output").all_input_nodes[0]
    upper, estimate = (float(v) for v in prop.lip[out])
    empirical = float(jacobian_norm(f, x).max())
    return NetworkBound(surface, prop.layers, upper, estimate, empirical, sorted(set(prop.unhandled)))


def run(ctx: AnalysisContext, samples: int = 32) -> Section:
    """Per-layer table and global bounds for the code and linear surfaces; CSV/JSON beside them."""
    section = Section("Spectral analysis (Lipschitz bounds)")
    x = ctx.test_split().x[:samples].to(ctx.device)
    results: list[NetworkBound] = []
    cache: dict[tuple[str, tuple[int, ...]], tuple[float, float] | None] = {}
    for surface in SURFACES:
        try:
            results.append(network_bound(ctx.model, surface, x, ctx.progress, cache))
        except TypeError as exc:
            section.notes.append(f"{surface} surface: no bound: {exc}")
    if not results:
        return section
    layers = results[0].layers
    rows = [[b.name, b.kind, b.weight, b.input, fmt(b.bound), fmt(b.norm)] for b in layers]
    section.tables.append(Table(
        "Per-layer upper Lipschitz bounds (Szegedy Table 5)",
        ["layer", "type", "weight", "input", "upper bound", "operator norm at input"], rows,
        "dense: largest singular value; conv: frequency-domain bound with stride aliasing (upper) and power "
        "iteration on the layer with its stride and padding (norm); activations without weights are omitted "
        "when 1-Lipschitz.", collapsed=len(rows) > 20))
    summary = [[r.surface, fmt(r.upper), fmt(r.estimate), fmt(r.empirical),
                fmt(r.upper / r.empirical) if r.empirical > 0 else "—", ", ".join(r.unhandled) or "-"] for r in results]
    section.tables.append(Table(
        "Whole-network bounds, pixels -> surface",
        ["surface", "upper bound", "from operator norms", f"max ||J(x)|| on {len(x)} test images", "looseness", "ops without rule"],
        summary,
        "chains multiply, sums add, concatenated parallel branches (ensemble members, per-bit heads) combine as "
        "sqrt(sum of squares); ELU/tanh/ReLU 1, sigmoid 1/4. The Jacobian column is a lower bound of the true "
        "constant; the decoder (softmax or activation + normalisation) comes after these surfaces."))
    out = ctx.out_dir
    with open(out / "lipschitz.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["layer", "type", "weight", "input", "upper_bound", "operator_norm"])
        writer.writerows([b.name, b.kind, b.weight, b.input, b.bound, b.norm] for b in layers)
    save_json(out / "lipschitz.json", [
        {"surface": r.surface, "upper": r.upper, "estimate": r.estimate, "empirical": r.empirical,
         "unhandled": r.unhandled, "layers": [vars(b) for b in r.layers]} for r in results])
    section.notes.append(f"data: {ctx.rel(out / 'lipschitz.csv')}, {ctx.rel(out / 'lipschitz.json')}")
    return section
