"""Splitting a batch of curves for the hardware: length buckets, memory chunks, device sharding.

- **Buckets.** Curves are grouped by their padded length (the next power of
  two, see :func:`bayescale._src.model.data.bucket_size`), so a batch of 20-point curves
  does not pay for one 500-point curve. One compiled program per bucket shape.
- **Chunks.** A bucket larger than ``chunk_size`` curves is run in chunks of
  exactly ``chunk_size`` (the last one padded by repeating a curve), so every
  chunk reuses the same program. By default the chunk size is chosen so that
  the draws of one chunk take at most a quarter of the memory of the device
  that holds them (the GPU's memory limit, or the host's RAM on CPU), and
  engines that ask for it run at most 16 curves per chunk on CPU (NUTS, ChEES,
  importance sampling); see :func:`auto_chunk_size`.
- **Sharding.** With several JAX devices visible, the curve axis of every
  input is laid out across a one-dimensional mesh with
  ``NamedSharding(mesh, P("curves"))``; the vmapped engines are then split by
  XLA's SPMD partitioner with no communication.
- **Several processes.** Under ``jax.distributed`` (one process per host or per
  GPU) ``jax.devices()`` lists every process's devices, so the mesh, the chunk
  plan and the compiled programs are global and the same in every process.
  Every process reads the *same* table and plans the same chunks (nothing is
  scattered from a root process): :func:`shard` builds each global array with
  ``jax.make_array_from_callback``, each process filling only the shards of
  its own devices from its copy, and checks once per call that every process
  holds the same data (:func:`same_everywhere`); :func:`gather` brings the
  curves of every process back with ``process_allgather``, so every process
  ends with the whole result. Arrays a process computed alone (a pooled fit,
  which is not sharded) are already whole and are not gathered. Collectives
  on CPU need ``jax.config.update("jax_cpu_collectives_implementation", "gloo")``
  before ``jax.distributed.initialize``; see the README's multi-process section.
"""

from __future__ import annotations

import os
import zlib
from typing import Any, Iterator, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from bayescale._src.model.data import CurveBatch, bucket_size

AXIS = "curves"
MEMORY_FRACTION = 0.25
CPU_NUTS_CHUNK = 16
CPU_IMPORTANCE_CHUNK = 16


class Chunk(NamedTuple):
    """Curves ``index`` (positions in the full batch) padded to ``size`` by repeating the last."""

    index: np.ndarray
    size: int
    width: int


