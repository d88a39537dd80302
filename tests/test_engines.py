"""The engine layer: one registry, the Draws contract, programs keyed by value and compiled once, Newton."""

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from fixtures import fit_like, power_curves

import bayescale as bs
from bayescale._src import engines
from bayescale._src.fit import fitting
from bayescale._src.model.data import prepare, resolve_columns
from bayescale._src.engines import newton
from bayescale._src.fit.fitting import curve_keys
from bayescale.priors.merge import model_spec
from bayescale._src.model.model import curve_problem
from bayescale._src.model.problem import to_device


def test_registry_maps_every_method_and_rejects_others():
    assert engines.names()[0] == "auto"
    assert fitting.default_method() == "auto" and fitting.default_method("partial") == "nuts"
    assert {"nuts", "laplace", "map"} <= set(engines.names())
    for name in engines.names():
        engine = engines.get(name)
        assert engine.name == name and engine.description
        assert set(engine.Settings._fields) >= {"num_starts", "num_steps"}
        assert engines.get(engine) is engine
    assert engines.get("nuts").markov and not engines.get("laplace").markov
    assert not engines.get("map").posterior
    # the settings an engine has are set; one it does not use is an error naming its settings
    settings = engines.get("laplace").settings(draws=7)
    assert settings.draws == 7 and not hasattr(settings, "chains")
    with pytest.raises(ValueError, match="method 'laplace' has no setting 'chains'; its settings are num_starts"):
        engines.get("laplace").settings(draws=7, chains=3)
    with pytest.raises(ValueError, match="method 'map' does not use draws=5000; its settings are num_starts"):
        bs.fit(power_curves(), "power_law", x="tokens", y="val_loss", method="map", draws=5000)
    with pytest.raises(ValueError, match="unknown method 'lapalce' \\(did you mean 'laplace'\\?\\)"):
        engines.get("lapalce")
    with pytest.raises(TypeError, match="method must be a string"):
        engines.get(3)
    with pytest.raises(ValueError, match="unknown method 'nut'"):
        bs.fit(power_curves(), "power_law", x="tokens", y="val_loss", method="nut")


@pytest.mark.parametrize("name", ["map", "laplace"])
def test_engines_return_draws_of_the_documented_shape(name):
    law = bs.laws.get("power_law")
    cols = resolve_columns(law, "val_loss", "tokens", None, "run")
    # four curves of 17..32 points: the shapes of the shared POWER programs (tests/fixtures.py)
    batch, groups, _ = prepare(power_curves(lengths=(20, 25, 30, 22)), law, cols)
    problem = curve_problem(model_spec(law, None, "student_t"))
    engine = engines.get(name)
    settings = engine.settings(**({"draws": 200} if name == "laplace" else {}))
    draws = engine.run(problem, settings, to_device(batch, jnp.float64), curve_keys(0, groups))
    chains, num_draws = (1, 200) if name == "laplace" else (1, 1)
    assert draws.z.shape == (4, chains, num_draws, problem.dim)
    assert draws.mode.shape == (4, problem.dim) and draws.mode_ok.shape == (4,)
    assert bool(draws.mode_ok.all()) and bool(jnp.isfinite(draws.z).all())
    assert problem.names == ("log_law_at_max_x", "scaled_log_drop_over_x", "log_alpha_excess", "sigma")  # power_law's ends


def test_laplace_redraws_draws_whose_natural_values_overflow():
    """A Gaussian whose tail maps past float64 (``exp(t)``, ``t > 709``) gives finite draws only: the slots that
    overflow are drawn again, the share is reported, and a fit warns about it."""
    import numpyro

    from bayescale._src.engines import laplace
    from bayescale._src.fit.diagnostics import FitWarning, check_nonfinite
    from bayescale._src.model.problem import make_problem

    def model(scale):
        t = numpyro.sample("t", dist.Normal(0.0, scale))
        numpyro.deterministic("amplitude", jnp.exp(t))

    data = (jnp.asarray(300.0),)
    problem = make_problem(model, ("overflow",), data, None)
    with jax.enable_x64(True):
        mode, cov = jnp.zeros(1), jnp.full((1, 1), 300.0**2)
        z, share, log_ratio = laplace.finite_sample(problem, jax.random.PRNGKey(0), mode, cov, 4000, data)
        plain = laplace.sample(jax.random.PRNGKey(0), mode, cov, 4000)
    expected = float(jnp.mean(plain[:, 0] > 709.78))
    assert 0.005 < expected and float(share) == pytest.approx(expected)
    # the Gaussian is the posterior here: equal importance ratios where finite (k = 0), none where it overflows
    log_ratio = np.asarray(log_ratio)
    np.testing.assert_array_equal(np.isfinite(log_ratio), np.asarray(plain[:, 0] < 709.78))
    assert np.ptp(log_ratio[np.isfinite(log_ratio)]) < 1e-9
    assert bool(jnp.all(z[:, 0] < 709.79)) and float(jnp.std(z)) > 250  # the rest of the Gaussian is kept
    with pytest.warns(FitWarning, match=r"curve 'b': 0.9% of the Laplace draws"):
        assert len(check_nonfinite(np.array([0.0, 0.009]), ["a", "b"])) == 1


