"""The truth-revealing signals of Hoffer, Fine & Soudry (seed 002, section 4.1), one class each.

Every encoding works on any (N, C, H, W) float32 batch in [0,1]; a "pixel" is one (h, w) position
in every channel. ``inject`` returns a new tensor (the input is never modified) and ``decode`` is
the rule that defines the signal, read back from the injected image alone, so the tests and each
results cell can check that the signal survived the clipping to [0,1]. A decoder answers -1 where
the image is ambiguous (a clean pixel that happens to look like the signal).

How each stays in [0,1] (``clipping``):
- one pixel, pattern pixels, random pixel, multiple locations set pixels to values in [0, K*scale]
  (K classes), never add, so no clipping is needed; the suite refuses a scale whose values would
  pass 1 (``max_scale``).
- noise is added and the sum clipped to [0,1]; on black backgrounds the negative half of the noise
  is lost there, and the decoder (largest inner product) still reads the label (tested).
- mean: an image cannot be made zero-mean in [0,1], so each is moved to a common mean ``level``
  (the clean training set's pixel mean), its contrast shrunk around its mean (the factor depends on
  the image, never on the label) just enough that every class's offset fits; the label offset
  (y - (K-1)/2) * scale is then added to every pixel. No clipping.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from bench.registry import Registry

ENCODINGS: Registry[type["Encoding"]] = Registry("encoding")


def register(cls: type["Encoding"]) -> type["Encoding"]:
    """Class decorator: the suite names encodings by ``cls.name``."""
    ENCODINGS.register(cls.name, cls)
    return cls


class Encoding:
    """One signal. Fixed parts (positions, noise vectors) come from ``seed``, so the train and
    test sets of one run share them; per-image draws come from the ``rng`` given to ``inject``."""

    name: ClassVar[str]
    title: ClassVar[str]
    clipping: ClassVar[str]
    scaled: ClassVar[bool] = True  # False: one row, whatever the suite's scales

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, seed: int = 0):
        self.shape = tuple(int(s) for s in input_shape)
        self.num_classes = int(num_classes)
        self.seed = int(seed)

    @classmethod
    def max_scale(cls, num_classes: int) -> float:
        """The largest scale whose signal values stay in [0,1] for ``num_classes`` classes."""
        return 1.0

    @classmethod
    def max_classes(cls) -> int | None:
        """How many classes the signal can tell apart (None: any number)."""
        return None

    def fit(self, x_train: torch.Tensor) -> None:
        """Learn dataset constants from the clean training images (most encodings have none)."""

    def inject(self, x: torch.Tensor, y: torch.Tensor, scale: float, rng: np.random.Generator) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, x: torch.Tensor, scale: float, clean: torch.Tensor | None = None) -> torch.Tensor:
        """The label each image carries by this encoding's rule, -1 where it cannot tell.
        ``clean`` (the images before injection) is used only by signals that are added to the
        image content (noise), where the content would otherwise swamp a small signal."""
        raise NotImplementedError

    def support(self, x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator) -> torch.Tensor | None:
        """Boolean (N, H, W) mask of the pixels ``inject`` may change with the same ``rng`` state,
        or None when it changes every pixel (for tests: the rest must be untouched)."""
        return None

    def describe(self) -> dict[str, Any]:
        """What a results cell records about the encoding (its fixed parts and rules)."""
        return {"name": self.name, "clipping": self.clipping}

    # helpers ---------------------------------------------------------------------------------
    def _codes(self, scale: float, offset: int = 0) -> torch.Tensor:
        """The K pixel values (k + offset) * scale, computed exactly as ``inject`` computes them."""
        return ((torch.arange(self.num_classes) + offset).float() * scale).clamp(0, 1)


@register
class NoSignal(Encoding):
    """The clean data (the paper's "clean data, no embedded signal" accuracy)."""

    name = "none"
    title = "No signal"
    clipping = "none (the images are the clean ones)"
    scaled = False

    def inject(self, x: torch.Tensor, y: torch.Tensor, scale: float, rng: np.random.Generator) -> torch.Tensor:
        return x.clone()

    def decode(self, x: torch.Tensor, scale: float, clean: torch.Tensor | None = None) -> torch.Tensor:
        return torch.full((len(x),), -1, dtype=torch.long)

    def support(self, x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator) -> torch.Tensor | None:
        return torch.zeros(len(x), *self.shape[1:], dtype=torch.bool)


@register
class OnePixel(Encoding):
    """The centre pixel holds the class number: value y * scale."""

    name = "one_pixel"
    title = "One Pixel"
    clipping = "sets the centre pixel to y*scale <= (K-1)*scale <= 1; nothing to clip"

    @classmethod
    def max_scale(cls, num_classes: int) -> float:
        return 1.0 / max(num_classes - 1, 1)

    @property
    def pixel(self) -> tuple[int, int]:
        return self.shape[1] // 2, self.shape[2] // 2

    def inject(self, x: torch.Tensor, y: torch.Tensor, scale: float, rng: np.random.Generator) -> torch.Tensor:
        out = x.clone()
        h, w = self.pixel
        out[:, :, h, w] = self._codes(scale)[y][:, None]
        return out

    def decode(self, x: torch.Tensor, scale: float, clean: torch.Tensor | None = None) -> torch.Tensor:
        h, w = self.pixel
        return _match(x[:, :, h, w], self._codes(scale))

    def support(self, x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator) -> torch.Tensor | None:
        m = torch.zeros(len(x), *self.shape[1:], dtype=torch.bool)
        m[:, self.pixel[0], self.pixel[1]] = True
        return m

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "pixel": list(self.pixel), "value": "y * scale"}


