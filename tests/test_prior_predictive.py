"""bs.prior_predictive and bs.prior_predictive_draws (bayescale._src.analysis.prior_predictive)."""

import numpy as np
import numpyro.distributions as dist
import pytest

import bayescale as bs

X = {"x": np.array([1e6, 1e8, 1e10])}
TIGHT = {
    "E": dist.LogNormal(np.log(1.5), 1e-4),
    "A": dist.LogNormal(np.log(50.0), 1e-4),
    "alpha": dist.LogNormal(np.log(0.3), 1e-4),
}


def test_prior_predictive_bands():
    band = bs.prior_predictive("power_law", X, TIGHT)
    exact = 1.5 + 50.0 * X["x"] ** -0.3
    np.testing.assert_allclose(band["median"], exact, rtol=1e-3)
    assert list(band.columns) == ["x", "mean", "median", "lower", "upper"]
    # observation bands add the noise; wider intervals contain narrower ones
    obs = bs.prior_predictive("power_law", X, TIGHT, kind="observation")
    assert (obs["upper"] - obs["lower"] > band["upper"] - band["lower"]).all()
    wide = bs.prior_predictive("power_law", X, TIGHT, interval=0.99)
    assert (wide["lower"] <= band["lower"]).all() and (wide["upper"] >= band["upper"]).all()
    # the default priors are weak: their band spans orders of magnitude
    default = bs.prior_predictive("power_law", X)
    assert (default["upper"] / default["lower"] > 100).all()
    with pytest.raises(ValueError, match="kind"):
        bs.prior_predictive("power_law", X, kind="draws")


def test_prior_predictive_draws():
    draws = bs.prior_predictive_draws("power_law", X, TIGHT, num_draws=500, seed=3)
    assert draws.shape == (500, 3)
    np.testing.assert_allclose(np.median(draws, axis=0), 1.5 + 50.0 * X["x"] ** -0.3, rtol=1e-3)
    again = bs.prior_predictive_draws("power_law", X, TIGHT, num_draws=500, seed=3)
    np.testing.assert_array_equal(draws, again)
    chinchilla = bs.prior_predictive_draws("chinchilla", {"N": [1e9, 1e10], "D": [2e10, 2e11]}, "hoffmann2022",
                                           num_draws=100)
    assert chinchilla.shape == (100, 2) and (chinchilla > 0).all()
    with pytest.raises(ValueError, match="num_draws must be an integer >= 2"):
        bs.prior_predictive_draws("power_law", X, num_draws=1)
    with pytest.raises(ValueError, match="kind must be 'mean' or 'observation'"):
        bs.prior_predictive_draws("power_law", X, kind="new")
