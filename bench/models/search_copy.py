"""A copy of a model laid out for the attack's search: the attack searches on it, the harness
verifies on the model itself.

Why: on CPU, oneDNN's convolutions in channels-last layout run a zoo model's forward pass
1.3-1.8x faster (and forward plus backward 1.1-1.3x) than the default layout; the scores differ
only by float rounding (~1e-6 relative). A cascade spends nearly all its time in forward passes
(Square's 5,000 queries on every robust example), so it searches on this copy. Candidates it finds
count only after ``bench.verify`` recomputes the prediction on the original model, so the layout
can never make a number look better than the model is.

An ensemble code model's copy also has its bit heads fused into grouped layers
(:mod:`bench.models.fused_ensemble`): the same function in a quarter to an eighth of the calls,
which is what a cascade's later members pay for once they attack a handful of examples.

``precision="bfloat16"`` (opt-in, a cascade parameter recorded in the cell) also runs the copy's
convolutions and linear layers in bfloat16 (AMX / AVX-512 BF16 on CPUs that have them, tensor
cores on GPUs), with their inputs and outputs in float32: every activation (ELU, tanh, the ECOC
decoder) stays float32, so a saturated tanh keeps the tiny float32 gradient a sign-gradient
attack follows (under plain autocast it rounds to exactly 0). bfloat16 keeps float32's exponent
range, so small gradients do not underflow; what it loses is mantissa (about 3 significant
digits in each layer's output). Verification stays float32 on the model itself, so a bfloat16
search can only find fewer adversarials, never a false one: its strength is measured against
float32 cells (docs/perf.md), not assumed.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from bench.models.base import Classifier
from bench.models.fused_ensemble import GroupedLinear, fuse_ensembles

PRECISIONS: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 convolutions and matrix products in hardware: a CUDA
    GPU that supports it, or a CPU with AVX-512 BF16 or AMX (oneDNN's bfloat16 kernels)."""
    if torch.device(device).type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def precision_note(precision: str, device: torch.device) -> str | None:
    """A one-line warning when ``precision`` would make the search slower, not faster, on ``device``.

    Why: without AVX-512 BF16 or AMX, oneDNN emulates bfloat16 (an AVX2 EPYC, 2026-12-06: a
    MadrySmall forward of 76 images 3.6 ms in float32, 53 ms in bfloat16), so a bfloat16 search
    there is about 15x slower for nothing; float32 is the right choice on such a machine."""
    if precision == "float32" or native_bfloat16(device):
        return None
    if torch.device(device).type == "cuda":
        return f"precision {precision}: this GPU has no native {precision}; the search may be slower than float32; use float32 here"
    return (f"precision {precision}: this CPU ({torch.backends.cpu.get_cpu_capability()}) has no native {precision} "
            f"(AVX-512 BF16 or AMX): the search is emulated, ~15x slower than float32 (docs/perf.md); use float32 here")


# Modules whose output is exactly representable in bfloat16 when their input is (they select,
# mask, pad or reshape values, never round them): a run of them after a lowered layer stays in
# bfloat16, and is cast back once, at its end, on the smaller (pooled) tensor.
EXACT = (nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Identity, nn.ZeroPad2d)


class LowPrecision(nn.Module):
    """A convolution or linear layer (and any run of :data:`EXACT` modules after it) computed in
    ``dtype``, read and written in float32. Grouping the exact run changes no value, forward or
    backward (tests/test_cascade.py): it only saves casts of the larger tensors."""

    def __init__(self, layer: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.layer = layer.to(dtype)
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x.to(self.dtype)).float()


def _lower(module: nn.Module, dtype: torch.dtype, group: bool = True) -> None:
    """Wrap every Conv2d, Linear and GroupedLinear under ``module`` in :class:`LowPrecision`, in place; inside an
    ``nn.Sequential`` (with ``group``) together with the :data:`EXACT` modules that follow it."""
    if group and isinstance(module, nn.Sequential):
        children = list(module.children())
        out: list[nn.Module] = []
        i = 0
        while i < len(children):
            child = children[i]
            if isinstance(child, (nn.Conv2d, nn.Linear)):
                j = i + 1
                while j < len(children) and isinstance(children[j], EXACT):
                    j += 1
                out.append(LowPrecision(child if j == i + 1 else nn.Sequential(*children[i:j]), dtype))
                i = j
                continue
            _lower(child, dtype, group)
            out.append(child)
            i += 1
        for name in list(module._modules):
            del module._modules[name]
        for k, child in enumerate(out):
            module.add_module(str(k), child)
        return
    for name, child in list(module.named_children()):
        if isinstance(child, (nn.Conv2d, nn.Linear, GroupedLinear)):
            setattr(module, name, LowPrecision(child, dtype))
        else:
            _lower(child, dtype, group)


def search_copy(model: Classifier, device: torch.device, precision: str = "float32") -> Classifier:
    """``model`` itself where nothing is known to help (float32, and no convolution or not on CPU:
    on CUDA the layout has not been measured here), else a copy in eval mode: on CPU, an ensemble
    trunk's bit heads fused into grouped layers (:mod:`bench.models.fused_ensemble`) and channels-last
    for models with convolutions; its layers in ``precision``."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (known: {', '.join(PRECISIONS)})")
    on_cpu = torch.device(device).type == "cpu"
    has_conv = any(isinstance(m, nn.Conv2d) for m in model.modules())
    if precision == "float32" and not (on_cpu and has_conv):
        return model
    fast = copy.deepcopy(model)
    if on_cpu:
        fuse_ensembles(fast)
    if on_cpu and has_conv:
        fast = fast.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    fast.eval()
    for p in fast.parameters():
        p.requires_grad_(False)
    if precision != "float32":
        _lower(fast, PRECISIONS[precision])
    return fast
