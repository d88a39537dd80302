"""Batching (bayescale._src.model.batch): buckets and chunks cover every curve once; batched fits equal per-curve fits;
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
from bayescale._src.model.batch import plan
from bayescale._src.model.data import prepare, resolve_columns


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


def test_one_width_pads_every_curve_to_the_widest_bucket(ragged):
    batch, _, _ = prepare(ragged, bs.laws.power_law, resolve_columns(bs.laws.power_law, "val_loss", "tokens", None,
                                                                     "run"))
    chunks = list(plan(batch, chunk_size=2, one_width=5 * 64))
    assert sorted(np.concatenate([c.index for c in chunks])) == list(range(5))
    assert {c.width for c in chunks} == {64}
    assert len({c.width for c in plan(batch, chunk_size=2, one_width=5 * 64 - 1)}) == 4  # too many points: buckets


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


@pytest.mark.statistical  # compiles the chunk-of-one programs (10 s): kept out of the 5-minute fast tier
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


@pytest.mark.statistical  # shares test_map_batched_equals_per_curve's chunk-of-one fits
def test_chunking_does_not_change_results(power_laplace, per_curve):
    # Laplace draws are a smooth function of the mode, so agreement to 1e-6 checks that each curve gets the
    # same data, keys and start whatever chunk it sits in. (NUTS trajectories amplify the last-bit rounding
    # differences of XLA's vectorized math across batch widths; they are compared statistically below.)
    for label, alone in per_curve.items():
        for k in power_laplace.posterior:
            np.testing.assert_allclose(power_laplace[label].posterior[k], alone.posterior[k], rtol=1e-6)


@pytest.mark.statistical
def test_nuts_batched_matches_per_curve_within_mc_error(ragged):
    kw = dict(law="power_law", x="tokens", y="val_loss", method="nuts", chains=4, draws=400, warmup=300)
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


# ---------------------------------------------------------------------- several processes
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _run_workers(envs, out, methods, timeout=900):
    """Start ``tests/distributed_worker.py`` once per environment, wait for all; kill all if one fails."""
    here = Path(__file__).parent
    procs = [subprocess.Popen([sys.executable, "distributed_worker.py", str(out), ",".join(methods)],
                              cwd=here, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for env in envs]
    try:
        logs = [p.communicate(timeout=timeout)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-4000:]


def test_import_starts_no_backend():
    """``import bayescale`` runs no JAX computation: ``bs.initialize_distributed()`` (jax.distributed.initialize)
    must come after the import and before the XLA backend starts."""
    code = ("import bayescale; from jax._src import xla_bridge; "
            "assert not xla_bridge.backends_are_initialized(), 'import bayescale started the XLA backend'")
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(Path(bs.__file__).parents[1]))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


@pytest.mark.statistical
@pytest.mark.filterwarnings("ignore::bayescale.FitWarning")  # NUTS at the shared program's short settings
def test_two_processes_equal_one_process(tmp_path, power_table):
    """Two processes under ``jax.distributed`` (CPU, gloo collectives) fit one sharded table as one process does.

    The workers (``distributed_worker.py``, whose docstring is the launch command) fit six curves in two chunks of
    4, two curves per process, with MAP, Laplace and NUTS, a partially pooled MAP fit, and a ``bs.fit_stream``
    run. Checked: both processes get the whole result; MAP, Laplace and NUTS are bitwise those of one process
    with the same two-device mesh; against this process's one-device fits, MAP and Laplace agree to rtol 1e-6
    (XLA's vectorized math rounds differently at another batch width per device: measured 1e-9) and NUTS within
    Monte Carlo error; the pooled fit (not sharded) is bitwise this process's; the stream's summary is the
    Laplace fit's. In the second tier for its cost (three fresh processes that compile the engines: 1.5-4 min on
    2 shared cores).
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_FLAGS"))}
    # the workers import the bayescale that this process imported (whatever is installed), and the test helpers
    root = str(Path(bs.__file__).parents[1])
    base.update(JAX_PLATFORMS="cpu", BAYESCALE_PROGRESS="0",
                PYTHONPATH=os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])]))
    if "JAX_COMPILATION_CACHE_DIR" in os.environ:
        base["JAX_COMPILATION_CACHE_DIR"] = os.environ["JAX_COMPILATION_CACHE_DIR"]
    port = _free_port()
    multi = [dict(base, JAX_COORDINATOR_ADDRESS=f"localhost:{port}", JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(i))
             for i in range(2)]
    _run_workers(multi, tmp_path, ["map", "laplace", "nuts", "pooled", "stream"])
    one_mesh = tmp_path / "one"
    one_mesh.mkdir()
    _run_workers([dict(base, XLA_FLAGS="--xla_force_host_platform_device_count=2")], one_mesh, ["map", "laplace"])
    p0, p1 = np.load(tmp_path / "process0.npz"), np.load(tmp_path / "process1.npz")
    ref = np.load(one_mesh / "process0.npz")
    assert (int(p0["process_count"]), int(p0["device_count"]), int(p0["local_device_count"])) == (2, 2, 1)
    assert (int(ref["process_count"]), int(ref["device_count"])) == (1, 2)
    assert set(p0.files) == set(p1.files)
    for k in p0.files:
        np.testing.assert_array_equal(p0[k], p1[k], err_msg=k)  # every process holds the whole result
    for k in ref.files:
        if k.startswith(("map_", "laplace_")):
            np.testing.assert_array_equal(p0[k], ref[k], err_msg=k)  # bitwise: the same mesh in one process

    from distributed_worker import LENGTHS

    table = power_curves(lengths=LENGTHS)
    for method in ("map", "laplace"):
        fit = fit_like(table, method)
        for k in fit.posterior:
            np.testing.assert_allclose(p0[f"{method}_posterior_{k}"], fit.posterior[k], rtol=1e-6, err_msg=k)
            np.testing.assert_allclose(p0[f"{method}_mode_{k}"], fit.mode[k], rtol=1e-6, err_msg=k)
    summary = fit_like(table, "nuts").summary()
    z = np.abs(p0["nuts_mean"] - summary["mean"].to_numpy()) / np.hypot(p0["nuts_mcse"], summary["mcse_mean"])
    # 24 means (6 curves x 4 parameters) of 2 x 100 draws; under agreement |z| < 3 nearly always
    assert np.sum(z > 3) <= 1 and z.max() < 4.5, z
    pooled = bs.fit(power_table, "power_law", **COLUMNS, method="map", pooling="partial")
    for k in pooled.posterior:
        np.testing.assert_array_equal(p0[f"pooled_posterior_{k}"], pooled.posterior[k], err_msg=k)
    for k in pooled.hyper:
        np.testing.assert_array_equal(p0[f"pooled_hyper_{k}"], pooled.hyper[k], err_msg=k)
    streamed = bs.load(tmp_path / "stream")
    assert streamed.complete  # written by process 0 alone: no other file, no leftover temporary
    assert sorted(os.listdir(tmp_path / "stream")) == ["chunk-000000.nc", "chunk-000001.nc", "manifest.json"]
    laplace = fit_like(table, "laplace").summary()
    np.testing.assert_allclose(streamed.summary()[laplace.columns].to_numpy(), laplace.to_numpy(), rtol=1e-6)
