"""Checkpoints of runs (bayescale._src.model.runs): the Kalman filter, the OU simulation, run= in bs.fit.

Fast tier: the filter against the dense Gaussian density, the simulation's
covariance, every error of a bad run column or setting (before anything is
compiled), and one module-scoped Laplace fit with ``run=`` (its own programs:
the run-aware model is a different problem; MAP shares its mode finder).
Statistical tier: coverage of the law at 10x on simulated correlated runs,
run-aware against independent points, and SBC of the run-aware model with NUTS.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from scipy import stats

import bayescale as bs
from bayescale._src.model import runs
from bayescale._src.analysis.sbc import _coverage, _ranks, _uniformity

LAW = bs.laws.get("power_law")
TRUTH = {"E": 1.7, "A": 400.0, "alpha": 0.3}
NOISE = {"run_sd": 0.02, "run_length": 0.3, "sigma": 0.003}


def ou_covariance(t, run, run_sd, length, sigma):
    """The dense covariance of the residuals: OU within a run, independent across runs, plus the nugget."""
    same = run[:, None] == run[None, :]
    return same * run_sd**2 * np.exp(-np.abs(t[:, None] - t[None, :]) / length) + sigma**2 * np.eye(len(t))


def layout_of(t, run, size):
    """gap, first and mask of points sorted by run then t, padded to ``size``."""
    x = {"x": 10.0**t}
    gap, first = runs.layout(np.arange(len(t)), run, x)
    pad = size - len(t)
    return (np.pad(gap, (0, pad)), np.pad(first, (0, pad)), np.arange(size) < len(t))


# ---------------------------------------------------------------------- the filter and the simulation
def test_filter_is_the_exact_gaussian_likelihood():
    rng = np.random.default_rng(1)
    run = np.array([0, 0, 0, 0, 1, 1, 1, 2])
    t = np.concatenate([np.sort(rng.uniform(0, 2, 4)), np.sort(rng.uniform(0, 2, 3)), [1.0]])
    t[2] = t[1]  # a repeated checkpoint: the nugget keeps the filter regular
    resid = rng.normal(0, 0.03, len(t))
    gap, first, mask = layout_of(t, run, 12)
    padded = np.pad(resid, (0, 4), constant_values=5.0)  # padding must not count
    ll = runs.innovations(jnp.asarray(padded), 0.02, 0.4, 0.005, jnp.asarray(gap), jnp.asarray(first), jnp.asarray(mask))
    dense = stats.multivariate_normal(np.zeros(len(t)), ou_covariance(t, run, 0.02, 0.4, 0.005)).logpdf(resid)
    np.testing.assert_allclose(float(ll.sum()), dense, rtol=1e-10)
    assert np.all(np.asarray(ll)[len(t):] == 0)


def test_simulated_residuals_have_the_ou_covariance():
    t = np.array([0.0, 0.1, 0.5, 1.5])
    gap, first, _ = layout_of(t, np.zeros(4, int), 4)
    draws = runs.simulate_residuals(jax.random.PRNGKey(0), (40000, 4), jnp.full(40000, 0.02), jnp.float64(0.5),
                                    jnp.full(40000, 0.01), jnp.asarray(gap), jnp.asarray(first))
    empirical = np.cov(np.asarray(draws), rowvar=False)
    np.testing.assert_allclose(empirical, ou_covariance(t, np.zeros(4), 0.02, 0.5, 0.01), atol=2e-5)


def test_simulate_table_labels_runs_inside_curves():
    data = runs.simulate(LAW, TRUTH, {"x": np.geomspace(1e8, 1e10, 5)}, 3, num_curves=2, **NOISE)
    assert len(data) == 30 and data.groupby("run")["curve"].nunique().max() == 1
    assert data["run"].nunique() == 6 and (data["loss"] > 0).all()


# ---------------------------------------------------------------------- errors (nothing compiled)
def table(num_curves=2, num_runs=3, n=8, seed=0):
    return runs.simulate(LAW, TRUTH, {"x": np.geomspace(1e8, 1e10, n)}, num_runs, num_curves=num_curves,
                         seed=seed, **NOISE)


@pytest.mark.parametrize(
    "mutate, kwargs, error, match",
    [
        (None, dict(run="rn"), ValueError, "run column 'rn' not found.*did you mean 'run'"),
        (lambda d: d.assign(run=d["run"].where(d.index != 3)), {}, ValueError, "run column 'run' has missing values"),
        (lambda d: d.assign(run=d["run"] % 3), {}, ValueError, "run 0 of column 'run' has rows in 2 groups of column 'curve'"),
        (None, dict(likelihood="student_t"), ValueError, "Gaussian innovations.*'normal'"),
        (None, dict(pooling="partial"), ValueError, "not supported with pooling='partial'"),
        (None, dict(run=["run"]), TypeError, "run must be a column name"),
        (None, dict(priors={"run_length": dist.Normal(0, 1)}), ValueError, "'run_length' must have positive support"),
    ],
)
def test_bad_run_settings_name_the_column(mutate, kwargs, error, match):
    data = table()
    data = mutate(data) if mutate else data
    with pytest.raises(error, match=match):
        bs.fit(data, law="power_law", x="x", group="curve", method="map", **{"run": "run", **kwargs})


def test_a_run_likelihood_needs_a_run_column():
    with pytest.raises(ValueError, match="give the run column with run="):
        bs.fit(table(), law="power_law", x="x", group="curve", method="map",
               likelihood=bs.Likelihood("normal", runs=True))


# ---------------------------------------------------------------------- one run-aware fit
@pytest.fixture(scope="module")
def run_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        return bs.fit(table(), law="power_law", x="x", group="curve", run="run", method="laplace", draws=200)


def test_run_fit_reports_the_run_parameters(run_fit):
    assert run_fit.spec.likelihood == bs.Likelihood("normal", runs=True)
    summary = run_fit.summary()
    assert {"run_sd", "run_length"} <= set(summary.index.get_level_values("parameter"))
    assert np.isfinite(summary["mean"]).all()
    assert run_fit.runs is not None and len(run_fit.runs) == len(run_fit.y)


def test_run_fit_does_not_depend_on_row_order(run_fit):
    shuffled = table().sample(frac=1.0, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        again = bs.fit(shuffled, law="power_law", x="x", group="curve", run="run", method="laplace", draws=200)
    for name in ("E", "alpha", "run_sd", "run_length"):
        np.testing.assert_allclose(again.draws(name), run_fit.draws(name), rtol=1e-8)


def test_new_run_observations_add_the_run_variance(run_fit):
    mean = run_fit.predict({"x": [1e11]}, discrepancy=None)
    obs = run_fit.predict({"x": [1e11]}, kind="observation", seed=1, discrepancy=None)
    assert ((obs["upper"] - obs["lower"]) > (mean["upper"] - mean["lower"])).all()
    draws = run_fit.predictive_draws({"x": np.array([1e11])}, kind="observation")
    spread = np.log(draws[0, :, 0]).std()
    expected = np.sqrt(np.mean(run_fit.draws("sigma")[0] ** 2 + run_fit.draws("run_sd")[0] ** 2))
    assert 0.7 * expected < spread < 1.5 * np.hypot(expected, np.log(mean["upper"] / mean["lower"])[0] / 3.3)


def test_evaluate_and_predict_share_the_observation_scale(run_fit):
    """A new run's checkpoint scatters by sqrt(sigma^2 + run_sd^2), in Fit.predictive_draws and bs.evaluate alike."""
    from bayescale._src.fit.results import curve_draws

    scale = run_fit.observation_scale()
    np.testing.assert_allclose(scale, np.hypot(run_fit.draws("sigma"), run_fit.draws("run_sd")), rtol=1e-12)
    x = np.array([1e9])
    key = jax.random.PRNGKey(3)
    law, observed, _, _ = curve_draws(run_fit, [0], {"x": x[None]}, key, True)
    noise = np.log(observed[0, :, 0]) - np.log(law[0, :, 0])  # the observation noise alone, draw by draw
    predicted = run_fit.predictive_draws({"x": x}, kind="observation") / run_fit.predictive_draws({"x": x})
    for spread in (noise.std(), np.log(predicted[0, :, 0]).std()):
        assert spread == pytest.approx(np.sqrt(np.mean(scale[0] ** 2)), rel=0.2)