def test_laplace_pareto_k_of_its_own_draws():
    """The log importance ratios of Laplace's draws give PSIS's k (Yao et al. 2018). A Gaussian of variance r
    times the posterior's (a Gaussian) has weights ``exp(chi2 (1 - r) / 2)``, a Pareto tail of shape ``1 - r``:
    k <= 0 at r = 1, 0.9 for a Gaussian ten times too narrow (0.76 estimated from 1,000 draws)."""
    import numpyro

    from bayescale._src.engines import laplace, psis
    from bayescale._src.model.problem import make_problem

    def model(scale):
        numpyro.sample("t", dist.Normal(0.0, scale))

    data = (jnp.asarray(1.0),)
    problem = make_problem(model, ("t",), data, None)
    ks = []
    for variance in (1.0, 0.1):
        with jax.enable_x64(True):
            _, _, log_ratio = laplace.finite_sample(problem, jax.random.PRNGKey(0), jnp.zeros(1),
                                                    jnp.full((1, 1), variance), 1000, data)
        ks.append(float(psis.smooth(np.asarray(log_ratio)[None])[1][0]))
    assert ks[0] < 0.2 and 0.7 < ks[1] < 1.0, ks


def test_laplace_fit_reports_and_warns_about_pareto_k(power_laplace):
    from bayescale._src.fit.diagnostics import FitWarning, check_importance

    k = power_laplace.curve_stats["pareto_k"]
    assert k.shape == (3,) and np.isfinite(k).all()
    np.testing.assert_array_equal(power_laplace.diagnostics()["pareto_k"].to_numpy(), k)
    assert sum("Pareto k" in p for p in power_laplace.problems) == int((k > 0.7).sum())
    with pytest.warns(FitWarning, match=r"curve 'b': Laplace approximation Pareto k = 0.90 > 0.7: .*method='auto'"):
        assert len(check_importance(np.array([0.3, 0.9]), ["a", "b"], method="laplace")) == 1
    with pytest.warns(FitWarning) as caught:  # many curves: one warning counts them, a problem per curve
        assert len(check_importance(np.linspace(0.0, 1.0, 20), list(range(20)), method="laplace")) == 6
    assert len(caught) == 1 and "Pareto k > 0.7 on 6 of 20 curves (14, 15, 16, 17, 18, ...; largest k 1.00)" in str(
        caught[0].message)


def _cache_sizes() -> dict[str, int]:
    """Compiled programs held by each jitted stage of the engines."""
    from bayescale._src.engines import base, laplace, nuts
    from bayescale._src.engines import map as map_engine

    stages = {"modes": base.modes, "laplace": laplace._draws, "map": map_engine._draws, "nuts": nuts._sample}
    return {name: f._cache_size() for name, f in stages.items()}


def _power_data(seed, n):
    return power_curves(lengths=(n,), seed=seed)


@pytest.mark.parametrize("method", ["map", "laplace", "nuts"])
def test_second_fit_does_not_recompile(method, request):
    """New data, a new seed, another number of points in the same bucket (17..32): the same programs.

    The first fit is the shared one of ``method`` (three curves of 20-30 points, a chunk of four), the second one
    curve of 27 points: the chunk is padded to the same shape.
    """
    first = request.getfixturevalue(f"power_{method}")
    first.predict({"tokens": [1e11, 1e12]})
    before = _cache_sizes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        second = fit_like(_power_data(1, 27), method, seed=3)
        second.predict({"tokens": [1e11, 1e12]})
    assert _cache_sizes() == before
    if method != "map":
        assert not np.allclose(first.draws("alpha")[0, :5], second.draws("alpha")[0, :5])


def test_same_seed_gives_identical_draws(power_table, power_nuts):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        again = fit_like(power_table, "nuts")
    for k in power_nuts.posterior:
        np.testing.assert_array_equal(power_nuts.posterior[k], again.posterior[k])


def test_equal_priors_built_separately_share_one_program(power_table, power_map):
    """Programs are keyed by the priors' values (type and parameters), not by the objects."""
    law = bs.laws.get("power_law")
    fresh = {name: type(p)(*[getattr(p, k) for k in p.arg_constraints]) for name, p in
             ((p.name, p.prior) for p in law.params)}
    assert all(fresh[k] is not p.prior for k, p in zip(fresh, law.params))
    before = _cache_sizes()
    again = fit_like(power_table, "map", priors=fresh)
    assert _cache_sizes() == before
    assert again.spec == power_map.spec and hash(again.spec) == hash(power_map.spec)
    for k in power_map.posterior:
        np.testing.assert_array_equal(power_map.posterior[k], again.posterior[k])
    # a prior with other parameters is another model, so another program
    other = model_spec(law, {"alpha": dist.LogNormal(math.log(0.3), 0.5)}, "student_t")
    assert other != power_map.spec and hash(other) != hash(power_map.spec)


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


