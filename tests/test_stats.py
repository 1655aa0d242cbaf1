"""Clopper-Pearson intervals against values known in closed form and from scipy's binomtest; the
sampled-count (hypergeometric) interval of audits against a sum of binomial coefficients."""

from __future__ import annotations

import math

import pytest
from scipy.stats import binomtest

from bench.stats import clopper_pearson, proportion_interval, sampled_count_interval


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


def _by_counting(hits: int, k: int, population: int, level: float = 0.95) -> tuple[int, int]:
    """The same interval from first principles: P(sample holds j | total t) = C(t,j) C(N-t,k-j) / C(N,k)."""
    def p(j: int, t: int) -> float:
        return math.comb(t, j) * math.comb(population - t, k - j) / math.comb(population, k)

    tail = (1 - level) / 2
    totals = [t for t in range(population + 1) if t >= hits and population - t >= k - hits]
    lo = min(t for t in totals if sum(p(j, t) for j in range(hits, k + 1)) > tail)
    hi = max(t for t in totals if sum(p(j, t) for j in range(0, hits + 1)) > tail)
    return lo, hi


@pytest.mark.parametrize("hits,k,population", [(0, 40, 340), (2, 40, 491), (5, 40, 371), (1, 20, 30), (0, 10, 10),
                                               (3, 10, 10), (0, 1, 50), (7, 7, 90)])
def test_sampled_count_interval_counts_from_first_principles(hits: int, k: int, population: int) -> None:
    assert sampled_count_interval(hits, k, population) == _by_counting(hits, k, population)


def test_sampled_count_interval_is_exact_for_a_whole_population_and_tighter_than_binomial() -> None:
    assert sampled_count_interval(0, 65, 65) == (0, 0) and sampled_count_interval(4, 65, 65) == (4, 4)
    lo, hi = sampled_count_interval(0, 120, 340)
    assert lo == 0 and hi < 340 * clopper_pearson(0, 120)[1]  # a third of the population sampled: narrower
    assert sampled_count_interval(0, 0, 12) == (0, 12)  # nothing sampled: anything is possible
    with pytest.raises(ValueError):
        sampled_count_interval(3, 2, 10)


def test_statistic_intervals_of_a_mean_and_a_median() -> None:
    import numpy as np
    from scipy.stats import t

    from bench.stats import statistic_interval

    x = np.array([0.1, 0.4, 0.2, 0.3, 0.5, 0.25, 0.35])
    half = t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    assert statistic_interval("mean", x) == pytest.approx((x.mean() - half, x.mean() + half))
    # the median of 1..20: the 95% order-statistic interval is (x_(6), x_(15)): P(6 <= B(20, .5) <= 14) >= 0.95
    lo, hi = statistic_interval("median", np.arange(1.0, 21.0))
    assert (lo, hi) == (6.0, 15.0)
    assert statistic_interval("mean", np.array([1.0])) is None and statistic_interval("mode", x) is None
    assert statistic_interval("mean", np.array([1.0, float("nan"), 2.0, 3.0])) is not None  # non-finite values dropped