def test_pointwise_log_likelihood_sums_to_the_joint(run_fit):
    """The per-point terms are the filter's innovations: over a curve they sum to its dense Gaussian density."""
    ll = run_fit.pointwise_log_likelihood()
    i, idx = 0, run_fit.rows[0]
    params = {k: run_fit.posterior[k][i, 0, 0] for k in ("E", "A", "alpha", "sigma", "run_sd", "run_length")}
    x = run_fit.inputs["x"][idx]
    resid = np.log(run_fit.y[idx]) - np.log(LAW.fn(params, {"x": x}))
    cov = ou_covariance(np.log10(x), run_fit.runs[idx], params["run_sd"], params["run_length"], params["sigma"])
    dense = stats.multivariate_normal(np.zeros(len(idx)), cov).logpdf(resid) - np.log(run_fit.y[idx]).sum()
    np.testing.assert_allclose(ll[0, 0, idx].sum(), dense, rtol=1e-8)


def test_run_fit_saves_indexes_and_maps(run_fit, tmp_path):
    loaded = bs.load(run_fit.save(tmp_path / "runs.nc"))
    assert loaded.columns.run == "run"
    np.testing.assert_array_equal(loaded.runs, run_fit.runs)
    np.testing.assert_allclose(loaded.pointwise_log_likelihood(), run_fit.pointwise_log_likelihood())
    one = run_fit[1]
    assert len(one.runs) == len(one.y) == 24 and one.columns.run == "run"
    np.testing.assert_allclose(one.pointwise_log_likelihood()[..., :3], run_fit.pointwise_log_likelihood()[..., run_fit.rows[1][:3]])
    mode = bs.fit(table(), law="power_law", x="x", group="curve", run="run", method="map")
    np.testing.assert_allclose(mode.draws("alpha")[:, 0], run_fit.mode["alpha"])


