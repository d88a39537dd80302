"""bs.fit (bayescale._src.fit.fitting): bitwise determinism, alone or batched; the published Chinchilla fit at the
default settings (statistical tier)."""

import warnings

import numpy as np
import numpyro.distributions as dist
import pytest
from conftest import EPOCH
from fixtures import fit_like

import bayescale as bs


# ------------------------------------------------------------------ determinism
@pytest.mark.parametrize("method", ["map", "laplace", "nuts"])
def test_same_seed_same_bits_alone_or_batched(method, power_table, request):
    """Refits of the shared table (the POWER programs) repeat the shared fit bit for bit, and a curve fitted
    alone (its chunk padded to the same size) gets the same draws as in the batch; another seed differs."""
    shared = request.getfixturevalue(f"power_{method}")  # seed 0
    label = shared.groups[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        again = fit_like(power_table, method, seed=0)
        alone = fit_like(power_table[power_table["run"] == label], method, seed=0)
        other = fit_like(power_table, method, seed=1)
    assert alone.groups == [label]
    for name in shared.posterior:
        np.testing.assert_array_equal(shared.posterior[name], again.posterior[name])
        np.testing.assert_array_equal(shared.posterior[name][1], alone.posterior[name][0])
    for name in shared.sample_stats:
        np.testing.assert_array_equal(shared.sample_stats[name][1], alone.sample_stats[name][0])
    if method != "map":
        assert not np.array_equal(shared.posterior["alpha"], other.posterior["alpha"])


def test_settings_are_recorded(power_nuts, power_laplace):
    assert power_nuts.settings == {"seed": 0, "chains": 2, "draws": 100, "warmup": 100, "dtype": "float64",
                                   "pooling": "none", "posterior": True}
    assert power_nuts.posterior["alpha"].shape == (3, 2, 100)
    assert power_laplace.posterior["alpha"].shape == (3, 1, 200) and power_laplace.method == "laplace"


# ------------------------------------------------------------------ the published fit, default settings
@pytest.mark.statistical
def test_posterior_contains_epoch_estimates(chinchilla_nuts):
    summary = chinchilla_nuts.summary(interval=0.9)
    for name, value in EPOCH.items():
        lo, hi = summary.loc[name, "hdi_5%"], summary.loc[name, "hdi_95%"]
        assert lo <= value <= hi, (name, lo, value, hi)


@pytest.mark.statistical
def test_default_nuts_converges(chinchilla_nuts):
    summary = chinchilla_nuts.summary()
    assert summary["r_hat"].max() <= 1.01
    assert int(chinchilla_nuts.sample_stats["diverging"].sum()) == 0
    assert chinchilla_nuts.ok, chinchilla_nuts.problems
    assert summary["ess_bulk"].min() > 400
    post = chinchilla_nuts.idata.posterior
    assert post.sizes == {"chain": 4, "draw": 1000}
    assert chinchilla_nuts.idata.log_likelihood["loss"].shape == (4, 1000, 240)


@pytest.mark.parametrize("name", ["multiplicative_compute", "additive_compute"])
def test_fit_warns_when_compute_is_6ND(name, chinchilla_df):
    """The warning comes before the model is built: an unknown prior name stops the fit right after it,
    so nothing is compiled."""
    with pytest.warns(bs.FitWarning, match=r"column 'C' .* is 6\*N\*D to within noise in the table .*"
                                           r"compute term is not identified"):
        with pytest.raises(ValueError, match="does not have"):
            bs.fit(chinchilla_df, law=name, method="map", priors={"not_a_parameter": dist.LogNormal(0.0, 1.0)})
    note = bs.laws.table().loc[name, "note"]
    assert "C = 6 N D" in note and "identified" in note
    assert bs.laws.table().loc["chinchilla", "note"] == ""
