"""bs.stack (bayescale._src.analysis.stacking): weights of the candidate laws of tests/fixtures.py and their predictions."""

import warnings

import numpy as np
import pytest

import bayescale as bs


def test_stack_weights_sum_to_one_and_predict_like_a_fit(candidates):
    fits = {law: f[0] for law, f in candidates.items()}
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
    # observation bands add the noise; compared without the discrepancy term, which dominates both bands at
    # 10x the data (+-20%) and makes their 200-draw widths differ by Monte Carlo error alone
    law_only = stacked.predict(new, interval=0.9, discrepancy=None)
    obs = stacked.predict(new, interval=0.9, kind="observation", discrepancy=None)
    assert (obs["upper"] - obs["lower"] >= law_only["upper"] - law_only["lower"]).all()
    # a stack of one law predicts like that law
    only = bs.stack({"power_law": fits["power_law"]})
    np.testing.assert_allclose(only.predict(new)["median"], single["median"], rtol=1e-6)
    draws = stacked.predictive_draws(new)
    assert draws.shape[-1] == 2 and np.isfinite(draws).all()