@register
class PatternPixels(Encoding):
    """The four corners hold the label's 4-bit binary code (bit i of y in corner i): 0 or scale."""

    name = "pattern_pixels"
    title = "Pattern Pixels"
    clipping = "sets the corners to 0 or scale <= 1; nothing to clip"

    @classmethod
    def max_classes(cls) -> int | None:
        return 16

    @property
    def corners(self) -> list[tuple[int, int]]:
        h, w = self.shape[1] - 1, self.shape[2] - 1
        return [(0, 0), (0, w), (h, 0), (h, w)]

    def inject(self, x: torch.Tensor, y: torch.Tensor, scale: float, rng: np.random.Generator) -> torch.Tensor:
        out = x.clone()
        on = torch.tensor([scale], dtype=torch.float32)
        for i, (h, w) in enumerate(self.corners):
            bit = ((y >> i) & 1).float()
            out[:, :, h, w] = (bit * on)[:, None]
        return out

    def decode(self, x: torch.Tensor, scale: float, clean: torch.Tensor | None = None) -> torch.Tensor:
        on = torch.tensor([scale], dtype=torch.float32)
        label = torch.zeros(len(x), dtype=torch.long)
        ok = torch.ones(len(x), dtype=torch.bool)
        for i, (h, w) in enumerate(self.corners):
            v = x[:, :, h, w]
            is_on, is_off = (v == on).all(1), (v == 0).all(1)
            ok &= is_on | is_off
            label |= is_on.long() << i
        ok &= label < self.num_classes
        return torch.where(ok, label, torch.full_like(label, -1))

    def support(self, x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator) -> torch.Tensor | None:
        m = torch.zeros(len(x), *self.shape[1:], dtype=torch.bool)
        for h, w in self.corners:
            m[:, h, w] = True
        return m

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "pixels": [list(c) for c in self.corners], "value": "bit_i(y) * scale"}


@register
class RandomPixel(Encoding):
    """A pixel drawn per image holds the class number counted from 1: value (y + 1) * scale
    (from 1, so that class 0 is marked too: a 0 at an unknown place is no signal)."""

    name = "random_pixel"
    title = "Random Pixel"
    clipping = "sets one pixel to (y+1)*scale <= K*scale <= 1; nothing to clip"

    @classmethod
    def max_scale(cls, num_classes: int) -> float:
        return 1.0 / num_classes

    def _positions(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        return torch.from_numpy(rng.integers(0, self.shape[1] * self.shape[2], size=n))

    def inject(self, x: torch.Tensor, y: torch.Tensor, scale: float, rng: np.random.Generator) -> torch.Tensor:
        pos = self._positions(len(x), rng)
        out = x.clone().flatten(2)
        out[torch.arange(len(x)), :, pos] = self._codes(scale, 1)[y][:, None]
        return out.view_as(x)

    def decode(self, x: torch.Tensor, scale: float, clean: torch.Tensor | None = None) -> torch.Tensor:
        codes = self._codes(scale, 1)
        out = []
        for chunk in x.flatten(2).split(1000):
            hit = (chunk[:, :, :, None] == codes).all(1).any(1)  # (n, K): some pixel holds code k
            single = hit.sum(1) == 1
            out.append(torch.where(single, hit.float().argmax(1), torch.full((len(chunk),), -1)))
        return torch.cat(out) if out else torch.empty(0, dtype=torch.long)

    def support(self, x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator) -> torch.Tensor | None:
        pos = self._positions(len(x), rng)
        m = torch.zeros(len(x), self.shape[1] * self.shape[2], dtype=torch.bool)
        m[torch.arange(len(x)), pos] = True
        return m.view(len(x), *self.shape[1:])

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "pixel": "uniform per image", "value": "(y + 1) * scale"}


