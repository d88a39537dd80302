"""One process of a multi-process fit: the program of ``test_batch.py::test_two_processes_equal_one_process``.

Start it once per process, with the plain ``jax.distributed`` variables (from the ``tests`` directory)::

    export JAX_PLATFORMS=cpu JAX_COORDINATOR_ADDRESS=localhost:12345 JAX_NUM_PROCESSES=2
    JAX_PROCESS_ID=0 python distributed_worker.py OUT &
    JAX_PROCESS_ID=1 python distributed_worker.py OUT

Each process fits the same table (six curves of the shared POWER programs, two
chunks of 4) with MAP, Laplace and NUTS, a partially pooled MAP fit (not
sharded: every process runs it whole) and a ``bs.fit_stream`` run to
``OUT/stream`` (written by process 0), then saves what it got to
``OUT/process<i>.npz``. Without ``JAX_NUM_PROCESSES`` it runs as one process:
with ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` that process has
the same two-device mesh as the two processes together.
"""

import os
import sys
import warnings

import bayescale as bs

if os.environ.get("JAX_NUM_PROCESSES"):
    bs.initialize_distributed()  # before any other JAX work

import jax  # noqa: E402
import numpy as np  # noqa: E402
from fixtures import CHUNK, COLUMNS, SETTINGS, fit_like, power_curves  # noqa: E402

LENGTHS = (20, 25, 30, 18, 22, 28)


def main(out: str, methods=("map", "laplace", "nuts")) -> None:
    warnings.simplefilter("ignore")
    table = power_curves(lengths=LENGTHS)
    saved = {"process_count": jax.process_count(), "device_count": jax.device_count(),
             "local_device_count": jax.local_device_count()}
    for method in [m for m in methods if m in SETTINGS]:
        fit = fit_like(table, method)
        saved.update({f"{method}_posterior_{k}": v for k, v in fit.posterior.items()})
        saved.update({f"{method}_mode_{k}": v for k, v in fit.mode.items()})
        if method == "nuts":
            summary = fit.summary()
            saved.update(nuts_mean=summary["mean"].to_numpy(), nuts_mcse=summary["mcse_mean"].to_numpy())
    if "pooled" in methods:
        pooled = bs.fit(power_curves(), "power_law", **COLUMNS, method="map", pooling="partial")
        saved.update({f"pooled_posterior_{k}": v for k, v in pooled.posterior.items()})
        saved.update({f"pooled_hyper_{k}": v for k, v in pooled.hyper.items()})
    if "stream" in methods:
        bs.fit_stream(table, os.path.join(out, "stream"), "power_law", chunk_size=CHUNK, **COLUMNS,
                      **SETTINGS["laplace"])
    np.savez(os.path.join(out, f"process{jax.process_index()}.npz"), **saved)


if __name__ == "__main__":
    main(sys.argv[1], tuple(sys.argv[2].split(",")) if len(sys.argv) > 2 else ("map", "laplace", "nuts"))
