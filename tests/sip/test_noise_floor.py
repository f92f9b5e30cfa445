"""Noise floors of the SIP distances: the null spread of the unbiased energy distance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from flowem.metrics.energy import energy_distance
from flowem.sip.noise_floor import (
    centred_distance_moment,
    energy_noise_floor,
    energy_null_std,
    replicate_floor,
)


def _gaussian_s2() -> float:
    """``E k^2 = E|A-B|^2 - 2 E g(A)^2 + (E|A-B|)^2`` for A, B ~ N(0, 1), by quadrature."""
    g = lambda a: a * (2 * stats.norm.cdf(a) - 1) + 2 * stats.norm.pdf(a)  # noqa: E731  E|a-B|
    eg2 = integrate.quad(lambda a: g(a) ** 2 * stats.norm.pdf(a), -np.inf, np.inf)[0]
    return 2.0 - 2.0 * eg2 + 4.0 / math.pi


def _null_draws(n: int, m: int, d: int, repeats: int, seed: int) -> np.ndarray:
    gen = torch.Generator().manual_seed(seed)
    return np.array(
        [
            float(
                energy_distance(
                    torch.randn(n, d, generator=gen, dtype=torch.float64),
                    torch.randn(m, d, generator=gen, dtype=torch.float64),
                    unbiased=True,
                )
            )
            for _ in range(repeats)
        ]
    )


def test_centred_moment_of_a_gaussian_matches_quadrature():
    rng = np.random.default_rng(0)
    estimates = [centred_distance_moment(rng.standard_normal((1000, 1))) for _ in range(6)]
    assert np.mean(estimates) == pytest.approx(_gaussian_s2(), rel=0.06)
    # a shifted or scaled law: s2 is shift invariant and scales as the squared length
    z = rng.standard_normal((800, 1))
    assert centred_distance_moment(z + 5.0) == pytest.approx(centred_distance_moment(z), rel=1e-9)
    assert centred_distance_moment(3 * z) == pytest.approx(9 * centred_distance_moment(z), rel=1e-9)


@pytest.mark.parametrize(("n", "m"), [(8, 50), (30, 30), (64, 1000)])
def test_null_std_is_the_spread_of_two_samples_of_one_law(n, m):
    # 1D N(0, 1) at several size pairs: the U-statistic averages 0 and its variance is the
    # closed form, each within 4 standard errors (the null law is skewed: the variance's
    # standard error comes from the draws' fourth moment)
    repeats = 1500
    draws = _null_draws(n, m, 1, repeats, seed=n + m)
    expected = energy_null_std(_gaussian_s2(), n, m)
    assert abs(draws.mean()) < 4 * expected / math.sqrt(repeats)
    centred = draws - draws.mean()
    variance_se = math.sqrt((np.mean(centred**4) - np.var(draws) ** 2) / repeats)
    assert abs(np.var(draws) - expected**2) < 4 * variance_se
    assert abs(np.var(draws) - expected**2) < 0.3 * expected**2  # and the test has power


def test_floor_from_law_draws_in_three_dimensions():
    n, m, repeats = 10, 40, 1500
    draws = _null_draws(n, m, 3, repeats, seed=5)
    law = np.random.default_rng(1).standard_normal((3000, 3))
    floor = energy_noise_floor(law, n, m)
    assert floor["sizes"] == [n, m] and floor["law_draws"] == 1000 and floor["mean"] == 0.0
    assert draws.std() == pytest.approx(floor["std"], rel=0.12)
    # a clear shift lies far outside the floor
    x, y = torch.as_tensor(law[:n]) + 2.0, torch.as_tensor(law[n : n + m])
    shifted = float(energy_distance(x, y, unbiased=True))
    assert shifted > 5 * floor["std"]


def test_null_std_needs_two_items_per_set():
    with pytest.raises(ValueError, match=">= 2 items"):
        energy_null_std(1.0, 1, 10)
    with pytest.raises(ValueError, match=">= 3 draws"):
        centred_distance_moment(np.zeros((2, 1)))


def test_replicate_floor_is_the_mean_and_sample_std():
    floor = replicate_floor(lambda k: float(k), 5)
    assert floor == {"mean": 2.0, "std": pytest.approx(np.std(range(5), ddof=1)), "replicates": 5}
