"""bs.compute_optimal (bayescale._src.analysis.allocate) on the fit of the 240 Chinchilla runs."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import bayescale as bs
from bayescale._src.analysis.allocate import chinchilla_optimum


def test_compute_optimal_at_chinchilla_budget(chinchilla_laplace):
    fit = chinchilla_laplace
    opt = bs.compute_optimal(fit, compute=[1e21, 5.88e23])
    row = opt.iloc[1]
    assert 15 <= row["tokens_per_param"] <= 30
    assert row["tokens_per_param_lower"] < row["tokens_per_param"] < row["tokens_per_param_upper"]
    for name in ("N_opt", "D_opt", "tokens_per_param", "loss"):
        assert {name, f"{name}_lower", f"{name}_upper"} <= set(opt.columns)
    np.testing.assert_allclose(6 * opt["N_opt"] * opt["D_opt"], opt["compute"], rtol=0.05)
    # N_opt grows as C^(beta/(alpha+beta)) draw by draw; medians follow closely
    a = fit.draws("beta") / (fit.draws("alpha") + fit.draws("beta"))
    slope = np.log(opt["N_opt"].iloc[1] / opt["N_opt"].iloc[0]) / np.log(5.88e23 / 1e21)
    assert slope == pytest.approx(np.median(a), abs=0.01)


def test_closed_form_agrees_with_numerical_minimum(chinchilla_laplace):
    fit = chinchilla_laplace
    closed = bs.compute_optimal(fit, [1e20, 5.88e23, 1e26], method="closed_form")
    numeric = bs.compute_optimal(fit, [1e20, 5.88e23, 1e26], method="numerical")
    for name in ("N_opt", "D_opt", "loss", "N_opt_upper", "tokens_per_param_lower"):
        np.testing.assert_allclose(closed[name], numeric[name], rtol=1e-5)
    # and an independent optimizer on the posterior-median law along C = 6ND
    med = fit.summary()["mean"].to_dict()
    med.update({k: float(np.median(fit.draws(k))) for k in ("E", "A", "B", "alpha", "beta")})
    budget = 5.88e23 / 6

    def loss(log_n):
        n = np.exp(log_n)
        return med["E"] + med["A"] * n ** -med["alpha"] + med["B"] * (budget / n) ** -med["beta"]

    best = minimize_scalar(loss, bounds=(np.log(1e8), np.log(1e13)), method="bounded", options={"xatol": 1e-10})
    n_closed, _ = chinchilla_optimum({k: np.asarray(v) for k, v in med.items()}, budget)
    assert float(n_closed) == pytest.approx(np.exp(best.x), rel=1e-5)


def test_compute_optimal_input_checks(chinchilla_laplace, power_map):
    with pytest.raises(ValueError, match="positive finite"):
        bs.compute_optimal(chinchilla_laplace, [-1.0])
    with pytest.raises(ValueError, match="method must be 'auto', 'closed_form' or 'numerical'"):
        bs.compute_optimal(chinchilla_laplace, [1e21], method="newton")
    with pytest.raises(ValueError, match="needs a law of N and D"):
        bs.compute_optimal(power_map, [1e21])
