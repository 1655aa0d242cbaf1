"""Training-time input transforms of the thesis: random shifts/rotations and Gaussian noise."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine(x: torch.Tensor, max_shift_px: float, max_rot_deg: float, gen: torch.Generator) -> torch.Tensor:
    """Per-image random translation (pixels) and rotation (degrees), zero fill."""
    if max_shift_px <= 0 and max_rot_deg <= 0:
        return x
    n, _, h, w = x.shape
    ang = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(max_rot_deg)
    tx = (torch.rand(n, generator=gen) * 2 - 1) * (2 * max_shift_px / w)
    ty = (torch.rand(n, generator=gen) * 2 - 1) * (2 * max_shift_px / h)
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1).to(x)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def random_hflip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2 (CIFAR-10's "flipping"; never on digits)."""
    flip = torch.rand(x.shape[0], generator=gen) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1).to(x.device), x.flip(-1), x)


def gaussian_noise(x: torch.Tensor, std: float, gen: torch.Generator) -> torch.Tensor:
    """Additive zero-mean Gaussian noise, clipped back to the [0,1] input range."""
    if std <= 0:
        return x
    noise = torch.randn(x.shape, generator=gen).to(x) * std
    return (x + noise).clamp(0.0, 1.0)
