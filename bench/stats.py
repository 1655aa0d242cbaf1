"""Confidence intervals of the harness's figures: a robust accuracy is a binomial proportion
(count of n examples), so it carries its exact Clopper-Pearson interval; an audit's sample is drawn
without replacement from a finite set (the hypergeometric interval); a mean or median distortion
has Student's t or the order-statistic interval (scipy's tests)."""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import beta, hypergeom, quantile_test, ttest_1samp

LEVEL = 0.95


def clopper_pearson(count: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """The exact (Clopper-Pearson) two-sided interval of a proportion count/n: the beta quantiles,
    with the closed ends 0 at count = 0 and 1 at count = n. ``n = 0`` gives (nan, nan)."""
    if n <= 0:
        return math.nan, math.nan
    if not 0 <= count <= n:
        raise ValueError(f"count {count} outside 0..{n}")
    alpha = 1.0 - level
    lo = 0.0 if count == 0 else float(beta.ppf(alpha / 2, count, n - count + 1))
    hi = 1.0 if count == n else float(beta.ppf(1 - alpha / 2, count + 1, n - count))
    return lo, hi


def proportion_interval(value: float | None, n: int | None, count: int | None = None) -> tuple[float, float] | None:
    """The interval of a figure that is a proportion of its n examples (``count`` if known, else
    ``value * n`` when that is a whole number); None for a figure that is not (a mean of rates)."""
    if value is None or n is None or n <= 0 or (isinstance(value, float) and math.isnan(value)):
        return None
    k = count if count is not None and abs(count / n - value) < 1e-6 else round(value * n)
    if abs(k / n - value) > 1e-6 or not 0 <= k <= n:  # (1e-6: float32 values of older cells)
        return None
    return clopper_pearson(int(k), int(n))


def sampled_count_interval(hits: int, sampled: int, population: int, level: float = LEVEL) -> tuple[int, int]:
    """The exact two-sided interval of how many of a finite ``population`` have a property when
    ``hits`` of ``sampled`` drawn without replacement have it (the hypergeometric counterpart of
    Clopper-Pearson: each end inverts a one-sided test at (1 - level)/2). Why not Clopper-Pearson
    on hits/sampled: that treats the draws as with replacement and stays wide when the sample is
    most or all of the population; here a sample of the whole population gives (hits, hits)."""
    if not 0 <= sampled <= population or not 0 <= hits <= sampled:
        raise ValueError(f"hits {hits} of sampled {sampled} of population {population}: not 0 <= hits <= sampled <= population")
    if sampled == 0:
        return 0, population
    alpha = 1.0 - level
    possible = np.arange(hits, population - (sampled - hits) + 1)  # totals the sample allows
    at_least = hypergeom.sf(hits - 1, population, possible, sampled)  # P(>= hits seen | total)
    at_most = hypergeom.cdf(hits, population, possible, sampled)  # P(<= hits seen | total)
    return int(possible[at_least > alpha / 2].min()), int(possible[at_most > alpha / 2].max())


def statistic_interval(statistic: str, values: np.ndarray, level: float = LEVEL) -> tuple[float, float] | None:
    """The 95% interval of a mean (Student's t) or a median (distribution-free, from the order
    statistics: scipy's quantile test) of per-example values, e.g. the distortions of an attack's
    successes; None with fewer than two values or an unknown statistic."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return None
    if statistic == "mean":
        ci = ttest_1samp(x, 0.0).confidence_interval(level)
    elif statistic == "median":
        ci = quantile_test(x, q=float(np.median(x)), p=0.5).confidence_interval(level)
    else:
        return None
    lo, hi = float(ci.low), float(ci.high)
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None
