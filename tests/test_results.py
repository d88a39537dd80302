"""Fit (bayescale._src.fit.results): indexing, tables, predictions, draws, diagnostics and InferenceData."""

import warnings

import numpy as np
import pandas as pd
import pytest
from fixtures import fit_like, power_curves

import bayescale as bs


# ------------------------------------------------------------------ structure and tables
def test_grouped_fit_indexing_and_tables(power_laplace, power_table):
    fit = power_laplace
    assert len(fit) == 3 and fit.groups == [0, 1, 2] and fit.grouped
    one = fit[2]
    assert len(one.y) == 30 and not one.grouped
    pred = fit.predict({"tokens": [1e11]})
    assert list(pred.columns) == ["run", "tokens", "mean", "median", "lower", "upper"] and len(pred) == 3
    np.testing.assert_allclose(pred[pred["run"] == 2]["median"].to_numpy(), one.predict({"tokens": [1e11]})["median"])
    summary = fit.summary()
    assert summary.index.names == ["run", "parameter"]
    assert fit.idata.posterior["alpha"].dims == ("chain", "draw", "run")
    assert fit.idata.log_likelihood["val_loss"].shape == (1, 200, len(power_table))
    with pytest.raises(KeyError, match="no group 'zz'"):
        fit["zz"]
    with pytest.raises(TypeError, match="no group column"):
        one[0]


def test_draws_params_and_predictive_draws(power_laplace):
    fit = power_laplace
    assert fit.param_names == ["E", "alpha", "A", "sigma"]  # the law's order, then the noise scale
    assert fit.draws("alpha").shape == (3, 200)
    with pytest.raises(KeyError, match="no parameter 'gamma'"):
        fit.draws("gamma")
    table = fit.params()
    assert list(table.columns) == ["run", *fit.param_names] and len(table) == 3 * 200
    np.testing.assert_array_equal(table.loc[table["run"] == 1, "alpha"].to_numpy(), fit.draws("alpha")[1])
    mean = fit[1].predictive_draws({"x": [1e8, 1e12]})
    obs = fit[1].predictive_draws({"x": [1e8, 1e12]}, kind="observation")
    assert mean.shape == obs.shape and mean.shape[-1] == 2
    band = fit[1].predict({"tokens": [1e8, 1e12]}, discrepancy=None)  # predictive_draws: the law exactly true
    np.testing.assert_allclose(np.median(mean.reshape(-1, 2), axis=0), band["median"], rtol=1e-12)
    assert obs.std() > 0 and not np.array_equal(mean, obs)
    with pytest.raises(ValueError, match=r"input 'x' of law 'power_law' must be positive and finite, got \[-1.0\]"):
        fit.predictive_draws({"x": [1e8, -1.0]})
    with pytest.raises(ValueError, match=r"needs inputs \['x'\]; missing \['x'\]"):
        fit.predictive_draws({"tokens": [1e8]})


def test_predict_mean_and_observation(chinchilla_laplace):
    fit = chinchilla_laplace
    at = {"N": [7e10, 1e9], "D": [1.4e12, 2e10]}
    mean = fit.predict(at, interval=0.9, discrepancy=None)
    obs = fit.predict(at, interval=0.9, kind="observation", discrepancy=None)
    assert list(mean.columns) == ["N", "D", "mean", "median", "lower", "upper"]
    assert np.all(mean["lower"] < mean["median"]) and np.all(mean["median"] < mean["upper"])
    # a new run's loss is more uncertain than the law's mean
    assert np.all(obs["upper"] - obs["lower"] > mean["upper"] - mean["lower"])
    np.testing.assert_allclose(obs["median"], mean["median"], rtol=1e-3)
    # Chinchilla itself (70B params, 1.4T tokens): the fit predicts a loss near 1.94
    assert 1.9 < mean["median"][0] < 2.0
    with pytest.raises(ValueError, match="kind must be"):
        fit.predict(at, kind="new")
    with pytest.raises(ValueError, match="column 'D'.*not found"):
        fit.predict({"N": [1e9]})
    with pytest.raises(ValueError, match="must be positive"):
        fit.predict({"N": [1e9], "D": [0.0]})


def test_predict_rejects_bad_inputs(power_map):
    fit = power_map[0]
    with pytest.raises(ValueError, match="takes no input"):
        fit.predict({"tokens": [1e10], "N": [1e9]})
    with pytest.raises(ValueError, match="must be positive"):
        fit.predict({"tokens": [-1.0]})
    with pytest.raises(ValueError, match="empty"):
        fit.predict({"tokens": []})


