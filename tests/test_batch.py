"""Batching (bayescale._src.batch): buckets and chunks cover every curve once; batched fits equal per-curve fits;
chunk sizes and device sharding change nothing."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures import CHUNK, COLUMNS, SETTINGS, fit_like, power_curves

import bayescale as bs
from bayescale._src.batch import plan
from bayescale._src.data import prepare, resolve_columns


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


def test_buckets_and_chunks_cover_every_curve_once(ragged):
    batch, _, rows = prepare(ragged, bs.laws.power_law, resolve_columns(bs.laws.power_law, "val_loss", "tokens",
                                                                        None, "run"))
    chunks = list(plan(batch, chunk_size=2))
    seen = np.concatenate([c.index for c in chunks])
    assert sorted(seen) == list(range(5))
    assert {c.width for c in chunks} == {8, 16, 32, 64}
    assert all(len(c.index) <= c.size == 2 or c.size == len(c.index) for c in chunks)


def test_fixed_chunks_pad_every_chunk_to_the_chunk_size(ragged):
    batch, _, _ = prepare(ragged, bs.laws.power_law, resolve_columns(bs.laws.power_law, "val_loss", "tokens", None,
                                                                     "run"))
    chunks = list(plan(batch, chunk_size=3, fixed=True))
    assert sorted(np.concatenate([c.index for c in chunks])) == list(range(5))
    assert all(c.size == 3 for c in chunks)


@pytest.fixture(scope="module")
def per_curve(power_table):
    """Each curve of the shared table alone, Laplace in chunks of one curve (this file's one extra program)."""
    return {label: bs.fit(power_table[power_table["run"] == label], seed=0, chunk_size=1, **COLUMNS,
                          **SETTINGS["laplace"])
            for label in power_table["run"].unique()}


def test_map_batched_equals_per_curve(power_map, power_laplace, per_curve):
    """The shared fits (three ragged curves, 20/25/30 points, in one chunk of 4) against each curve alone."""
    assert CHUNK > 1
    for label, alone in per_curve.items():
        for name in ("E", "alpha", "A", "sigma"):
            # MAP and Laplace share the mode finder (and its keys): the modes agree across methods and chunks
            np.testing.assert_allclose(power_map[label].mode[name], alone.mode[name], rtol=1e-6)
            np.testing.assert_allclose(power_map[label].posterior[name][0, 0, 0], alone.mode[name][0], rtol=1e-6)
            np.testing.assert_allclose(power_laplace[label].mode[name], power_map[label].mode[name], rtol=1e-6)


def test_curves_of_two_buckets_come_back_in_table_order(power_table, power_map):
    """A 6-point curve (bucket 8) placed between the shared curves (bucket 32): one fit, two programs (the POWER
    map program and its bucket-8 twin, run first, which test_data's random tables reuse), outputs scattered back
    to each group."""
    short = power_curves(lengths=(6,), seed=5, labels=[3])
    table = pd.concat([power_table[power_table["run"] <= 1], short, power_table[power_table["run"] == 2]],
                      ignore_index=True)
    mixed = fit_like(table, "map")
    assert mixed.groups == [0, 1, 2, 3]  # sorted labels
    i = mixed.groups.index(3)
    np.testing.assert_array_equal(mixed.rows[i], np.arange(45, 51))  # after the 20 + 25 points of groups 0, 1
    np.testing.assert_array_equal(mixed.y[mixed.rows[i]], short["val_loss"].to_numpy())
    for label in (0, 1, 2):  # same program, same keys: the same bits as the shared fit
        assert len(mixed[label].y) == len(power_map[label].y)
        for name in power_map.posterior:
            np.testing.assert_array_equal(mixed[label].posterior[name], power_map[label].posterior[name])
    alone = fit_like(short, "map")  # the bucket-8 program, padded to the same chunk
    for name in alone.posterior:
        np.testing.assert_array_equal(mixed[3].posterior[name], alone.posterior[name])


def test_chunking_does_not_change_results(power_laplace, per_curve):
    # Laplace draws are a smooth function of the mode, so agreement to 1e-6 checks that each curve gets the
    # same data, keys and start whatever chunk it sits in. (NUTS trajectories amplify the last-bit rounding
    # differences of XLA's vectorized math across batch widths; they are compared statistically below.)
    for label, alone in per_curve.items():
        for k in power_laplace.posterior:
            np.testing.assert_allclose(power_laplace[label].posterior[k], alone.posterior[k], rtol=1e-6)


@pytest.mark.statistical
def test_nuts_batched_matches_per_curve_within_mc_error(ragged):
    kw = dict(law="power_law", x="tokens", y="val_loss", chains=4, draws=400, warmup=300)
    two = ragged[ragged["run"].isin(["r1", "r4"])]  # 11 and 9 points: ragged, padded to one width
    batched = bs.fit(two, group="run", seed=0, **kw)
    summary = batched.summary()
    z = []
    for label in ("r1", "r4"):
        alone = bs.fit(ragged[ragged["run"] == label], seed=11, **kw).summary()
        ours = summary.xs(label, level=0)
        se = np.sqrt(ours["mcse_mean"] ** 2 + alone["mcse_mean"] ** 2)
        z.extend(np.abs((ours["mean"] - alone["mean"]) / se).tolist())
    # 8 means; under agreement |z| < 3 nearly always, allow one excursion to 4
    z = np.asarray(z)
    assert np.sum(z > 3) <= 1 and z.max() < 4, z


SHARDED = textwrap.dedent(
    """
    import numpy as np, warnings, jax
    warnings.simplefilter("ignore")
    import bayescale as bs
    from fixtures import fit_like, power_curves
    assert jax.device_count() == 4, jax.devices()
    fit = fit_like(power_curves(), "laplace")  # chunks of 4 curves: one curve per device
    out = {**{f"posterior_{k}": v for k, v in fit.posterior.items()}, **{f"mode_{k}": v for k, v in fit.mode.items()}}
    np.savez(OUT, **out)
    """
)


@pytest.mark.statistical
def test_sharded_equals_unsharded(tmp_path, power_laplace):
    """The shared Laplace fit on 4 (forced host) devices, in a fresh process, equals this process's on one device.

    In the second tier for its cost alone (a fresh process that imports and compiles: ~12 s on 2 cores).
    """
    path = tmp_path / "sharded.npz"
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    subprocess.run([sys.executable, "-c", SHARDED.replace("OUT", repr(str(path)))], check=True, env=env,
                   cwd=Path(__file__).parent)
    sharded = np.load(path)
    single = {**{f"posterior_{k}": v for k, v in power_laplace.posterior.items()},
              **{f"mode_{k}": v for k, v in power_laplace.mode.items()}}
    assert set(sharded.files) == set(single)
    for k in sharded.files:
        np.testing.assert_allclose(sharded[k], single[k], rtol=1e-6, err_msg=k)