def test_newton_stops_at_a_minimum_and_not_at_a_saddle():
    """A run stops once a full Newton step would gain < 1e-10 nats at a positive-definite Hessian: a quadratic
    after a few (damped) steps; more allowed steps change nothing. Beside a saddle
    the gradient is as small, but the run keeps stepping (f = z0^2 - z1^2 + z1^4 from z1 = 1e-9)."""
    quadratic = lambda z: jnp.sum(jnp.asarray([1e-3, 1.0, 1e3]) * (z - 2.0) ** 2)  # noqa: E731
    short, long = (newton.minimize(quadratic, jnp.asarray([0.0, 5.0, -3.0]), n) for n in (60, 1000))
    assert int(short.steps) <= 8 and int(long.steps) == int(short.steps)
    np.testing.assert_array_equal(short.z, long.z)
    saddle = lambda z: z[0] ** 2 - z[1] ** 2 + z[1] ** 4  # noqa: E731
    info = newton.minimize(saddle, jnp.asarray([0.5, 1e-9]), 60)
    assert int(info.steps) > 20
    np.testing.assert_allclose(np.abs(info.z), [0.0, 2**-0.5], atol=1e-6)
    # a start where the objective is not finite is dead after its evaluation
    assert int(newton.minimize(lambda z: jnp.sum(jnp.log(z)), jnp.asarray([-1.0, 1.0]), 60).steps) == 1


def test_newton_never_accepts_a_worse_point():
    objective = lambda z: jnp.sum(z**4 - 3 * z**2 + z)  # noqa: E731  (non-convex: Newton alone would climb)
    z0 = jnp.asarray([0.1, -0.2, 0.05])
    values = [float(objective(newton.minimize(objective, z0, k).z)) for k in (0, 1, 3, 10, 30)]
    assert all(b <= a for a, b in zip(values, values[1:]))
    assert values[0] == pytest.approx(float(objective(z0)))


def test_newton_leaves_a_saddle_along_its_negative_curvature():
    """f = z0^2 - z1^2 + z1^4 from beside its saddle at 0: H = diag(2, -2) there. A step on H itself
    converges to the saddle (the old step: f = 0 after 12 and after 40 steps); the step on |H| doubles z1
    each step and reaches a minimum z1 = +-1/sqrt(2), f = -1/4, in 12."""
    objective = lambda z: z[0] ** 2 - z[1] ** 2 + z[1] ** 4  # noqa: E731
    info = newton.minimize(objective, jnp.asarray([0.5, 1e-3]), 12)
    np.testing.assert_allclose(np.abs(info.z), [0.0, 2**-0.5], atol=1e-6)


@pytest.mark.statistical  # 4-7 s, most of it compiling the tempering loop: over the fast tier's budget
def test_smc_reaches_a_known_posterior_and_evidence():
    """Tempered SMC from the prior (``engines.smc``) on y_i ~ N(mu, 1), mu ~ N(0, 1) with a mask: the posterior
    is N(sum y / (n + 1), 1 / (n + 1)) and log p(y) is known; ``Problem.log_likelihood`` leaves the prior to
    ``-potential - log_likelihood`` (the masked point counts nowhere)."""
    import numpyro

    from bayescale._src.engines import smc
    from bayescale._src.model.problem import make_problem

    def model(y, mask):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        with numpyro.plate("points", y.shape[-1]), numpyro.handlers.mask(mask=mask):
            numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    y, mask = np.array([[1.2, 0.4, 2.0, 9.0]]), np.array([[True, True, True, False]])
    problem = make_problem(model, ("smc-normal",), (y[0], mask[0]), lambda key, data, n: jnp.zeros((n, 1)),
                           prior=lambda key, data, n: jax.random.normal(key, (n, 1)))
    settings = smc.Settings(num_starts=1, num_steps=3, chains=2, draws=500, mcmc_steps=3)
    with jax.enable_x64(True):
        assert float(problem.log_likelihood(jnp.array([0.5]), (jnp.asarray(y[0]), jnp.asarray(mask[0])))) == (
            pytest.approx(float(dist.Normal(0.5, 1.0).log_prob(y[0, :3]).sum())))
        out = smc.run(problem, settings, (jnp.asarray(y), jnp.asarray(mask)), jax.random.PRNGKey(0)[None])
    z = np.asarray(out.z)[0].ravel()
    n, total = 3, y[0, :3].sum()
    assert z.shape == (1000,) and abs(z.mean() - total / (n + 1)) < 0.06 and abs(z.var() - 1 / (n + 1)) < 0.05
    # log p(y): y ~ N(0, I + 1 1^T)
    evidence = float(dist.MultivariateNormal(jnp.zeros(n), jnp.eye(n) + 1.0).log_prob(jnp.asarray(y[0, :3])))
    assert float(out.unit_stats["log_evidence"][0]) == pytest.approx(evidence, abs=0.1)
    assert int(out.unit_stats["smc_stages"][0]) >= 1
    with pytest.raises(ValueError, match="kernel must be one of"):
        smc.check(problem, settings._replace(kernel="mala"))
