"""Convolutional trunks of the original ECOC code (MNIST): the Standard network and the
ensemble member with its per-bit heads (paper-notes section 1). Inputs are [0,1] pixels; the
models shift them to [-0.5, 0.5] as the original code does."""

from __future__ import annotations

import torch
from torch import nn


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> list[nn.Module]:
    # 'same' padding as in Keras: for stride 2 and odd k, pad k//2 gives ceil(n/2) outputs.
    return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2), nn.ELU()]


class StandardTrunk(nn.Module):
    """conv5x5 64, then (conv3x3 s2, conv3x3) x3 (28->14->7->4), dense 128, 64, 64, n_bits."""

    def __init__(self, num_bits: int, width: int = 64, in_channels: int = 1):
        super().__init__()
        w = width
        layers: list[nn.Module] = _conv(in_channels, w, 5)
        layers += _conv(w, w, 3, 2) + _conv(w, w, 3) + _conv(w, w, 3, 2) + _conv(w, w, 3) + _conv(w, w, 3, 2)
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Sequential(
            nn.Linear(w * 16, 128), nn.ELU(), nn.Linear(128, 64), nn.ELU(), nn.Linear(64, 64), nn.Linear(64, num_bits)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x - 0.5))


class BitHead(nn.Module):
    """One output bit of an ensemble member: its own branch from the raw input, merged with the
    member's trunk features, then two 2x2 convs and a small dense stack down to one score."""

    def __init__(self, trunk_channels: int = 32, in_channels: int = 1):
        super().__init__()
        self.branch = nn.Sequential(*_conv(in_channels, 4, 5, 2), *_conv(4, 4, 3, 2), *_conv(4, 4, 3, 2))
        self.merge = nn.Sequential(
            nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(trunk_channels + 4, 4, 2), nn.ELU(),
            nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(4, 4, 2), nn.ELU(), nn.Flatten(),
            nn.Linear(64, 16), nn.ELU(), nn.Linear(16, 8), nn.ELU(), nn.Linear(8, 4), nn.ELU(),
            nn.Linear(4, 2), nn.Linear(2, 1),
        )

    def forward(self, x: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return self.merge(torch.cat([features, self.branch(x)], dim=1))


class EnsembleMember(nn.Module):
    """A member with no shared layers: every conv doubled, 32 filters, 4x4x32 features."""

    def __init__(self, num_bits: int, width: int = 32, in_channels: int = 1):
        super().__init__()
        w = width
        layers = _conv(in_channels, w, 5) + _conv(w, w, 5) + _conv(w, w, 3, 2)
        layers += _conv(w, w, 3) + _conv(w, w, 3) + _conv(w, w, 3, 2)
        layers += _conv(w, w, 3) + _conv(w, w, 3) + _conv(w, w, 3, 2)
        self.trunk = nn.Sequential(*layers)
        self.heads = nn.ModuleList(BitHead(w, in_channels) for _ in range(num_bits))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - 0.5
        feats = self.trunk(x)
        return torch.cat([head(x, feats) for head in self.heads], dim=1)


class EnsembleTrunk(nn.Module):
    """``members`` independent members, each producing ``bits_per_member`` code scores."""

    def __init__(self, members: int, bits_per_member: int, width: int = 32, in_channels: int = 1):
        super().__init__()
        self.members = nn.ModuleList(EnsembleMember(bits_per_member, width, in_channels) for _ in range(members))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([m(x) for m in self.members], dim=1)


def build_trunk(kind: str, num_bits: int, members: int = 1, in_channels: int = 1) -> nn.Module:
    """The trunk of a card; 28x28 and 32x32 inputs both end in 4x4 features (three stride-2 convs)."""
    if kind == "standard":
        return StandardTrunk(num_bits, in_channels=in_channels)
    if kind == "ensemble":
        if num_bits % members:
            raise ValueError(f"{num_bits} bits do not split over {members} members")
        return EnsembleTrunk(members, num_bits // members, in_channels=in_channels)
    raise ValueError(f"unknown trunk {kind!r}; expected standard or ensemble")
