"""The importance and auto engines: PSIS-corrected Laplace, and NUTS where its Pareto k is too high."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from fixtures import CHUNK, fit_like, power_curves

import bayescale as bs
from bayescale._src.fit import diagnostics
from bayescale._src.fit import fitting
from bayescale._src.engines import auto, base, importance, nuts, psis


def test_auto_serves_easy_curves_by_importance(power_auto, power_nuts):
    table = power_auto.diagnostics()
    assert list(table["engine"]) == ["importance"] * 3
    assert (table["pareto_k"] <= 0.7).all() and (table["ess_importance"] > 50).all()
    assert table[["divergences", "max_r_hat", "min_ess_bulk"]].isna().all().all()
    assert power_auto.posterior["alpha"].shape == (3, 2, 100)
    # the same posterior as NUTS, to within the Monte Carlo error of 200 draws
    for name in ("E", "alpha", "A"):
        a, b = power_auto.posterior[name], power_nuts.posterior[name]
        sd = b.reshape(3, -1).std(axis=1)
        np.testing.assert_array_less(np.abs(a.reshape(3, -1).mean(1) - b.reshape(3, -1).mean(1)), 0.5 * sd)


def test_importance_method_is_auto_without_fallback(power_table, power_auto):
    fit = fit_like(power_table, "importance")
    for name in fit.posterior:
        np.testing.assert_array_equal(fit.posterior[name], power_auto.posterior[name])
    assert "engine" not in fit.diagnostics()
    np.testing.assert_array_equal(fit.curve_stats["pareto_k"], power_auto.curve_stats["pareto_k"])


def test_escalated_curves_are_the_nuts_draws(power_table, power_nuts, monkeypatch):
    # every curve escalates, none has a second mode: the sampler pass then runs NUTS on the same modes, keys and
    # Laplace starts as method="nuts"
    defaults = {**auto.Settings._field_defaults, "max_pareto_k": -np.inf, "retry_stages": 0}
    monkeypatch.setattr(auto.Settings.__new__, "__defaults__", tuple(defaults.values()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        fit = fit_like(power_table, "auto")
    assert list(fit.served) == ["nuts"] * 3
    for name in ("E", "alpha", "A", "sigma"):
        np.testing.assert_array_equal(fit.posterior[name], power_nuts.posterior[name])
    np.testing.assert_array_equal(fit.sample_stats["diverging"], power_nuts.sample_stats["diverging"])
    assert not fit.diagnostics()["max_r_hat"].isna().any()


def test_chains_of_a_curve_with_several_modes_start_at_its_importance_draws(power_table, power_auto, power_nuts,
                                                                             monkeypatch):
    """Where a second mode was found, NUTS's chains start at the first draws of the importance pass's chains
    (the importance fit's draws), not at draws of the Laplace approximation at the best mode."""
    defaults = {**auto.Settings._field_defaults, "max_pareto_k": -np.inf, "retry_stages": 0}
    monkeypatch.setattr(auto.Settings.__new__, "__defaults__", tuple(defaults.values()))
    monkeypatch.setattr(auto, "several_modes", lambda others: np.ones(len(others.found), bool))
    sample, starts = nuts._sample, []

    def recording(problem, settings, batch, split, mode, z0=None, start_at_z0=None):
        starts.append(fitting.constrain(problem, batch, jnp.asarray(z0)[:, :, None]))
        return sample(problem, settings, batch, split, mode, z0, start_at_z0)

    monkeypatch.setattr(nuts, "_sample", recording)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        fit = fit_like(power_table, "auto")
    assert list(fit.served) == ["nuts"] * 3 and len(starts) == 1
    for name in ("E", "alpha", "A", "sigma"):
        np.testing.assert_allclose(np.asarray(starts[0][name])[:3, :, 0], power_auto.posterior[name][:, :, 0],
                                   rtol=1e-10)
        # NUTS draws from other starts than method="nuts"'s, of the same posterior
        assert not np.array_equal(fit.posterior[name], power_nuts.posterior[name])
        a, b = fit.posterior[name].reshape(3, -1), power_nuts.posterior[name].reshape(3, -1)
        np.testing.assert_array_less(np.abs(a.mean(1) - b.mean(1)), 0.5 * b.std(axis=1))


def test_several_modes_needs_a_second_mode_within_mode_nats():
    others = base.Modes(z=np.zeros((3, 2, 1)), potential=np.array([[0.0, 3.0], [0.0, 30.0], [0.0, 3.0]]),
                        hessian=np.zeros((3, 2, 1, 1)), found=np.array([[True, True], [True, True], [True, False]]))
    assert auto.several_modes(others).tolist() == [True, False, False]


def test_curves_the_first_pass_fails_get_a_second_importance_pass(power_table, power_nuts, monkeypatch):
    """Where the first importance pass's k is too high, a second pass with fresh keys runs on those curves; its
    draws serve them where its own k is low (here: every curve, the first pass made to fail). The second pass
    is given the first's settings and sub-batch width, so that it reuses the first's compiled program (the
    default is longer: 12 stages, 24,000 proposals)."""
    stages = importance.Settings().stages
    defaults = {**auto.Settings._field_defaults, "retry_stages": stages, "retry_proposals": 0}
    monkeypatch.setattr(auto.Settings.__new__, "__defaults__", tuple(defaults.values()))
    monkeypatch.setattr(auto, "RETRY_CHUNK", CHUNK)
    first_pass, calls = importance.reweigh, []

    def failing_first_pass(problem, settings, batch, split, mode):
        draws = first_pass(problem, settings, batch, split, mode)
        calls.append(np.asarray(split)[:, 1])
        if len(calls) > 1:
            return draws
        return draws._replace(unit_stats={**draws.unit_stats, "pareto_k": np.full(len(draws.unit_stats["pareto_k"]), 0.9)})

    monkeypatch.setattr(importance, "reweigh", failing_first_pass)
    fit = fit_like(power_table, "auto")
    table = fit.diagnostics()
    assert len(calls) == 2 and not np.array_equal(calls[0][:3], calls[1][:3])  # the second pass has fresh keys
    assert list(fit.served) == ["importance"] * 3 and list(table["importance_stages"]) == [stages] * 3
    assert (table["pareto_k"] <= 0.7).all() and (table["ess_importance"] > 50).all()
    for name in ("E", "alpha", "A"):
        a, b = fit.posterior[name], power_nuts.posterior[name]
        sd = b.reshape(3, -1).std(axis=1)
        np.testing.assert_array_less(np.abs(a.reshape(3, -1).mean(1) - b.reshape(3, -1).mean(1)), 0.5 * sd)


def test_curve_stats_survive_save_and_load(power_auto, tmp_path):
    loaded = bs.load(power_auto.save(tmp_path / "auto.nc"))
    assert list(loaded.served) == list(power_auto.served)
    np.testing.assert_array_equal(loaded.curve_stats["pareto_k"], power_auto.curve_stats["pareto_k"])
    assert list(loaded[1].served) == ["importance"]


def test_pareto_k_warning():
    with pytest.warns(bs.FitWarning) as caught:
        problems = diagnostics.check_importance(np.array([0.2, 0.91, np.nan]), ["a", "b", "c"])
    assert len(problems) == 2 == len(caught)  # NaN (no finite weight) is flagged too
    assert problems[0].startswith("curve 'b': importance sampling Pareto k = 0.91 > 0.7")


def test_smooth_handles_curves_without_finite_weights():
    log_w = np.stack([np.random.default_rng(0).normal(size=2000), np.full(2000, -np.inf)])
    smoothed, k = psis.smooth(log_w)
    assert np.isfinite(k[0]) and k[0] < 0.5 and k[1] == np.inf
    np.testing.assert_allclose(np.exp(smoothed).sum(axis=1), 1.0)


def test_student_t_mixture_proposal_matches_scipy():
    import jax
    import jax.numpy as jnp
    from scipy import stats

    loc, tril = np.array([[1.0, -2.0], [3.0, 0.0]]), np.array([[[1.0, 0.0], [0.4, 0.5]], [[0.3, 0.0], [-0.1, 2.0]]])
    weights = np.array([0.7, 0.3])
    q = importance.StudentTMixture.of(jnp.log(weights), jnp.asarray(loc), jnp.asarray(tril), 5)
    z = np.asarray(jax.jit(lambda key: q.sample(key, (4000,)))(jax.random.PRNGKey(0)))
    components = [stats.multivariate_t(loc[i], tril[i] @ tril[i].T, df=5) for i in range(2)]
    expected = np.logaddexp(*(np.log(weights[i]) + components[i].logpdf(z) for i in range(2)))
    np.testing.assert_allclose(jax.jit(q.log_prob)(z), expected, rtol=1e-10)
    # draws: the components' shares (Monte Carlo, 4000 draws: sd 0.007)
    nearer_first = np.linalg.norm(z - loc[0], axis=1) < np.linalg.norm(z - loc[1], axis=1)
    assert abs(nearer_first.mean() - 0.7) < 0.05
    one = importance.StudentTMixture.of(jnp.zeros(1), jnp.asarray(loc[:1]), jnp.asarray(tril[:1]), 5)
    np.testing.assert_allclose(jax.jit(one.log_prob)(z), components[0].logpdf(z), rtol=1e-10)


def test_auto_on_a_different_table(power_auto):
    fit = fit_like(power_curves(seed=3), "auto")
    assert fit.method == "auto" and set(fit.served) <= {"importance", "nuts"}


def test_chain_diagnostics_cover_only_the_curves_chains_served(power_nuts):
    """r_hat and ESS come from arviz for the NUTS-served curves of an auto fit, as for a NUTS fit, and are not
    computed for the others (whose resampled draws they would misjudge)."""
    import dataclasses

    mixed = dataclasses.replace(power_nuts, method="auto",
                                curve_stats={"engine": np.array(["nuts", "importance", "nuts"]),
                                             "markov": np.array([True, False, True])})
    table, reference = mixed.diagnostics(), power_nuts.diagnostics()
    assert np.isnan(table["max_r_hat"].iloc[1]) and np.isnan(table["min_ess_bulk"].iloc[1])
    for i in (0, 2):
        for column in ("max_r_hat", "min_ess_bulk", "min_ess_tail"):
            assert table[column].iloc[i] == pytest.approx(reference[column].iloc[i], rel=1e-12)
    only = mixed._chain_summary(np.array([True, False, True]))
    assert list(only.index.get_level_values(0).unique()) == [power_nuts.groups[0], power_nuts.groups[2]]
    assert mixed._chain_summary(np.zeros(3, bool)) is None


def test_distinct_modes_keeps_the_best_end_point_of_each_basin(monkeypatch):
    import jax
    import jax.numpy as jnp

    from bayescale._src.engines import base

    assert base.MAX_MODES == 2
    monkeypatch.setattr(base, "MAX_MODES", 4)

    z = jnp.array([[0.0, 0.0], [0.1, -0.2], [3.0, 0.0], [0.0, 5.0], [3.2, 0.1], [9.0, 9.0], [-4.0, 0.0]])
    value = jnp.array([1.0, 0.5, 2.0, jnp.inf, 1.5, 7.0, 8.0])  # a failed start is inf
    hessian = jnp.broadcast_to(jnp.eye(2), (7, 2, 2)) * jnp.arange(1.0, 8.0)[:, None, None]
    select = jax.jit(base.distinct_modes)  # one compile instead of one per operation
    modes = select(z, value, hessian)
    # best first; (0, 0) is within 0.5 of the better (0.1, -0.2), (3.2, 0.1) of (3.0, 0.0); at most MAX_MODES
    np.testing.assert_array_equal(modes.z, [[0.1, -0.2], [3.2, 0.1], [9.0, 9.0], [-4.0, 0.0]])
    np.testing.assert_array_equal(modes.potential, [0.5, 1.5, 7.0, 8.0])
    np.testing.assert_array_equal(modes.hessian[:, 0, 0], [2.0, 5.0, 6.0, 7.0])
    assert modes.found.all()
    few = select(z[:2], value[:2], hessian[:2])
    np.testing.assert_array_equal(few.found, [True, False])


def test_first_proposal_weights_the_modes_by_their_laplace_evidence():
    import jax
    import jax.numpy as jnp

    from bayescale._src.engines import base

    z = jnp.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [9.0, 9.0]])
    potential = jnp.array([0.0, 1.0, 30.0, 0.5])  # the third is too far above the best to get a component
    cov = jnp.stack([jnp.eye(2), 4.0 * jnp.eye(2), jnp.eye(2), jnp.eye(2)])
    proper = jnp.array([True, True, True, False])  # the fourth is a saddle
    modes = base.Modes(z, potential, jnp.linalg.inv(cov), jnp.array([True, True, True, True]))
    at_modes = jax.jit(importance._at_modes, static_argnums=3)  # one compile instead of one per operation
    q = at_modes(modes, cov, proper, 5)
    # evidence e^-U |Sigma|^(1/2): 1 against e^-1 * 4
    expected = np.array([1.0, 4.0 * np.exp(-1.0)])
    np.testing.assert_allclose(np.exp(q.log_weights[:2]), expected / expected.sum(), rtol=1e-9)
    assert np.isneginf(q.log_weights[2:]).all()
    # a mode much less likely than the best still gets MODE_FLOOR of the best's weight
    far = modes._replace(potential=jnp.array([0.0, 9.0, 30.0, 0.5]))
    w = np.exp(at_modes(far, cov, proper, 5).log_weights)
    assert w[1] / w[0] == pytest.approx(importance.MODE_FLOOR)
    # one mode: the Student-t at the mode, with the Laplace covariance
    alone = at_modes(modes._replace(found=jnp.array([True, False, False, False])), cov, proper, 5)
    assert np.exp(alone.log_weights[0]) == pytest.approx(1.0) and np.isneginf(alone.log_weights[1:]).all()
    np.testing.assert_allclose(alone.scale_tril[0], np.eye(2))


