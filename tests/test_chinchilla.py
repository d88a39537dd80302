"""Reproduce the published Chinchilla fits on the bundled Epoch AI extraction."""

import numpy as np
import pytest
from conftest import EPOCH
from scipy.optimize import minimize_scalar

import bayescale as bs


def test_dataset_matches_epoch_protocol(chinchilla_df):
    assert list(chinchilla_df.columns) == ["N", "D", "C", "loss"]
    assert len(chinchilla_df) == 240
    assert len(bs.datasets.load("chinchilla", drop_outliers=False)) == 245
    np.testing.assert_allclose(chinchilla_df["C"], 6 * chinchilla_df["N"] * chinchilla_df["D"], rtol=1e-12)
    assert "Hoffmann" in bs.datasets.citation("chinchilla")


def test_posterior_contains_epoch_estimates(chinchilla_nuts):
    summary = chinchilla_nuts.summary(interval=0.9)
    for name, value in EPOCH.items():
        lo, hi = summary.loc[name, "hdi_5%"], summary.loc[name, "hdi_95%"]
        assert lo <= value <= hi, (name, lo, value, hi)


def test_default_nuts_converges(chinchilla_nuts):
    summary = chinchilla_nuts.summary()
    assert summary["r_hat"].max() <= 1.01
    assert int(chinchilla_nuts.sample_stats["diverging"].sum()) == 0
    assert chinchilla_nuts.ok, chinchilla_nuts.problems
    assert summary["ess_bulk"].min() > 400


def test_idata_carries_natural_parameters(chinchilla_nuts, chinchilla_df):
    idata = chinchilla_nuts.idata
    for group in ("posterior", "log_likelihood", "observed_data", "sample_stats"):
        assert hasattr(idata, group)
    post = idata.posterior
    for name in ["E", "A", "B", "alpha", "beta", "sigma", "log_A_ref", "log_B_ref"]:
        assert post[name].dims == ("chain", "draw")
    assert post.sizes == {"chain": 4, "draw": 1000}
    assert idata.log_likelihood["loss"].shape == (4, 1000, 240)
    np.testing.assert_array_equal(idata.observed_data["loss"].values, chinchilla_df["loss"].values)
    # the reparameterization: A = exp(log_A_ref + alpha * mean log N)
    log_ref = np.log(chinchilla_df["N"]).mean()
    np.testing.assert_allclose(post["A"], np.exp(post["log_A_ref"] + post["alpha"] * log_ref), rtol=1e-10)


def test_compute_optimal_at_chinchilla_budget(chinchilla_nuts):
    opt = bs.compute_optimal(chinchilla_nuts, compute=[1e21, 5.88e23])
    row = opt.iloc[1]
    assert 15 <= row["tokens_per_param"] <= 30
    assert row["tokens_per_param_lower"] < row["tokens_per_param"] < row["tokens_per_param_upper"]
    for name in ("N_opt", "D_opt", "tokens_per_param", "loss"):
        assert {name, f"{name}_lower", f"{name}_upper"} <= set(opt.columns)
    np.testing.assert_allclose(6 * opt["N_opt"] * opt["D_opt"], opt["compute"], rtol=0.05)
    # N_opt grows as C^(beta/(alpha+beta)) draw by draw; medians follow closely
    a = chinchilla_nuts.draws("beta") / (chinchilla_nuts.draws("alpha") + chinchilla_nuts.draws("beta"))
    slope = np.log(opt["N_opt"].iloc[1] / opt["N_opt"].iloc[0]) / np.log(5.88e23 / 1e21)
    assert slope == pytest.approx(np.median(a), abs=0.01)


def test_closed_form_agrees_with_numerical_minimum(chinchilla_nuts):
    closed = bs.compute_optimal(chinchilla_nuts, [1e20, 5.88e23, 1e26], method="closed_form")
    numeric = bs.compute_optimal(chinchilla_nuts, [1e20, 5.88e23, 1e26], method="numerical")
    for name in ("N_opt", "D_opt", "loss", "N_opt_upper", "tokens_per_param_lower"):
        np.testing.assert_allclose(closed[name], numeric[name], rtol=1e-5)
    # and an independent optimizer on the posterior-median law along C = 6ND
    med = chinchilla_nuts.summary()["mean"].to_dict()
    med.update({k: float(np.median(chinchilla_nuts.draws(k))) for k in ("E", "A", "B", "alpha", "beta")})
    budget = 5.88e23 / 6

    def loss(log_n):
        n = np.exp(log_n)
        return med["E"] + med["A"] * n ** -med["alpha"] + med["B"] * (budget / n) ** -med["beta"]

    best = minimize_scalar(loss, bounds=(np.log(1e8), np.log(1e13)), method="bounded", options={"xatol": 1e-10})
    n_closed, _ = bs.allocate.chinchilla_optimum({k: np.asarray(v) for k, v in med.items()}, budget)
    assert float(n_closed) == pytest.approx(np.exp(best.x), rel=1e-5)


def test_predict_mean_and_observation(chinchilla_nuts):
    at = {"N": [7e10, 1e9], "D": [1.4e12, 2e10]}
    mean = chinchilla_nuts.predict(at, interval=0.9)
    obs = chinchilla_nuts.predict(at, interval=0.9, kind="observation")
    assert list(mean.columns) == ["N", "D", "mean", "median", "lower", "upper"]
    assert np.all(mean["lower"] < mean["median"]) and np.all(mean["median"] < mean["upper"])
    # a new run's loss is more uncertain than the law's mean
    assert np.all(obs["upper"] - obs["lower"] > mean["upper"] - mean["lower"])
    np.testing.assert_allclose(obs["median"], mean["median"], rtol=1e-3)
    # Chinchilla itself (70B params, 1.4T tokens): the fit predicts a loss near 1.94
    assert 1.9 < mean["median"][0] < 2.0
    with pytest.raises(ValueError, match="kind must be"):
        chinchilla_nuts.predict(at, kind="new")
    with pytest.raises(ValueError, match="column 'D'.*not found"):
        chinchilla_nuts.predict({"N": [1e9]})
    with pytest.raises(ValueError, match="must be positive"):
        chinchilla_nuts.predict({"N": [1e9], "D": [0.0]})


def test_compute_optimal_input_checks(chinchilla_nuts):
    with pytest.raises(ValueError, match="positive finite"):
        bs.compute_optimal(chinchilla_nuts, [-1.0])
    fit = bs.fit({"x": [1.0, 2, 3, 4], "loss": [4.0, 3, 2.5, 2.2]}, law="power_law", method="map")
    with pytest.raises(ValueError, match="needs a law of N and D"):
        bs.compute_optimal(fit, [1e21])
