"""bs.theory: generators and readings (fast); fits of the pure power law recover the exponents statistical
learning theory predicts (statistical tier)."""

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import bayescale as bs

# sizes N = m^(d+2) make the optimal bin count m exact; small m are left out, where the
# O(1/m^2) corrections to the rate (bins of half a period, E[1/n] of nearly empty bins) show
BINNING = {1: np.geomspace(8, 64, 10).round(), 2: np.geomspace(6, 20, 8).round(), 4: np.arange(5, 11)}


@pytest.fixture(scope="module")
def theory_fit():
    frames = [bs.theory.mean_estimation(np.geomspace(10, 1e4, 10).round(), sigma=2.0, reps=200, seed=0)
              .assign(curve="mean")]
    for d, m in BINNING.items():
        sizes = (m.astype(int) ** (d + 2)).tolist()
        frames.append(bs.theory.binning_regression(sizes, d, reps=10, seed=0).assign(curve=f"binning d={d}"))
    df = pd.concat(frames, ignore_index=True)
    return bs.fit(df, law="pure_power_law", group="curve", method="laplace", draws=2000, seed=0)


@pytest.mark.statistical
@pytest.mark.parametrize("curve, alpha", [("mean", 1.0), ("binning d=1", 2 / 3), ("binning d=2", 0.5),
                                          ("binning d=4", 1 / 3)])
def test_fitted_exponent_covers_the_theoretical_rate(theory_fit, curve, alpha):
    draws = theory_fit.draws("alpha")[theory_fit.groups.index(curve)]
    lo, hi = np.quantile(draws, [0.05, 0.95])
    assert lo <= alpha <= hi, (curve, lo, hi)


@pytest.mark.statistical
def test_mean_estimation_amplitude_is_sigma_squared(theory_fit):
    draws = theory_fit.draws("A")[theory_fit.groups.index("mean")]
    lo, hi = np.quantile(draws, [0.05, 0.95])
    assert lo <= 4.0 <= hi


@pytest.mark.statistical
def test_intrinsic_dimension_readings(theory_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the mean-estimation curve has alpha = 1: no dimension
        d = bs.theory.intrinsic_dimension(theory_fit, reading="binning", interval=0.9).set_index("curve")
    for dim in (1, 2, 4):
        row = d.loc[f"binning d={dim}"]
        assert row["lower"] <= dim <= row["upper"]


def test_intrinsic_dimension_maps_every_draw(power_laplace):
    """The readings' arithmetic and errors, on the shared power-law fit (alpha near 0.3)."""
    draws = bs.theory.intrinsic_dimension(power_laplace, reading="crude")
    np.testing.assert_allclose(draws, 1 / power_laplace.draws("alpha"))
    binning = bs.theory.intrinsic_dimension(power_laplace, reading="binning")
    np.testing.assert_allclose(binning, 2 / power_laplace.draws("alpha") - 2)
    table = bs.theory.intrinsic_dimension(power_laplace, reading="binning", interval=0.9)
    assert list(table.columns) == ["run", "mean", "median", "lower", "upper"] and len(table) == 3
    assert (table["lower"] <= table["median"]).all() and (table["median"] <= table["upper"]).all()
    with pytest.raises(ValueError, match="unknown reading"):
        bs.theory.intrinsic_dimension(power_laplace, reading="fractal")
    with pytest.raises(ValueError, match="no parameter 'beta'"):
        bs.theory.intrinsic_dimension(power_laplace, param="beta")
    with pytest.raises(ValueError, match="interval must be between 0 and 1"):
        bs.theory.intrinsic_dimension(power_laplace, interval=1.5)


def test_binning_reading_warns_for_parametric_rates():
    fast = SimpleNamespace(law=bs.laws.get("pure_power_law"), draws=lambda name: np.full((1, 20), 1.2), grouped=False)
    with pytest.warns(UserWarning, match="faster than any Lipschitz"):
        d = bs.theory.intrinsic_dimension(fast, reading="binning")
    assert (d < 0).all()


def test_generators_shape_and_bad_arguments():
    df = bs.theory.mean_estimation([4, 8], reps=3)
    assert list(df.columns) == ["x", "loss"] and (df["loss"] > 0).all()
    assert bs.theory.optimal_bins(np.array([3**3, 10**6]), 4).tolist() == [2, 10]
    assert bs.theory.optimal_bins(5**6, 4) == 5
    with pytest.raises(ValueError, match="sizes"):
        bs.theory.mean_estimation([0, 10])
    with pytest.raises(ValueError, match="d must be"):
        bs.theory.binning_regression([100], d=0)
    with pytest.raises(ValueError, match="reps"):
        bs.theory.binning_regression([100], d=1, reps=0)