def test_piloted_mode_search_ends_at_the_best_of_16_random_starts(run_fit):
    """The run-aware mode search starts from the modes of the checkpoints as independent points
    (engines.base.piloted_mode): on run_fit's table it ends where the best of 16 random starts of the run-aware
    model does (each minimized here by scipy's BFGS: a small program, unlike a second mode search's)."""
    from scipy import optimize

    from bayescale._src.engines import base
    from bayescale._src.fit import fitting
    from bayescale._src.model.problem import to_device

    job = fitting.setup(table(), fitting.FitOptions(law="power_law", x="x", group="curve", run="run",
                                                    method="laplace", draws=200))
    call, problem = job.plan.calls[0], job.plan.problem
    assert problem.pilot is not None and problem.forward
    data, keys = to_device(call.data, job.dtype), base.split_keys(jnp.asarray(call.keys))[:, 0]
    piloted = base.modes(problem, keys, data, 16, 60)  # run_fit's program
    value_and_grad = jax.jit(jax.value_and_grad(problem.potential))
    starts = jax.jit(jax.vmap(problem.init, in_axes=(0, 0, None)), static_argnums=2)(keys, data, 16)
    for c in range(len(keys)):
        curve = jax.tree_util.tree_map(lambda a, c=c: a[c], data)

        def objective(z, curve=curve):
            return tuple(map(np.asarray, value_and_grad(z, curve)))

        ends = [optimize.minimize(objective, np.asarray(z0), jac=True, method="BFGS", options={"gtol": 1e-9})
                for z0 in starts[c]]
        best = min((end for end in ends if np.isfinite(end.fun)), key=lambda end: end.fun)
        assert float(piloted.potential[c]) <= best.fun + 1e-8
        np.testing.assert_allclose(piloted.z[c], best.x, atol=1e-4)
    np.testing.assert_allclose(run_fit.mode["run_length"], np.exp(piloted.z[:, -1]), rtol=1e-8)


