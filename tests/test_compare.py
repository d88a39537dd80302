"""bs.compare and bs.stack on simulated curves of a known law.

Six noisy curves of a power law with a floor are fitted in one batched call per
candidate law (one compile each); the per-seed checks use ``fit[seed]``.
"""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale as bs

CANDIDATES = ("power_law", "pure_power_law", "log_law")
TRUTH = {"E": 0.8, "A": 20.0, "alpha": 0.5}  # a curve with a clear floor
SEEDS = range(6)
POINTS = 24  # the refit on 18 points shares the padded size (32), so it reuses the compiled program


def _curves() -> pd.DataFrame:
    frames = []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        x = np.geomspace(10, 1e5, POINTS)
        mean = TRUTH["E"] + TRUTH["A"] * x ** -TRUTH["alpha"]
        loss = mean * np.exp(0.02 * rng.standard_normal(x.size))
        frames.append(pd.DataFrame({"x": x, "loss": loss, "seed": seed}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def grouped():
    df = _curves()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        return {law: bs.fit(df, law=law, group="seed", method="laplace", draws=300, seed=0) for law in CANDIDATES}


def _quiet_compare(fits, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        return bs.compare(fits, **kw)


def test_compare_ranks_the_true_law_first_in_most_seeds(grouped):
    """PSIS-LOO ranks power_law (the truth) first in at least 5 of 6 seeds (measured: 6/6)."""
    firsts = 0
    for seed in SEEDS:
        table = _quiet_compare({law: f[seed] for law, f in grouped.items()}, extrapolation=False)
        firsts += table.index[0] == "power_law"
        assert list(table["rank"]) == [1, 2, 3]
        assert table["elpd_diff"].iloc[0] == 0 and (table["elpd_diff"] >= 0).all()
    assert firsts >= 5, f"the true law ranked first in {firsts} of {len(SEEDS)} seeds"


def test_compare_scores_extrapolation_of_held_out_larger_x(grouped):
    table = _quiet_compare(grouped, sort_by="extrapolation", holdout=0.25)
    assert table.index[0] == "power_law"
    assert {"rmse_log", "coverage_50", "coverage_80", "coverage_90", "coverage_95"} <= set(table.columns)
    assert (table["n_holdout"] == 6 * 6).all()  # 25% of 24 points, six curves
    # the true law's held-out error is of the order of the noise (2%), the others' far larger
    assert table.loc["power_law", "rmse_log"] < 0.05 < table.loc["pure_power_law", "rmse_log"]
    assert table.loc["power_law", "coverage_95"] >= 0.8
    cov = table.loc["power_law", ["coverage_50", "coverage_80", "coverage_90", "coverage_95"]].to_numpy()
    assert np.all(np.diff(cov) >= 0), "wider bands cover at least as much"


def test_compare_rejects_fits_of_different_data_and_map_fits(grouped):
    a, b = grouped["power_law"][0], grouped["log_law"][1]
    with pytest.raises(ValueError, match="different losses"):
        bs.compare({"a": a, "b": b})
    point = copy.copy(a)
    point.method = "map"
    with pytest.raises(ValueError, match="MAP fit"):
        bs.compare({"a": a, "point": point})
    with pytest.raises(ValueError, match="two fits of law"):
        bs.compare([a, a])


def test_compare_warns_on_poor_pareto_k(grouped):
    """A law that misses the curve's bend leans on a few points: PSIS flags them."""
    with pytest.warns(bs.FitWarning, match="Pareto k"):
        table = bs.compare({"log_law": grouped["log_law"]}, extrapolation=False)
    assert table.loc["log_law", "pareto_k_bad"] >= 1


def test_stack_weights_sum_to_one_and_predict_like_a_fit(grouped):
    fits = {law: f[0] for law, f in grouped.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
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
    # a stack of one law predicts like that law
    only = bs.stack({"power_law": fits["power_law"]})
    np.testing.assert_allclose(only.predict(new)["median"], single["median"], rtol=1e-6)