def test_idata_carries_natural_parameters(chinchilla_laplace, chinchilla_df):
    idata = chinchilla_laplace.idata
    for group in ("posterior", "log_likelihood", "observed_data"):
        assert hasattr(idata, group)
    post = idata.posterior
    for name in ["E", "A", "B", "alpha", "beta", "sigma", "log_law_at_max_N_D", "log_alpha_excess"]:
        assert post[name].dims == ("chain", "draw")
    assert post.sizes == {"chain": 1, "draw": 200}
    assert idata.log_likelihood["loss"].shape == (1, 200, 240)
    np.testing.assert_array_equal(idata.observed_data["loss"].values, chinchilla_df["loss"].values)
    # the sampler's coordinates (two_term_ends): the first is the log of the law at the largest N and D
    corner = {"N": chinchilla_df["N"].max(), "D": chinchilla_df["D"].max()}
    law_at_corner = post["E"] + post["A"] * corner["N"] ** -post["alpha"] + post["B"] * corner["D"] ** -post["beta"]
    np.testing.assert_allclose(np.exp(post["log_law_at_max_N_D"]), law_at_corner, rtol=1e-9)


def test_nuts_idata_has_sample_stats(power_nuts):
    idata = power_nuts.idata
    assert hasattr(idata, "sample_stats") and idata.posterior.sizes == {"chain": 2, "draw": 100, "run": 3}
    assert power_nuts.sample_stats["diverging"].shape == (3, 2, 100)
    summary = power_nuts.summary()
    assert {"mean", "sd", "hdi_5%", "hdi_95%", "r_hat", "ess_bulk", "mcse_mean"} <= set(summary.columns)


# ------------------------------------------------------------------ diagnostics
def test_diagnostics_table_per_curve():
    """Curve 'a' a power law, curve 'b' flat (the exponent is not identified): the POWER NUTS program."""
    df = power_curves(lengths=(20, 20), labels=("a", "b"))
    df.loc[df["run"] == "b", "val_loss"] = 3.0
    with pytest.warns(bs.FitWarning):
        fit = fit_like(df, "nuts")
    diag = fit.diagnostics()
    assert list(diag.index) == ["a", "b"] and diag.index.name == "run"
    assert {"divergences", "max_r_hat", "min_ess_bulk", "min_ess_tail", "mode_ok", "problems", "ok"} <= set(diag)
    summary = fit.summary()
    assert diag.loc["a", "max_r_hat"] == summary.loc["a", "r_hat"].max()
    assert diag.loc["b", "min_ess_bulk"] == summary.loc["b", "ess_bulk"].min()
    assert not diag.loc["b", "ok"] and not fit.ok and not fit["b"].ok
    assert diag["ok"].tolist() == [fit[g].ok for g in fit.groups]
    assert diag["problems"].sum() == len(fit.problems)
    assert fit.curve_problems("b") and all(not p.startswith("curve ") for p in fit.curve_problems("b"))


def test_diagnostics_of_mode_fits_flag_flat_modes(power_map):
    fit = power_map[0]
    diag = fit.diagnostics()
    assert diag[["divergences", "max_r_hat"]].isna().all().all()
    assert diag["ok"].tolist() == [fit.ok] == [bool(fit.mode_ok[0]) and not fit.problems]


def test_flat_mode_warns():
    from bayescale._src.fit.diagnostics import check_mode

    with pytest.warns(bs.FitWarning, match="not positive-definite"):
        msgs = check_mode(np.array([True, False]), ["a", "b"])
    assert "['b']" in msgs[0]
    assert check_mode(np.array([True]), [None]) == []


def test_repr_names_law_method_and_curves(power_laplace):
    text = repr(power_laplace)
    assert "power_law" in text and "laplace" in text and "3 curves" in text
    assert isinstance(power_laplace.summary(), pd.DataFrame)


def test_chain_stats_match_arviz():
    """The batched HDI, MCSE, ESS and r_hat of Fit.summary() are arviz's (the HDI exactly, the rest to rounding),
    on autocorrelated, tied, short, constant and non-finite series."""
    import arviz as az
    import xarray as xr

    from bayescale._src.fit import chain_stats

    rng = np.random.default_rng(0)
    e = rng.standard_normal((12, 4, 200))
    x = e.copy()
    for t in range(1, 200):
        x[..., t] = 0.9 * x[..., t - 1] + e[..., t]
    x[1] = np.round(x[1], 0)  # ties
    x[2] = 1.0  # constant
    x[3] = np.arange(200) % 2  # folded draws constant
    x[4, 0, 3] = np.nan
    x[5, 1, 7] = np.inf
    x[6] = rng.standard_cauchy((4, 200))
    short = rng.standard_normal((3, 2, 7))
    for series in (x, short):
        ds = xr.Dataset({"p": (("curve", "chain", "draw"), series)})
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = chain_stats.summary_stats(series)
            ref = {"mcse_mean": az.mcse(ds, method="mean"), "ess_bulk": az.ess(ds, method="bulk"),
                   "ess_tail": az.ess(ds, method="tail"), "r_hat": az.rhat(ds)}
            hdi = az.hdi(ds, hdi_prob=0.9)["p"].values
        for name, values in ref.items():
            np.testing.assert_allclose(ours[name], values["p"].values, rtol=1e-12, err_msg=name)
        low, high = chain_stats.hdi(series.reshape(len(series), -1), 0.9)
        np.testing.assert_array_equal(np.stack([low, high], -1), hdi)