def test_compare_refits_with_the_runs(run_fit):
    """bs.compare's held-out refit keeps the run column (the refit's 18 points share the fit's program)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = bs.compare({"runs": run_fit})
    assert np.isfinite(table.loc["runs", "rmse_log"]) and 0 <= table.loc["runs", "coverage_90"] <= 1


def test_fit_stream_refuses_runs(tmp_path):
    with pytest.raises(ValueError, match="fit_stream does not support run="):
        bs.fit_stream(table(), tmp_path / "s", "power_law", x="x", group="curve", run="run")


# ---------------------------------------------------------------------- statistical tier
def coverage_at_10x(fit, x_max, level=0.9):
    truth = float(LAW.fn(TRUTH, {"x": np.array(10 * x_max)}))
    band = fit.predict({"x": [10 * x_max]}, interval=level, discrepancy=None)
    return float(((band["lower"] <= truth) & (truth <= band["upper"])).mean())


@pytest.mark.statistical
def test_run_aware_bands_cover_where_independent_points_do_not():
    """50 curves of 4 runs x 32 checkpoints with OU residuals (2% sd, 0.3 decades) around a known power law:
    the run-aware Laplace band of the law at 10x covers far more often than the independent one, which treats
    128 correlated checkpoints as 128 points (bench_runs.py: 0.81 against 0.48 over 100 curves; NUTS there too)."""
    data = runs.simulate(LAW, TRUTH, {"x": np.geomspace(1e8, 1e10, 32)}, 4, num_curves=50, seed=11, **NOISE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        aware = bs.fit(data, law="power_law", x="x", group="curve", run="run", method="laplace", draws=500)
        independent = bs.fit(data, law="power_law", x="x", group="curve", method="laplace", draws=500)
    covered, naive = coverage_at_10x(aware, 1e10), coverage_at_10x(independent, 1e10)
    assert covered >= 0.66, covered
    assert naive <= 0.7 and covered - naive >= 0.15, (covered, naive)


@pytest.mark.statistical
def test_sbc_of_the_run_aware_model_with_nuts():
    """Simulation-based calibration (Talts et al. 2018): 24 data sets of 2 runs x 12 checkpoints drawn from the
    run-aware model's priors, fitted with NUTS; every parameter's and the 10x prediction's 50% and 90% intervals
    cover within the 99% binomial band (bench_runs.py runs the larger version)."""
    num = 24
    priors = dict(bs.priors.resolve(LAW, None)) | runs.default_priors()
    data, truth = runs.simulate_prior(LAW, priors, {"x": np.geomspace(1e8, 1e10, 12)}, 2, num, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        fit = bs.fit(data, law="power_law", x="x", group="curve", run="run", method="nuts", chains=2, warmup=200,
                     draws=200)
    draws = {k: fit.draws(k) for k in truth}
    draws["prediction"] = fit.predictive_draws({"x": np.array([1e11])})[:, :, 0]
    truth["prediction"] = LAW.fn({k: truth[k] for k in LAW.param_names}, {"x": 1e11})
    for level in (0.5, 0.9):
        lo, hi = stats.binom.interval(0.99, num, level)
        for name in draws:
            covered = _coverage(draws[name], np.asarray(truth[name]), level).sum()
            assert lo <= covered <= hi, (name, level, covered)
    assert _uniformity(_ranks(draws["prediction"], np.asarray(truth["prediction"]), 21), 21) > 1e-3
