"""Simulation-based calibration, small: short NUTS runs on power-law curves under the default priors."""

import numpy as np
import pytest

import bayescale as bs
from bayescale._src.sbc import coverage_band

NUM = 40


@pytest.fixture(scope="module")
def sbc_power_law():
    # 16 points and chunks of 16 curves: the compiled program of tests/test_trust.py's NUTS tests
    return bs.sbc("power_law", NUM, np.geomspace(1e6, 1e9, 16), method="nuts", seed=1,
                  chains=2, warmup=150, draws=150, chunk_size=16)


def test_sbc_coverage_within_binomial_band(sbc_power_law):
    res = sbc_power_law
    assert list(res.coverage.index) == ["E", "alpha", "A", "sigma", "prediction"]
    assert res.ranks.shape == (NUM, 5) and res.ranks.values.min() >= 0
    assert res.ranks.values.max() <= res.num_ranks - 1
    for level in (0.5, 0.9):
        # a calibrated coverage falls outside this band with probability 0.001 per quantity
        lo, hi = coverage_band(level, NUM, prob=0.999)
        cov = res.coverage[f"{100 * level:g}%"]
        assert ((cov >= lo) & (cov <= hi)).all(), (level, cov.to_dict(), lo, hi)


def test_sbc_truth_comes_from_the_prior(sbc_power_law):
    # the prior median of the exponent is 0.3 (LogNormal(log 0.3, 1)); 40 draws pin it to within ~x1.5
    assert 0.2 < np.median(sbc_power_law.truth["alpha"]) < 0.45
    assert sbc_power_law.data.groupby("dataset").size().eq(16).all()


def test_sbc_rejects_map_and_bad_sizes():
    with pytest.raises(ValueError, match="method must be 'nuts' or 'laplace'"):
        bs.sbc("power_law", 4, [1, 2, 3], method="map")
    with pytest.raises(ValueError, match="missing \\['D'\\]"):
        bs.sbc("chinchilla", 4, {"N": [1, 2, 3]})
    with pytest.raises(ValueError, match="positive"):
        bs.sbc("power_law", 4, [0, 2, 3])
