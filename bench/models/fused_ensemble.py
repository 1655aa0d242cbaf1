"""An ensemble trunk with its bit heads recomputed as grouped layers: the same function as
:class:`bench.models.trunks.EnsembleTrunk`, in a quarter (TanhEns16) to an eighth (TanhEns32) of the calls.

Why: an ensemble code model (TanhEns32: 4 members x 8 bit heads) runs, per forward pass, each
member's convolution stack plus ~23 tiny layers per bit head (three 4-filter convolutions, two 2x2
merges, a 16-8-4-2-1 dense stack, activations), one call each: ~800 calls, most of them too small to
be worth one. Here every head's branch and merge convolutions are one grouped convolution per layer
(groups = heads) and their dense stacks one batched matrix product per layer; the members' trunks,
whose full-resolution convolutions carry the arithmetic, stay as they are (stacked into one grouped
stack they were slower at batch 100, measured in docs/perf.md). The values differ from the original's
only by float rounding (tests/test_fused_ensemble.py); it is used only inside
:func:`bench.models.search_copy.search_copy`, and every candidate found on it is verified on the model
itself.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from bench.models.trunks import BitHead, EnsembleTrunk


def _grouped_conv(like: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor | None, groups: int) -> nn.Conv2d:
    """A convolution with ``like``'s kernel, stride and padding and the given stacked weights, in ``groups``."""
    fused = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], like.kernel_size, stride=like.stride,
                      padding=like.padding, groups=groups, bias=bias is not None)
    with torch.no_grad():
        fused.weight.copy_(weight)
        if bias is not None:
            fused.bias.copy_(bias)  # type: ignore[union-attr]
    return fused


def _cat_conv(convs: list[nn.Conv2d], groups: int) -> nn.Conv2d:
    """One convolution computing ``convs`` side by side, their output channels stacked: on one shared
    input (``groups=1``) or each on its own consecutive slice of the input (``groups=len(convs)``)."""
    bias = torch.cat([c.bias for c in convs]) if convs[0].bias is not None else None  # type: ignore[misc]
    return _grouped_conv(convs[0], torch.cat([c.weight for c in convs]), bias, groups)


class GroupedLinear(nn.Module):
    """``G`` independent linear layers on a (G, N, in) tensor, as one batched matrix product."""

    def __init__(self, layers: list[nn.Linear]):
        super().__init__()
        self.weight = nn.Parameter(torch.stack([lin.weight.detach().T for lin in layers]).clone())  # (G, in, out)
        self.bias = nn.Parameter(torch.stack([lin.bias.detach() for lin in layers]).unsqueeze(1).clone())  # (G, 1, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


def _layers(seq: nn.Sequential, kind: type) -> list[nn.Module]:
    return [m for m in seq if isinstance(m, kind)]


class FusedEnsembleTrunk(nn.Module):
    """:class:`EnsembleTrunk`'s function, its bit heads as grouped layers (see the module docstring)."""

    def __init__(self, trunk: EnsembleTrunk):
        super().__init__()
        self.member_trunks = nn.ModuleList(m.trunk for m in trunk.members)
        members = list(trunk.members)
        heads: list[BitHead] = [h for m in members for h in m.heads]
        self.heads = len(heads)
        branch_convs = [_layers(h.branch, nn.Conv2d) for h in heads]
        self.branch = nn.ModuleList(
            _cat_conv([convs[i] for convs in branch_convs], groups=1 if i == 0 else len(heads))
            for i in range(len(branch_convs[0])))
        merge_convs = [_layers(h.merge, nn.Conv2d) for h in heads]
        width = members[0].trunk[0].out_channels
        first = [c[0] for c in merge_convs]
        # The first merge convolution reads [member features, head branch]: it is linear in its input,
        # so it splits into a part on the features (grouped by member) and one on the branch (by head).
        self.merge_features = _grouped_conv(first[0], torch.cat([c.weight[:, :width] for c in first]),
                                            torch.cat([c.bias for c in first]), groups=len(members))  # type: ignore[misc]
        self.merge_branch = _grouped_conv(first[0], torch.cat([c.weight[:, width:] for c in first]), None, groups=len(heads))
        self.merge = nn.ModuleList(_cat_conv([c[i] for c in merge_convs], groups=len(heads))
                                   for i in range(1, len(merge_convs[0])))
        linears = [_layers(h.merge, nn.Linear) for h in heads]
        self.dense = nn.ModuleList(GroupedLinear([lin[i] for lin in linears]) for i in range(len(linears[0])))
        # the original's dense stack: ELU after every layer but the last two (16-8-4-2-1: ... 4, ELU, 2, 1)
        self.dense_elu = [isinstance(nxt, nn.ELU) for nxt in self._after(heads[0].merge, nn.Linear)]

    @staticmethod
    def _after(seq: nn.Sequential, kind: type) -> list[nn.Module | None]:
        mods = list(seq)
        return [mods[i + 1] if i + 1 < len(mods) else None for i, m in enumerate(mods) if isinstance(m, kind)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - 0.5
        feats = torch.cat([t(x) for t in self.member_trunks], dim=1)
        branch = x
        for conv in self.branch:
            branch = F.elu(conv(branch))
        pad = (0, 1, 0, 1)
        h = F.elu(self.merge_features(F.pad(feats, pad)) + self.merge_branch(F.pad(branch, pad)))
        for conv in self.merge:
            h = F.elu(conv(F.pad(h, pad)))
        n = h.shape[0]
        z = h.reshape(n, self.heads, -1).transpose(0, 1)  # (heads, N, 64), each head's (c, y, x) order
        for lin, elu in zip(self.dense, self.dense_elu):
            z = lin(z)
            if elu:
                z = F.elu(z)
        return z.squeeze(2).T  # (N, heads): member-major, as EnsembleTrunk's cat


def fuse_ensembles(module: nn.Module) -> bool:
    """Replace every :class:`EnsembleTrunk` under ``module`` by its fused form, in place; whether any was."""
    fused = False
    for name, child in list(module.named_children()):
        if isinstance(child, EnsembleTrunk):
            setattr(module, name, FusedEnsembleTrunk(child))
            fused = True
        else:
            fused = fuse_ensembles(child) or fused
    return fused
