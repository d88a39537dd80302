"""The engine layer: one registry, the Draws contract, value-keyed programs, pooled fits through the same engines."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest

import bayescale as bs
from bayescale._src import engines
from bayescale._src.engines import newton
from bayescale._src.fitting import curve_keys, model_spec
from bayescale._src.data import prepare, resolve_columns
from bayescale._src.model import curve_problem
from bayescale._src.problem import to_device


def _curves(num_curves=3, n=12, seed=0):
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e6, 1e9, n)
    return pd.concat([
        pd.DataFrame({"x": x, "loss": (2 + 50 * x**-0.3) * np.exp(0.01 * rng.normal(size=n)), "curve": g})
        for g in range(num_curves)
    ])


def test_registry_maps_every_method_and_rejects_others():
    assert engines.names()[0] == "nuts"
    assert {"nuts", "laplace", "map"} <= set(engines.names())
    for name in engines.names():
        engine = engines.get(name)
        assert engine.name == name and engine.description
        assert set(engine.Settings._fields) >= {"num_starts", "num_steps"}
        assert engines.get(engine) is engine
    assert engines.get("nuts").markov and not engines.get("laplace").markov
    assert not engines.get("map").posterior
    # keywords an engine does not use are ignored; the ones it has are set
    settings = engines.get("laplace").settings(draws=7, chains=3, warmup=9)
    assert settings.draws == 7 and not hasattr(settings, "chains")
    with pytest.raises(ValueError, match="unknown method 'lapalce' \\(did you mean 'laplace'\\?\\)"):
        engines.get("lapalce")
    with pytest.raises(TypeError, match="method must be a string"):
        engines.get(3)
    with pytest.raises(ValueError, match="unknown method 'nut'"):
        bs.fit(_curves(1), "power_law", x="x", method="nut")


@pytest.mark.parametrize("name", ["map", "laplace"])
def test_engines_return_draws_of_the_documented_shape(name):
    law = bs.laws.get("power_law")
    cols = resolve_columns(law, "loss", "x", None, "curve")
    batch, groups, _ = prepare(_curves(), law, cols)
    problem = curve_problem(model_spec(law, None, "student_t", batch))
    engine = engines.get(name)
    settings = engine.settings(draws=30)
    draws = engine.run(problem, settings, to_device(batch, jnp.float64), curve_keys(0, groups))
    chains, num_draws = (1, 30) if name == "laplace" else (1, 1)
    assert draws.z.shape == (3, chains, num_draws, problem.dim)
    assert draws.mode.shape == (3, problem.dim) and draws.mode_ok.shape == (3,)
    assert bool(draws.mode_ok.all()) and bool(jnp.isfinite(draws.z).all())
    assert problem.names == ("E", "alpha", "log_A_ref", "sigma")


def test_equal_priors_built_separately_share_one_program():
    """Programs are keyed by the priors' values, not by the objects (trace count)."""
    traces = {"n": 0}

    def counted(p, x):
        traces["n"] += 1  # runs only while JAX traces
        return p["E"] + p["A"] * jnp.exp(-p["alpha"] * jnp.log(x["x"]))

    law = bs.Law("counted_for_priors", counted, ("x",), bs.laws.power_law.params)
    df = _curves(1)

    def alpha_prior():
        return dist.LogNormal(math.log(0.3), 0.4)  # a new object on every call

    bs.fit(df, law, x="x", method="map", priors={"alpha": alpha_prior()})
    traced = traces["n"]
    assert traced > 0
    again = bs.fit(df, law, x="x", method="map", priors={"alpha": alpha_prior()}, seed=1)
    assert traces["n"] == traced
    assert again.spec == bs.fit(df, law, x="x", method="map", priors={"alpha": alpha_prior()}).spec
    # a prior with other parameters is another model, so another program
    bs.fit(df, law, x="x", method="map", priors={"alpha": dist.LogNormal(math.log(0.3), 0.5)})
    assert traces["n"] > traced


@pytest.fixture
def engine_calls(monkeypatch):
    """Counts calls of each registered engine's run, by method name."""
    calls = {}
    for name in engines.names():
        engine = engines.get(name)

        def spy(*args, _run=engine.run, _name=name, **kwargs):
            calls[_name] = calls.get(_name, 0) + 1
            return _run(*args, **kwargs)

        monkeypatch.setitem(engines._REGISTRY, name, engine._replace(run=spy))
    return calls


@pytest.mark.parametrize("method", ["map", "laplace"])
def test_pooled_fit_runs_through_the_registered_engine(method, engine_calls):
    df = _curves(4, n=6, seed=2)
    pooled = bs.fit(df, "power_law", x="x", group="curve", method=method, pooling="partial", draws=40)
    independent = bs.fit(df, "power_law", x="x", group="curve", method=method, draws=40, chunk_size=4)
    assert engine_calls[method] == 2
    assert set(pooled.hyper) == {"alpha_mu", "alpha_tau", "alpha_population"}
    assert pooled.posterior["alpha"].shape == independent.posterior["alpha"].shape
    # pooling pulls each curve's exponent towards the population
    spread = lambda f: np.std(f.draws("alpha").mean(axis=1))  # noqa: E731
    assert spread(pooled) <= spread(independent) + 1e-9


@pytest.mark.statistical
def test_pooled_nuts_runs_through_the_registered_engine(engine_calls):
    df = _curves(4, n=6, seed=2)
    fit = bs.fit(df, "power_law", x="x", group="curve", pooling="partial", chains=2, draws=100, warmup=100)
    assert engine_calls["nuts"] == 1
    assert fit.hyper["alpha_tau"].shape == (2, 100)
    assert fit.sample_stats["diverging"].shape == (4, 2, 100)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_newton_converges_on_known_targets(dtype):
    """Rosenbrock's valley and a badly scaled quadratic, from several starts, in both precisions."""
    rosenbrock = lambda z: (1 - z[0]) ** 2 + 100 * (z[1] - z[0] ** 2) ** 2  # noqa: E731
    scales = jnp.asarray([1e-3, 1.0, 1e3], dtype)
    quadratic = lambda z: jnp.sum(scales * (z - 2.0) ** 2)  # noqa: E731
    tol = 1e-3 if dtype == jnp.float32 else 1e-6
    for objective, starts, target in ((rosenbrock, [[-1.2, 1.0], [2.0, 2.0], [0.0, 0.0]], [1.0, 1.0]),
                                      (quadratic, [[0.0, 0.0, 0.0], [5.0, -3.0, 1e2]], [2.0, 2.0, 2.0])):
        infos = jax.vmap(lambda z0, f=objective: newton.minimize(f, z0, 100))(jnp.asarray(starts, dtype))
        assert infos.z.dtype == dtype
        np.testing.assert_allclose(infos.z, np.broadcast_to(target, infos.z.shape), atol=tol)


def test_newton_never_accepts_a_worse_point():
    objective = lambda z: jnp.sum(z**4 - 3 * z**2 + z)  # noqa: E731  (non-convex: Newton alone would climb)
    z0 = jnp.asarray([0.1, -0.2, 0.05])
    values = [float(objective(newton.minimize(objective, z0, k).z)) for k in (0, 1, 3, 10, 30)]
    assert all(b <= a for a, b in zip(values, values[1:]))
    assert values[0] == pytest.approx(float(objective(z0)))
