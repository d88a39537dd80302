"""A second fit of the same shapes reuses every compiled program."""

import jax.numpy as jnp
import numpy as np
import pytest

import bayescale as bs

TRACES = {"n": 0}


def _counted_power_law(p, x):
    TRACES["n"] += 1  # runs only while JAX traces, never in compiled code
    return p["E"] + p["A"] * jnp.exp(-p["alpha"] * jnp.log(x["x"]))


COUNTED = bs.Law("counted_power_law", _counted_power_law, ("x",), bs.laws.power_law.params)


def data(seed, n):
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e6, 1e9, n)
    return {"x": x, "loss": (2 + 300 * x**-0.3) * np.exp(0.01 * rng.standard_normal(n))}


@pytest.mark.parametrize("method", ["nuts", "laplace", "map"])
def test_second_fit_does_not_retrace(method):
    kwargs = dict(law=COUNTED, method=method, chains=2, draws=50, warmup=50)
    first = bs.fit(data(0, 20), **kwargs)
    first.predict({"x": [1e10, 1e11]})
    traced = TRACES["n"]
    assert traced > 0
    # new data, new seed, a different number of points in the same bucket (17..32)
    second = bs.fit(data(1, 27), seed=3, **kwargs)
    second.predict({"x": [1e10, 1e11]})
    assert TRACES["n"] == traced
    assert not np.allclose(first.draws("alpha")[0, :5], second.draws("alpha")[0, :5])


def test_same_seed_gives_identical_draws():
    a = bs.fit(data(0, 20), law="power_law", chains=2, draws=50, warmup=50, seed=5)
    b = bs.fit(data(0, 20), law="power_law", chains=2, draws=50, warmup=50, seed=5)
    for k in a.posterior:
        np.testing.assert_array_equal(a.posterior[k], b.posterior[k])
