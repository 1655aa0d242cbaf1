"""Clopper-Pearson intervals against values known in closed form and from scipy's binomtest."""

from __future__ import annotations

import math

import pytest
from scipy.stats import binomtest

from bench.stats import clopper_pearson, proportion_interval


def test_closed_forms_at_the_ends() -> None:
    for n in (1, 10, 100, 1000):
        lo, hi = clopper_pearson(0, n)
        assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / n), rel=1e-9)  # (alpha/2)^(1/n)
        lo, hi = clopper_pearson(n, n)
        assert hi == 1.0 and lo == pytest.approx(0.025 ** (1 / n), rel=1e-9)


@pytest.mark.parametrize("count,n", [(1, 2), (5, 10), (9, 100), (50, 100), (991, 1000), (3, 7)])
def test_matches_scipy_exact_interval(count: int, n: int) -> None:
    ref = binomtest(count, n).proportion_ci(method="exact")
    lo, hi = clopper_pearson(count, n)
    assert lo == pytest.approx(ref.low, abs=1e-12) and hi == pytest.approx(ref.high, abs=1e-12)
    assert lo <= count / n <= hi


def test_known_textbook_values() -> None:
    lo, hi = clopper_pearson(5, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.1871, 0.8129)
    lo, hi = clopper_pearson(50, 100)
    assert (round(lo, 4), round(hi, 4)) == (0.3983, 0.6017)  # about +-10 points at n = 100


def test_bad_and_non_proportion_inputs() -> None:
    assert all(math.isnan(v) for v in clopper_pearson(0, 0))
    with pytest.raises(ValueError):
        clopper_pearson(11, 10)
    assert proportion_interval(0.505, 200) == clopper_pearson(101, 200)
    assert proportion_interval(0.5049999952316284, 200, 101) == clopper_pearson(101, 200)  # float32 value
    assert proportion_interval(0.2565, 327) is None  # a mean of rates is no proportion of its n
    assert proportion_interval(None, 10) is None and proportion_interval(float("nan"), 10) is None
