"""Output codes: identity and the balanced Hadamard code of the original ECOC code, and their
distance properties (thesis section 2.1.3-2.1.4)."""

from __future__ import annotations

import numpy as np
import scipy.linalg


def identity_code(num_classes: int, zero_one: bool = True) -> np.ndarray:
    """I_M; with ``zero_one=False`` the off-diagonal entries are -1 (a +-1 one-hot code)."""
    code = np.eye(num_classes, dtype=np.float32)
    return code if zero_one else 2 * code - 1


def hadamard_code(length: int, rows: int, seed: int = 59) -> np.ndarray:
    """The original code's Hadamard code: Sylvester H_L, first column set to -1 on even row
    indices below ``rows`` (balances the all-ones column), rows shuffled with numpy seed
    ``seed``, columns permuted by the same generator, first ``rows`` rows kept. Entries +-1."""
    if length & (length - 1) or length < 2:
        raise ValueError(f"Hadamard code length must be a power of two, got {length}")
    if not 0 < rows <= length:
        raise ValueError(f"rows must be in 1..{length}, got {rows}")
    h = scipy.linalg.hadamard(length).astype(np.float32)
    for i in range(0, rows, 2):
        h[i, 0] = -1.0
    rng = np.random.RandomState(seed)
    h = h[rng.permutation(length)]
    h = h[:, rng.permutation(length)]
    return np.ascontiguousarray(h[:rows])


def hamming_distances(code: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances between rows (entries compared by sign / 0-1 value)."""
    bits = code > (0.5 if code.min() >= 0 else 0.0)
    return (bits[:, None, :] != bits[None, :, :]).sum(-1)


def min_hamming_distance(code: np.ndarray, num_rows: int | None = None) -> int:
    """Minimum distance among the first ``num_rows`` rows (the class rows)."""
    d = hamming_distances(code[: num_rows or len(code)]).astype(float)
    np.fill_diagonal(d, np.inf)
    return int(d.min())


def plotkin_bound(num_rows: int, num_bits: int) -> int:
    """Thesis Theorem 1: d <= floor(N/2 * M/(M-1)) for an M x N code."""
    return int(np.floor(num_bits / 2 * num_rows / (num_rows - 1)))
