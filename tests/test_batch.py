"""Batched fits equal per-curve fits; buckets, chunks and sharding change nothing."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale._src.batch import plan
from bayescale._src.data import pad, prepare, resolve_columns


def ragged_curves(lengths, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for c, n in enumerate(lengths):
        x = np.geomspace(1e6, 1e9, n)
        E, A, alpha = rng.uniform(1.5, 2.5), rng.uniform(50, 500), rng.uniform(0.2, 0.45)
        loss = (E + A * x**-alpha) * np.exp(0.01 * rng.standard_normal(n))
        frames.append(pd.DataFrame({"tokens": x, "val_loss": loss, "run": f"r{c}"}))
    return pd.concat(frames, ignore_index=True)


LENGTHS = [6, 11, 23, 40, 9]  # three bucket widths: 8, 16, 32/64


@pytest.fixture(scope="module")
def ragged():
    return ragged_curves(LENGTHS)


def test_map_batched_equals_per_curve(ragged):
    batched = bs.fit(ragged, law="power_law", x="tokens", y="val_loss", group="run", method="map")
    for label in ("r1", "r4"):  # 11 and 9 points: one bucket width alone, so one extra compile
        alone = bs.fit(ragged[ragged["run"] == label], law="power_law", x="tokens", y="val_loss", method="map")
        for name in ("E", "alpha", "A", "sigma"):
            np.testing.assert_allclose(batched[label].mode[name], alone.mode[name], rtol=1e-6)


def test_nuts_batched_matches_per_curve_within_mc_error(ragged):
    kw = dict(law="power_law", x="tokens", y="val_loss", chains=4, draws=400, warmup=300)
    two = ragged[ragged["run"].isin(["r1", "r4"])]  # 11 and 9 points: ragged, padded to one width
    batched = bs.fit(two, group="run", seed=0, **kw)
    summary = batched.summary()
    z = []
    for label in ("r1", "r4"):  # ragged (11 and 9 points), one bucket width: one extra compile
        alone = bs.fit(ragged[ragged["run"] == label], seed=11, **kw).summary()
        ours = summary.xs(label, level=0)
        se = np.sqrt(ours["mcse_mean"] ** 2 + alone["mcse_mean"] ** 2)
        z.extend(np.abs((ours["mean"] - alone["mean"]) / se).tolist())
    # 8 means; under agreement |z| < 3 nearly always, allow one excursion to 4
    z = np.asarray(z)
    assert np.sum(z > 3) <= 1 and z.max() < 4, z


def test_grouped_fit_indexing_and_tables(ragged):
    fit = bs.fit(ragged, law="power_law", x="tokens", y="val_loss", group="run", method="laplace", draws=200)
    assert len(fit) == 5 and fit.groups == ["r0", "r1", "r2", "r3", "r4"]
    one = fit["r3"]
    assert len(one.y) == 40 and not one.grouped
    pred = fit.predict({"tokens": [1e10]})
    assert list(pred.columns) == ["run", "tokens", "mean", "median", "lower", "upper"] and len(pred) == 5
    np.testing.assert_allclose(pred[pred["run"] == "r3"]["median"].to_numpy(), one.predict({"tokens": [1e10]})["median"])
    summary = fit.summary()
    assert summary.index.names == ["run", "parameter"]
    assert fit.idata.posterior["alpha"].dims == ("chain", "draw", "run")
    assert fit.idata.log_likelihood["val_loss"].shape == (1, 200, len(ragged))
    with pytest.raises(KeyError, match="no group 'zz'"):
        fit["zz"]


def test_buckets_and_chunks_cover_every_curve_once(ragged):
    batch, _, rows = prepare(ragged, bs.laws.power_law, resolve_columns(
        bs.laws.power_law, "val_loss", "tokens", None, "run"))
    chunks = list(plan(batch, chunk_size=2))
    seen = np.concatenate([c.index for c in chunks])
    assert sorted(seen) == list(range(5))
    assert {c.width for c in chunks} == {8, 16, 32, 64}
    assert all(len(c.index) <= c.size == 2 or c.size == len(c.index) for c in chunks)


def test_chunking_does_not_change_results(ragged):
    # Laplace draws are a smooth function of the mode, so agreement to 1e-6 checks that each curve gets the
    # same data, keys and start whatever chunk it sits in. (NUTS trajectories amplify the last-bit rounding
    # differences of XLA's vectorized math across batch widths; they are compared statistically above.)
    kw = dict(law="power_law", x="tokens", y="val_loss", group="run", method="laplace", draws=100, seed=4)
    whole = bs.fit(ragged, **kw)
    chunked = bs.fit(ragged, chunk_size=1, **kw)
    for k in whole.posterior:
        np.testing.assert_allclose(whole.posterior[k], chunked.posterior[k], rtol=1e-6)


def test_bootstrap_reproduces_epoch_intervals(chinchilla_df):
    boot = bs.bootstrap(chinchilla_df, law="chinchilla", n=400, seed=0)
    assert list(boot.columns) == ["E", "alpha", "beta", "A", "B", "objective"] and len(boot) == 400
    # Epoch AI's full-data optimum of the same objective
    assert boot.attrs["full_fit"]["objective"] == pytest.approx(0.0010182740, rel=1e-6)
    q = boot.quantile([0.025, 0.975])
    for name, (lo, hi) in {"alpha": (0.317, 0.373), "beta": (0.331, 0.415), "E": (1.769, 1.871)}.items():
        assert q.loc[0.025, name] == pytest.approx(lo, abs=0.01), name
        assert q.loc[0.975, name] == pytest.approx(hi, abs=0.015), name
    with pytest.raises(ValueError, match="n must be a positive integer"):
        bs.bootstrap(chinchilla_df, n=0)


SHARDED = textwrap.dedent(
    """
    import numpy as np, warnings, jax
    warnings.simplefilter("ignore")
    import bayescale as bs
    from test_batch import ragged_curves
    assert jax.device_count() == 4, jax.devices()
    df = ragged_curves([9, 11, 12, 14, 10, 16])  # one bucket: one compile per process
    out = {}
    for method in ("map", "laplace"):
        fit = bs.fit(df, law="power_law", x="tokens", y="val_loss", group="run", method=method, draws=50, seed=2)
        out.update({f"{method}_{k}": v for k, v in fit.posterior.items()})
    np.savez(OUT, **out)
    """
)


def _run_with_devices(n, path):
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}", JAX_PLATFORMS="cpu")
    code = SHARDED.replace("OUT", repr(str(path)))
    if n == 1:
        code = code.replace("assert jax.device_count() == 4, jax.devices()", "assert jax.device_count() == 1")
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=Path(__file__).parent)
    return np.load(path)


def test_sharded_equals_unsharded(tmp_path):
    sharded = _run_with_devices(4, tmp_path / "sharded.npz")
    single = _run_with_devices(1, tmp_path / "single.npz")
    assert set(sharded.files) == set(single.files)
    for k in sharded.files:
        np.testing.assert_allclose(sharded[k], single[k], rtol=1e-6, err_msg=k)


def test_pad_masks_padding():
    batch = pad({"x": np.arange(1.0, 4.0)}, np.array([3.0, 2.0, 1.5]), [np.arange(3)])
    assert batch.mask.tolist() == [[True] * 3 + [False] * 5]
    assert np.all(np.isfinite(batch.log_y)) and np.all(batch.inputs["x"] > 0)


def test_flat_mode_warns():
    from bayescale._src.diagnostics import check_mode

    with pytest.warns(bs.FitWarning, match="not positive-definite"):
        msgs = check_mode(np.array([True, False]), ["a", "b"])
    assert "['b']" in msgs[0]
    assert check_mode(np.array([True]), [None]) == []
