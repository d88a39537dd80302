"""bs.compare and bs.stack on simulated curves of a known law."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale as bs

CANDIDATES = ("power_law", "pure_power_law", "log_law")
TRUTH = {"E": 0.8, "A": 20.0, "alpha": 0.5}  # a curve with a clear floor
SEEDS = range(6)


def _curve(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = np.geomspace(10, 1e5, 20)
    mean = TRUTH["E"] + TRUTH["A"] * x ** -TRUTH["alpha"]
    return pd.DataFrame({"x": x, "loss": mean * np.exp(0.02 * rng.standard_normal(x.size))})


def _fits(seed: int) -> dict:
    df = _curve(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        return {law: bs.fit(df, law=law, method="laplace", draws=300, seed=seed) for law in CANDIDATES}


@pytest.fixture(scope="module")
def fits_by_seed():
    return {seed: _fits(seed) for seed in SEEDS}


def test_compare_ranks_the_true_law_first_in_most_seeds(fits_by_seed):
    """PSIS-LOO ranks power_law (the truth) first in at least 5 of 6 seeds (measured: 6/6)."""
    firsts = 0
    for seed, fits in fits_by_seed.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.FitWarning)
            table = bs.compare(fits, extrapolation=False)
        firsts += table.index[0] == "power_law"
        assert list(table["rank"]) == [1, 2, 3]
        assert table["elpd_diff"].iloc[0] == 0 and (table["elpd_diff"] >= 0).all()
    assert firsts >= 5, f"the true law ranked first in {firsts} of {len(SEEDS)} seeds"


def test_compare_scores_extrapolation_of_held_out_larger_x(fits_by_seed):
    fits = fits_by_seed[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        table = bs.compare(fits, sort_by="extrapolation", holdout=0.25)
    assert table.index[0] == "power_law"
    assert {"rmse_log", "coverage_50", "coverage_80", "coverage_90", "coverage_95"} <= set(table.columns)
    assert (table["n_holdout"] == 5).all()
    # the true law's held-out error is of the order of the noise, the others' far larger
    assert table.loc["power_law", "rmse_log"] < 0.05 < table.loc["pure_power_law", "rmse_log"]
    assert table.loc["power_law", "coverage_95"] >= 0.8
    cov = table.loc["power_law", ["coverage_50", "coverage_80", "coverage_90", "coverage_95"]].to_numpy()
    assert np.all(np.diff(cov) >= 0), "wider bands cover at least as much"


def test_compare_rejects_fits_of_different_data_and_map_fits(fits_by_seed):
    a, b = fits_by_seed[0]["power_law"], fits_by_seed[1]["log_law"]
    with pytest.raises(ValueError, match="different losses"):
        bs.compare({"a": a, "b": b})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        point = bs.fit(_curve(0), law="power_law", method="map")
    with pytest.raises(ValueError, match="MAP fit"):
        bs.compare([a, point])


def test_compare_warns_on_poor_pareto_k():
    df = _curve(0)
    df.loc[19, "loss"] *= 3.0  # one wild point at the far end drives the fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        fit = bs.fit(df, law="power_law", method="laplace", draws=300, likelihood="normal")
    with pytest.warns(bs.FitWarning, match="Pareto k"):
        table = bs.compare({"power_law": fit}, extrapolation=False)
    assert table.loc["power_law", "pareto_k_bad"] >= 1


def test_stack_weights_sum_to_one_and_predict_like_a_fit(fits_by_seed):
    fits = fits_by_seed[0]
    stacked = bs.stack(fits)
    assert stacked.weights.sum() == pytest.approx(1.0)
    assert (stacked.weights >= 0).all() and stacked.weights.idxmax() == "power_law"
    new = {"x": [1e5, 1e6]}
    pred = stacked.predict(new, interval=0.9)
    single = fits["power_law"].predict(new, interval=0.9)
    assert list(pred.columns) == list(single.columns)
    assert (pred["lower"] <= pred["median"]).all() and (pred["median"] <= pred["upper"]).all()
    obs = stacked.predict(new, interval=0.9, kind="observation")
    assert (obs["upper"] - obs["lower"] >= pred["upper"] - pred["lower"]).all()
    # a stack that is all one law predicts like that law
    only = bs.stack({"power_law": fits["power_law"]})
    np.testing.assert_allclose(only.predict(new)["median"], single["median"], rtol=1e-6)
