"""bs.compare (bayescale._src.analysis.compare) on simulated curves of a known law.

Four noisy curves of a power law with a floor, fitted by three candidate laws in
one batched Laplace call each (the session fixture ``candidates`` of
tests/fixtures.py; the per-seed checks use ``fit[seed]``).
"""

import copy
import warnings

import numpy as np
import pytest
from fixtures import CANDIDATE_POINTS, CANDIDATE_SEEDS

import bayescale as bs


def _quiet_compare(fits, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        return bs.compare(fits, **kw)


def test_compare_ranks_the_true_law_first_in_most_seeds(candidates):
    """PSIS-LOO ranks power_law (the truth) first in every seed (measured: by 52 to 66 nats of elpd)."""
    firsts = 0
    for seed in CANDIDATE_SEEDS:
        table = _quiet_compare({law: f[seed] for law, f in candidates.items()}, extrapolation=False)
        firsts += table.index[0] == "power_law"
        assert list(table["rank"]) == [1, 2, 3]
        assert table["elpd_diff"].iloc[0] == 0 and (table["elpd_diff"] >= 0).all()
    assert firsts == len(CANDIDATE_SEEDS), f"the true law ranked first in {firsts} of {len(CANDIDATE_SEEDS)} seeds"


def test_compare_scores_extrapolation_of_held_out_larger_x(candidates):
    table = _quiet_compare(candidates, sort_by="extrapolation", holdout=0.25)
    assert table.index[0] == "power_law"
    assert {"rmse_log", "coverage_50", "coverage_80", "coverage_90", "coverage_95"} <= set(table.columns)
    assert (table["n_holdout"] == len(CANDIDATE_SEEDS) * CANDIDATE_POINTS // 4).all()  # 25% of 24 points per curve
    # the true law's held-out error is of the order of the noise (2%), the others' far larger
    assert table.loc["power_law", "rmse_log"] < 0.05 < table.loc["pure_power_law", "rmse_log"]
    assert table.loc["power_law", "coverage_95"] >= 0.8
    cov = table.loc["power_law", ["coverage_50", "coverage_80", "coverage_90", "coverage_95"]].to_numpy()
    assert np.all(np.diff(cov) >= 0), "wider bands cover at least as much"


def test_compare_rejects_fits_of_different_data_and_map_fits(candidates):
    a, b = candidates["power_law"][0], candidates["log_law"][1]
    with pytest.raises(ValueError, match="different losses"):
        bs.compare({"a": a, "b": b})
    point = copy.copy(a)
    point.method, point.settings = "map", {**a.settings, "posterior": False}
    with pytest.raises(ValueError, match="a .map. fit \\(a point, not a posterior\\)"):
        bs.compare({"a": a, "point": point})
    with pytest.raises(ValueError, match="two fits of law"):
        bs.compare([a, a])


def test_compare_warns_on_poor_pareto_k(candidates):
    """A law that misses the curve's bend leans on a few points: PSIS flags them."""
    with pytest.warns(bs.FitWarning, match="Pareto k"):
        table = bs.compare({"log_law": candidates["log_law"]}, extrapolation=False)
    assert table.loc["log_law", "pareto_k_bad"] >= 1