@register
class MultipleLocations(Encoding):
    """Two distant pixels at class-specific places hold the same value v, drawn per image in
    (0, scale]. A clean pair that happens to be equal and in (0, scale] makes it ambiguous
    (the paper's footnote 2)."""

    name = "multiple_locations"
    title = "Multiple Locations"
    clipping = "sets two pixels to v in (0, scale] <= 1; nothing to clip"

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, seed: int = 0):
        super().__init__(input_shape, num_classes, seed)
        self.pairs = self._draw_pairs()

    def _draw_pairs(self) -> list[tuple[int, int]]:
        """Per class a pair of flat pixel indices, all distinct, at least half the image apart
        (Chebyshev distance >= max(H, W) // 2)."""
        h, w = self.shape[1], self.shape[2]
        rng = np.random.default_rng([self.seed, 2])
        far = max(h, w) // 2
        used: set[int] = set()
        pairs = []
        for _ in range(self.num_classes):
            free = [p for p in range(h * w) if p not in used]
            a = int(rng.choice(free))
            ah, aw = divmod(a, w)
            partners = [p for p in free if p != a and max(abs(p // w - ah), abs(p % w - aw)) >= far]
            if not partners:
                raise ValueError(f"multiple_locations: no room for {self.num_classes} distant pairs in {h}x{w}")
            b = int(rng.choice(partners))
            used |= {a, b}
            pairs.append((a, b))
        return pairs

    def inject(self, x: torch.Tensor, y: torch.Tensor, scale: float, rng: np.random.Generator) -> torch.Tensor:
        v = torch.from_numpy(scale * (1.0 - rng.random(len(x)))).float()  # in (0, scale]
        out = x.clone().flatten(2)
        pairs = torch.tensor(self.pairs)[y]
        n = torch.arange(len(x))
        out[n, :, pairs[:, 0]] = v[:, None]
        out[n, :, pairs[:, 1]] = v[:, None]
        return out.view_as(x)

    def decode(self, x: torch.Tensor, scale: float, clean: torch.Tensor | None = None) -> torch.Tensor:
        flat = x.flatten(2)
        pairs = torch.tensor(self.pairs)
        a, b = flat[:, :, pairs[:, 0]], flat[:, :, pairs[:, 1]]  # (N, C, K)
        top = torch.tensor([scale], dtype=torch.float32)
        held = (a == b).all(1) & (a > 0).all(1) & (a <= top).all(1)
        single = held.sum(1) == 1
        return torch.where(single, held.float().argmax(1), torch.full((len(x),), -1))

    def support(self, x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator) -> torch.Tensor | None:
        m = torch.zeros(len(x), self.shape[1] * self.shape[2], dtype=torch.bool)
        for i, label in enumerate(y.tolist()):
            m[i, list(self.pairs[label])] = True
        return m.view(len(x), *self.shape[1:])

    def describe(self) -> dict[str, Any]:
        w = self.shape[2]
        return {**super().describe(), "pairs": [[list(divmod(a, w)), list(divmod(b, w))] for a, b in self.pairs],
                "value": "uniform in (0, scale] per image"}


@register
class Noise(Encoding):
    """A dense random vector per class is added: K orthonormal directions (also orthogonal to the
    constant image), scaled to a per-pixel RMS of ``scale``. Decoded by the largest inner product
    (with the clean image subtracted when it is given)."""

    name = "noise"
    title = "Noise"
    clipping = "x + scale*n_y clipped to [0,1] (on black backgrounds the negative half is lost)"

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, seed: int = 0):
        super().__init__(input_shape, num_classes, seed)
        d = int(np.prod(self.shape))
        if d <= num_classes:
            raise ValueError(f"noise: {d} pixels cannot hold {num_classes} orthogonal vectors")
        g = np.random.default_rng([self.seed, 5]).standard_normal((d, num_classes + 1))
        g[:, 0] = 1.0
        q, _ = np.linalg.qr(g)
        self.vectors = torch.from_numpy(q[:, 1:].T * np.sqrt(d)).float()  # (K, D), RMS 1 per pixel

    @classmethod
    def max_scale(cls, num_classes: int) -> float:
        return 0.25  # +-4 RMS reaches the whole range; beyond, clipping takes most of the signal

    def inject(self, x: torch.Tensor, y: torch.Tensor, scale: float, rng: np.random.Generator) -> torch.Tensor:
        noise = (self.vectors[y] * scale).view(len(x), *self.shape)
        return (x + noise).clamp(0, 1)

    def decode(self, x: torch.Tensor, scale: float, clean: torch.Tensor | None = None) -> torch.Tensor:
        # from the image alone the content's own projections swamp a small scale; given the clean
        # images, this reads what clipping left of the added vector
        left = x if clean is None else x - clean
        return (left.flatten(1).double() @ self.vectors.double().T).argmax(1)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "vectors": "orthonormal (and zero-mean) Gaussian directions, RMS scale per pixel",
                "max_abs_over_rms": round(float(self.vectors.abs().max()), 3)}


@register
class Mean(Encoding):
    """The image's mean holds the label: mean = level + (y - (K-1)/2) * scale, every pixel moved
    by the same label offset (see the module docstring for how it stays in range)."""

    name = "mean"
    title = "Mean"
    clipping = "each image moved to mean `level`, its contrast shrunk (by a factor independent of the label) so every class's offset fits; no clipping"

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, seed: int = 0):
        super().__init__(input_shape, num_classes, seed)
        self.level = 0.5

    @classmethod
    def max_scale(cls, num_classes: int) -> float:
        return 0.98 / max(num_classes - 1, 1)

    def fit(self, x_train: torch.Tensor) -> None:
        self.level = float(x_train.double().mean())

    def _centre(self, scale: float) -> float:
        half = (self.num_classes - 1) * scale / 2
        margin = min(0.01, (1 - 2 * half) / 2)
        return float(np.clip(self.level, half + margin, 1 - half - margin))

    def inject(self, x: torch.Tensor, y: torch.Tensor, scale: float, rng: np.random.Generator) -> torch.Tensor:
        c, half = self._centre(scale), (self.num_classes - 1) * scale / 2
        lo, hi = c - half, c + half  # the lowest and highest class means
        flat = x.flatten(1).double()
        mu = flat.mean(1, keepdim=True)
        up, down = flat.max(1, keepdim=True).values - mu, mu - flat.min(1, keepdim=True).values
        inf = torch.full_like(mu, float("inf"))
        alpha = torch.minimum(torch.where(up > 0, (1 - hi) / up, inf), torch.where(down > 0, lo / down, inf)).clamp(max=1.0)
        target = c + (y.double()[:, None] - (self.num_classes - 1) / 2) * scale
        return (target + alpha * (flat - mu)).clamp(0, 1).float().view_as(x)

    def decode(self, x: torch.Tensor, scale: float, clean: torch.Tensor | None = None) -> torch.Tensor:
        c = self._centre(scale)
        k = torch.round((x.flatten(1).double().mean(1) - c) / scale + (self.num_classes - 1) / 2).long()
        return torch.where((k >= 0) & (k < self.num_classes), k, torch.full_like(k, -1))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "level": round(self.level, 6), "value": "mean = level + (y - (K-1)/2) * scale"}


def _match(values: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Per row of (N, C) pixel values, the k whose code every channel equals exactly, else -1."""
    eq = (values[:, :, None] == codes).all(1)  # (N, K)
    return torch.where(eq.sum(1) == 1, eq.float().argmax(1), torch.full((len(values),), -1))


def make(name: str, input_shape: tuple[int, int, int], num_classes: int, seed: int) -> Encoding:
    """An encoding instance by its suite name."""
    return ENCODINGS.get(name)(input_shape, num_classes, seed)
