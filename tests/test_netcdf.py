"""Save/load round trips: a loaded fit predicts, summarizes and allocates exactly as the one saved."""

import dataclasses

import arviz as az
import h5netcdf
import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest
from numpyro.distributions import constraints
from numpyro.distributions.transforms import biject_to

import bayescale as bs
from bayescale._src.fit import netcdf as io
from bayescale.laws import _REGISTRY

NEW = {"params": [1e9, 3e10, 1e12], "tokens": [2e10, 6e11, 2e13]}


def assert_same_fit(a, b, new):
    for kind in ("mean", "observation"):
        pa, pb = a.predict(new, kind=kind, interval=0.8), b.predict(new, kind=kind, interval=0.8)
        assert list(pa.columns) == list(pb.columns)
        np.testing.assert_array_equal(pa.to_numpy(), pb.to_numpy())
    pd.testing.assert_frame_equal(a.summary(), b.summary(), check_exact=True)
    if {"N", "D"} <= set(a.law.inputs):
        pd.testing.assert_frame_equal(bs.compute_optimal(a, [1e22, 1e24]), bs.compute_optimal(b, [1e22, 1e24]),
                                      check_exact=True)
    assert b.problems == a.problems and b.method == a.method and b.groups == a.groups
    assert b.columns == a.columns and b.settings == a.settings
    for k in a.sample_stats:
        assert b.sample_stats[k].dtype == a.sample_stats[k].dtype
        np.testing.assert_array_equal(b.sample_stats[k], a.sample_stats[k])
    np.testing.assert_array_equal(b.pointwise_log_likelihood(), a.pointwise_log_likelihood())


def test_round_trip_single_curve(chinchilla_laplace, tmp_path):
    path = chinchilla_laplace.save(tmp_path / "chinchilla.nc")
    loaded = bs.load(path)
    assert_same_fit(chinchilla_laplace, loaded, {"N": NEW["params"], "D": NEW["tokens"]})
    # equal priors rebuilt from the file: an equal model spec (by value), so the same compiled programs
    assert loaded.spec == chinchilla_laplace.spec
    assert repr(loaded) == repr(chinchilla_laplace)
    # the file holds every field Fit declares, and nothing else
    assert set(io.read(path)) == {f.name for f in dataclasses.fields(bs.Fit)}


def test_round_trip_nuts_grouped(power_nuts, tmp_path):
    fit = power_nuts
    loaded = bs.load(fit.save(tmp_path / "nuts_grouped.nc"))
    assert_same_fit(fit, loaded, {"tokens": [1e10, 1e12]})
    assert loaded.groups == [0, 1, 2] and loaded.sample_stats["diverging"].dtype == bool
    np.testing.assert_array_equal(loaded[1].predict({"x": [1e10]}), fit[1].predict({"x": [1e10]}))


def test_round_trip_laplace_grouped(power_laplace, tmp_path):
    loaded = bs.load(power_laplace.save(tmp_path / "grouped.nc"))
    assert_same_fit(power_laplace, loaded, {"tokens": NEW["tokens"]})
    assert [type(g) for g in loaded.groups] == [int, int, int]
    assert loaded[1].problems == power_laplace[1].problems
    assert loaded.columns.inputs == {"x": "tokens"} and loaded.columns.y == "val_loss"
    # the file is ordinary arviz InferenceData

    idata = az.from_netcdf(tmp_path / "grouped.nc")
    assert {"posterior", "observed_data", "constant_data"} <= set(idata.groups())
    assert idata.posterior["alpha"].dims == ("chain", "draw", "curve")  # the file names the curve axis "curve"


def test_string_group_labels_round_trip(chinchilla_two_copies, tmp_path):
    loaded = bs.load(chinchilla_two_copies.save(tmp_path / "copies.nc"))
    assert loaded.groups == ["a", "b"]
    assert_same_fit(chinchilla_two_copies, loaded, {"N": NEW["params"], "D": NEW["tokens"]})


@pytest.mark.parametrize(
    "prior",
    [
        dist.LogNormal(-1.2, 0.5),
        dist.HalfNormal(2.0),
        dist.StudentT(3.0, 0.1, 2.0),
        dist.Gamma(2.0, 3.0),
        dist.Uniform(0.0, 4.0),
        dist.TransformedDistribution(dist.Normal(0.3, 0.2), biject_to(constraints.interval(0.0, 4.0))),
        dist.TruncatedNormal(1.0, 2.0, low=0.0),
        dist.TruncatedNormal(1.0, 2.0, low=0.0, high=5.0),
    ],
    ids=lambda p: type(p).__name__,
)
def test_prior_records_rebuild_the_distribution(prior):
    record = io.encode_prior(prior)
    rebuilt = io.decode_prior(record)
    assert type(rebuilt) is type(prior)
    x = np.array([0.05, 0.7, 3.0])
    np.testing.assert_array_equal(np.asarray(rebuilt.log_prob(x)), np.asarray(prior.log_prob(x)))


def test_from_fit_priors_survive_a_round_trip(power_laplace):
    for name, prior in bs.priors.from_fit(power_laplace, group=0).items():
        rebuilt = io.decode_prior(io.encode_prior(prior))
        assert io.encode_prior(rebuilt) == io.encode_prior(prior), name


def test_unsupported_prior_is_named():
    class Custom(dist.Normal):
        pass

    with pytest.raises(ValueError, match="Custom"):
        io.encode_prior(Custom(0.0, 1.0))
    mixture = dist.MixtureSameFamily(dist.Categorical(np.array([0.5, 0.5])), dist.Normal(np.zeros(2), 1.0))
    with pytest.raises(ValueError, match="MixtureSameFamily"):
        io.encode_prior(mixture)


def test_bad_files_give_clear_errors(power_laplace, tmp_path):
    with pytest.raises(FileNotFoundError, match="no fit file"):
        bs.load(tmp_path / "missing.nc")
    text = tmp_path / "runs.csv"
    text.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a bayescale fit file"):
        bs.load(text)
    other = tmp_path / "other.nc"
    az.from_dict(posterior={"mu": np.zeros((2, 10))}).to_netcdf(str(other))
    with pytest.raises(ValueError, match="not a bayescale fit file"):
        bs.load(other)
    newer = power_laplace.save(tmp_path / "newer.nc")
    with h5netcdf.File(newer, "a") as f:
        f.attrs["bayescale_format_version"] = io.FORMAT_VERSION + 1
    with pytest.raises(ValueError, match="format version 2.*upgrade bayescale"):
        bs.load(newer)


def test_user_law_must_be_registered_before_loading(chinchilla_two_copies, tmp_path, monkeypatch):
    law = chinchilla_two_copies.law._replace(name="my_chinchilla")
    fit = chinchilla_two_copies["a"]  # a new Fit: replacing its law leaves the shared fixture alone
    fit.spec = fit.spec._replace(law=law)
    path = fit.save(tmp_path / "mine.nc")
    with pytest.raises(ValueError, match="'my_chinchilla', which is not registered.*bs.laws.register"):
        bs.load(path)
    monkeypatch.setitem(_REGISTRY, "my_chinchilla", law)
    assert bs.load(path).law is law
    monkeypatch.setitem(_REGISTRY, "my_chinchilla", bs.laws.get("power_law")._replace(name="my_chinchilla"))
    with pytest.raises(ValueError, match="registered law 'my_chinchilla' takes"):
        bs.load(path)
