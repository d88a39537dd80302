"""Proper scores of draws (bayescale._src.analysis.scores) against their closed forms."""

import numpy as np
import pytest
import scipy.stats

from bayescale._src.analysis import scores
from bayescale._src.precision import float64_context


def gaussian_crps(mu, sd, y):
    """Gneiting & Raftery 2007, eq. 5's Gaussian CRPS."""
    z = (y - mu) / sd
    return sd * (z * (2 * scipy.stats.norm.cdf(z) - 1) + 2 * scipy.stats.norm.pdf(z) - 1 / np.sqrt(np.pi))


def test_crps_of_a_gaussian_sample_is_the_closed_form():
    rng = np.random.default_rng(0)
    mu, sd = 0.3, 0.2
    draws = mu + sd * rng.standard_normal((4000, 1))
    y = np.array([0.3, 0.5, -0.4])
    with float64_context():
        got = np.asarray(scores.crps(np.repeat(draws, 3, axis=1), y))
    np.testing.assert_allclose(got, gaussian_crps(mu, sd, y), rtol=0.03)


def test_crps_energy_form_matches_the_brute_force_pairs():
    rng = np.random.default_rng(1)
    draws, y = rng.standard_normal((2, 37, 4)), rng.standard_normal((2, 4))
    brute = (np.abs(draws - y[:, None]).mean(1)
             - 0.5 * np.abs(draws[:, :, None] - draws[:, None, :]).mean(axis=(1, 2)))
    with float64_context():
        np.testing.assert_allclose(np.asarray(scores.crps(draws, y)), brute, rtol=1e-12)


def test_crps_of_one_draw_is_the_absolute_error():
    with float64_context():
        np.testing.assert_allclose(np.asarray(scores.crps(np.array([[2.0]]), np.array([3.5]))), [1.5])


@pytest.mark.parametrize("y, expected", [(1.5, 1.0), (0.5, 1.0 + 2 / 0.1 * 0.5), (3.0, 1.0 + 2 / 0.1 * 1.0)])
def test_interval_score_is_width_plus_scaled_misses(y, expected):
    """Gneiting & Raftery 2007, eq. 43, for the 90% band [1, 2]."""
    np.testing.assert_allclose(float(scores.interval_score(1.0, 2.0, y, 0.9)), expected)


def test_interval_score_is_proper_for_the_true_quantiles():
    """Its expectation under N(0, 1) is smallest at the 5% and 95% quantiles."""
    y = scipy.stats.norm.ppf((np.arange(20000) + 0.5) / 20000)
    expect = lambda q: float(np.mean(scores.interval_score(-q, q, y, 0.9)))  # noqa: E731
    best = scipy.stats.norm.ppf(0.95)
    assert expect(best) < expect(0.9 * best) and expect(best) < expect(1.1 * best)


def test_kde_and_mixture_densities_of_gaussian_draws():
    rng = np.random.default_rng(2)
    draws = rng.standard_normal((5000, 1))
    y = np.array([0.0, 1.0])
    with float64_context():
        kde = np.asarray(scores.kde_log_density(np.repeat(draws, 2, axis=1), y))
        mixture = np.asarray(scores.mixture_log_density(np.log(np.full((3, 2), 0.25))))
        point_mass = np.asarray(scores.kde_log_density(np.ones((1, 1)), np.array([2.0])))
    np.testing.assert_allclose(kde, scipy.stats.norm.logpdf(y), atol=0.05)
    np.testing.assert_allclose(mixture, np.log(0.25))
    assert np.isfinite(point_mass).all() and point_mass[0] < -1e6