def device_memory_bytes() -> int:
    """Memory of the default device: the GPU's limit, else the host's physical memory."""
    device = jax.local_devices()[0]  # under jax.distributed, jax.devices()[0] may be another process's
    stats = getattr(device, "memory_stats", lambda: None)()
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"])
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def auto_chunk_size(bytes_per_curve: int, num_devices: int | None = None, cpu_cap: int = 0,
                    host_bytes: int | None = None) -> int:
    """Curves per chunk so that one chunk's outputs use at most MEMORY_FRACTION of device memory.

    With ``host_bytes``, one chunk's outputs (gathered on the host of every
    process) use at most that many bytes instead: ``bs.fit_stream`` bounds the
    memory of a whole run this way.

    ``cpu_cap`` (an engine's ``cpu_chunk``; 0: none) caps the curves per device
    on CPU, where a wider batch buys no parallelism and can cost time:

    - Engines whose steps vary in cost across the batch (NUTS, ChEES,
      CPU_NUTS_CHUNK): vmapped NUTS waits at every step for the deepest tree
      in the batch (measured: 100 power-law curves x 4 chains take 15 s in
      chunks of 1 to 10 curves and 24 s in one chunk of 100). ChEES waits for
      the longest trajectory among the batch's curves (each curve adapts its
      own; the longest is 1.8x the mean in chunks of 16, 2.6x in chunks of
      64): 64 power-law curves x 16 chains took 14-16 s in chunks of 16 and
      18-25 s in one chunk of 64 (benchmarks/bench_samplers.py).
    - Importance sampling (CPU_IMPORTANCE_CHUNK): the potential at 4,000
      proposals of every curve of a chunk is one array of curves x proposals
      x points, gigabytes for a few hundred curves, which the CPU then pages
      in and streams from memory. Measured on 500 power-law curves of 20-60
      points (benchmarks/bench_auto.py): ``importance`` 13.8-15.1 ms per curve in
      chunks of 16, 15.0 in chunks of 32, 16.9 in chunks of 64, 18.5 in one
      chunk per bucket; ``auto`` 19.8 in chunks of 16 (22.4-24.3 in chunks of
      8) against 22.1-27.8.
    """
    num_devices = num_devices or jax.device_count()
    if host_bytes is None:
        per_device = max(1, int(MEMORY_FRACTION * device_memory_bytes() // max(bytes_per_curve, 1)))
    else:
        per_device = max(1, int(host_bytes // (max(bytes_per_curve, 1) * num_devices)))
    if cpu_cap and jax.default_backend() == "cpu":
        per_device = min(per_device, cpu_cap)
    return per_device * num_devices


def plan(batch: CurveBatch, chunk_size: int, fixed: bool = False, one_width: int = 0) -> Iterator[Chunk]:
    """Chunks of curves of equal bucket width, in bucket order.

    With ``fixed``, every chunk is padded to exactly ``chunk_size`` curves, so
    every curve runs in a program of the same shape however many curves the
    batch has: its draws are then bitwise the same alone or in any batch.
    Otherwise a bucket smaller than ``chunk_size`` runs at its own size.

    With ``one_width > 0``, every curve is padded to the widest curve's bucket
    when the padded batch (curves x that width) has at most ``one_width``
    points: one compiled program for the whole batch instead of one per
    bucket. For a few curves the compiles (seconds each on a CPU) cost far more
    than the padded points (``bs.evaluate`` of 20 curves in three buckets,
    benchmarks/bench_heldout.py); a large batch keeps its buckets.
    """
    lengths = batch.mask.sum(axis=1)
    widths = np.array([bucket_size(int(n)) for n in lengths])
    if widths.size * widths.max() <= one_width:
        widths[:] = widths.max()
    multiple = jax.device_count()
    for width in np.unique(widths):
        index = np.flatnonzero(widths == width)
        size = chunk_size if fixed else min(chunk_size, len(index))
        size = -(-size // multiple) * multiple  # a whole number of curves per device
        for start in range(0, len(index), size):
            yield Chunk(index[start : start + size], size, int(width))


def take(batch: CurveBatch, chunk: Chunk) -> CurveBatch:
    """The chunk's curves (padded by repeating the last), points cut to the bucket width."""
    rows = np.concatenate([chunk.index, np.repeat(chunk.index[-1:], chunk.size - len(chunk.index))])

    def pick(a):
        a = np.asarray(a)[rows]
        return a[:, : chunk.width] if a.ndim == 2 else a

    return jax.tree_util.tree_map(pick, batch)


def mesh() -> Mesh | None:
    """A one-axis mesh over every device, or None on a single device."""
    if jax.device_count() == 1:
        return None
    return Mesh(np.asarray(jax.devices()), (AXIS,))


def shard(tree: Any, curve_mesh: Mesh | None) -> Any:
    """Place every leaf's leading (curve) axis across the mesh; unchanged on one device."""
    if curve_mesh is None:
        return tree

    def put(a):
        host = np.asarray(a)
        sharding = NamedSharding(curve_mesh, PartitionSpec(AXIS, *([None] * (host.ndim - 1))))
        return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])

    if jax.process_count() > 1:
        same_everywhere(tree)
    return jax.tree_util.tree_map(put, tree)


def same_everywhere(tree: Any) -> None:
    """Under several processes, fail unless every process holds the same host data ``tree``.

    :func:`shard` fills each process's devices from its own copy of the data,
    so processes that read different tables (another file, another row order)
    would silently fit a mix of both. One CRC of every leaf is compared across
    processes (one small collective per call).
    """
    from jax.experimental import multihost_utils

    crc = 0
    for leaf in jax.tree_util.tree_leaves(tree):
        crc = zlib.crc32(np.ascontiguousarray(np.asarray(leaf)).tobytes(), crc)
    try:
        multihost_utils.assert_equal(np.array([crc], np.int64), "bayescale: processes hold different data")
    except AssertionError as err:
        raise ValueError(
            "under jax.distributed every process must fit the same table (same rows, same order): the data "
            f"of this call differ between processes ({err})"
        ) from None


def gather(tree: Any) -> Any:
    """Bring (possibly sharded, possibly multi-process) arrays back to host numpy arrays.

    A global array that spans several processes is gathered with
    ``process_allgather`` (every process gets the whole array); an array that
    this process holds whole (a single-device computation) is only copied to
    the host: ``process_allgather`` would stack every process's copy of it.
    """
    def get(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(a, tiled=True))
        return np.asarray(a)

    return jax.tree_util.tree_map(get, tree)