def test_a_law_can_lower_autos_pareto_k_threshold(power_table, monkeypatch):
    """``Law.max_pareto_k`` (additive_compute: 0.5) lowers the threshold auto keeps importance draws below; auto's
    own 0.7 for every other law, and check_law rejects a threshold above 0.7."""
    seen = []

    def record_settings(plan, engine, settings, *rest):
        seen.append(settings)
        raise RuntimeError("settings recorded")

    monkeypatch.setattr(fitting, "execute", record_settings)
    strict = bs.laws.get("power_law")._replace(max_pareto_k=0.4)
    for law in ("power_law", strict):
        with pytest.raises(RuntimeError, match="settings recorded"):
            bs.fit(power_table, law=law, x="tokens", y="val_loss", group="run", method="auto")
    assert [s.max_pareto_k for s in seen] == [0.7, 0.4]
    assert bs.laws.get("additive_compute").max_pareto_k == 0.5
    with pytest.raises(ValueError, match="max_pareto_k"):
        bs.laws.check_law(strict._replace(max_pareto_k=0.9))


def test_a_law_with_the_smc_sampler_gets_tempered_smc_draws(power_table, power_auto, monkeypatch):
    """Where the law's ``sampler`` is ``"smc"`` (``janoschek``), auto samples every curve by tempered SMC from
    the prior: the same posterior as the importance draws, the engine named per curve, no importance Pareto k
    or Hessian check for them."""
    defaults = {**auto.Settings._field_defaults, "sampler": "smc"}
    monkeypatch.setattr(auto.Settings.__new__, "__defaults__", tuple(defaults.values()))
    with warnings.catch_warnings():
        warnings.simplefilter("error", bs.FitWarning)
        fit = fit_like(power_table, "auto")
    assert list(fit.served) == ["smc"] * 3 and fit.problems == []
    table = fit.diagnostics()
    assert "pareto_k" not in table and (table["smc_stages"] >= 1).all()
    for name in ("E", "alpha"):
        a, b = fit.posterior[name].reshape(3, -1), power_auto.posterior[name].reshape(3, -1)
        np.testing.assert_array_less(np.abs(a.mean(1) - b.mean(1)), 0.5 * b.std(axis=1))
    assert bs.laws.get("janoschek").sampler == "smc"
    with pytest.raises(ValueError, match="sampler must be one of"):
        bs.laws.get(bs.laws.get("power_law")._replace(sampler="mala"))
