"""``auto``: importance-corrected Laplace for every unit, NUTS for the units where it fails.

1. Every unit's mode, as for every engine (:func:`~bayescale._src.engines.base.modes`).
2. Importance sampling from heavy-tailed proposals around the mode, Pareto-smoothed
   (:mod:`bayescale._src.engines.importance`). A unit whose Pareto :math:`\\hat k`
   is at most ``max_pareto_k`` (0.7, the threshold below which PSIS estimates are
   reliable; Vehtari et al. 2024) and whose Hessian at the mode is
   positive-definite keeps these draws: they cost about what the mode costs.
3. The other units -- a posterior with heavy or curved tails, several modes, a
   flat direction -- are sampled with NUTS (:mod:`bayescale._src.engines.nuts`)
   in a second batched pass over just those units, started from their modes.

Each unit's statistics say which engine served it (``engine``: ``"importance"``
or ``"nuts"``) and its ``pareto_k``; ``Fit.diagnostics()`` shows both, and the
Markov-chain checks (divergences, r_hat, ESS) apply to the units NUTS served.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from bayescale._src import batch as batch_mod
from bayescale._src.engines import importance, nuts
from bayescale._src.engines.base import Draws, missing, start
from bayescale._src.problem import Problem, to_device

IMPORTANCE, SAMPLER = "importance", "nuts"


class Settings(NamedTuple):
    num_starts: int = 16
    num_steps: int = 60
    chains: int = 4
    draws: int = 1000
    warmup: int = 1000
    target_accept_prob: float = 0.8
    dense_mass: bool = True
    max_tree_depth: int = 10
    progress: bool = False
    proposals: int = 0
    df: int = 5
    max_pareto_k: float = 0.7


def part(settings: Settings, module):
    """The settings of one of the engines that ``auto`` combines."""
    fields = settings._asdict()
    return module.Settings(**{k: fields[k] for k in module.Settings._fields if k in fields})


def run(problem: Problem, settings: Settings, batch, keys) -> Draws:
    """Importance-corrected Laplace draws, with NUTS draws for the units whose ``pareto_k`` is too high."""
    split, mode = start(problem, settings, batch, keys)
    first = importance.reweigh(problem, part(settings, importance), batch, split, mode)
    pareto_k = np.asarray(first.unit_stats["pareto_k"])
    escalate = ~(pareto_k <= settings.max_pareto_k) | ~batch_mod.gather(first.mode_ok)
    served = np.where(escalate, SAMPLER, IMPORTANCE)
    unit_stats = {**first.unit_stats, "engine": served}
    if not escalate.any():
        return first._replace(unit_stats=unit_stats)
    z, stats = escalated(problem, part(settings, nuts)._replace(progress=False), batch, split, mode,
                         np.array(batch_mod.gather(first.z)), np.flatnonzero(escalate))
    return Draws(z, stats, first.mode, first.mode_ok, unit_stats)


def escalated(problem: Problem, settings: nuts.Settings, batch, split, mode, z: np.ndarray, index: np.ndarray):
    """``z`` with the units ``index`` replaced by NUTS draws, and NUTS's per-draw statistics for every unit.

    Units that repeat another (the padding of a chunk repeats its last curve,
    key included) are sampled once. The units run in chunks of at most the
    sampler's chunk size (16 curves on CPU, see
    :func:`~bayescale._src.batch.auto_chunk_size`), each padded to a power of
    two so that few programs are compiled.
    """
    host = batch_mod.gather((batch, split, mode))
    host_batch, host_split, host_mode = host
    first_of: dict[bytes, int] = {}
    source = np.array([first_of.setdefault(host_split[i].tobytes(), i) for i in index])
    unique = np.unique(source)
    per_curve = settings.chains * (settings.draws + settings.warmup // 8) * (3 * problem.dim + 6) * z.itemsize
    width = max(1, min(batch_mod.auto_chunk_size(per_curve, lockstep=True), len(unique)))
    multiple = jax.device_count()
    stats: dict[str, np.ndarray] = {}
    dtype = host_batch.log_y.dtype
    for offset in range(0, len(unique), width):
        units = unique[offset : offset + width]
        size = 1 << (len(units) - 1).bit_length()
        size = -(-size // multiple) * multiple
        rows = np.concatenate([units, np.repeat(units[-1:], size - len(units))])
        pick = lambda a: np.asarray(a)[rows]  # noqa: E731
        where = batch_mod.mesh()
        sub_batch = batch_mod.shard(to_device(jax.tree_util.tree_map(pick, host_batch), dtype), where)
        sub_split = batch_mod.shard(host_split[rows], where)
        sub_mode = batch_mod.shard(jax.tree_util.tree_map(pick, host_mode), where)
        out = batch_mod.gather(nuts._sample(problem, settings, sub_batch, sub_split, sub_mode))
        z[units] = out.z[: len(units)]
        for name, values in out.stats.items():
            if name not in stats:
                stats[name] = np.full((z.shape[0], *values.shape[1:]), missing(values.dtype), values.dtype)
            stats[name][units] = values[: len(units)]
    z[index] = z[source]
    for values in stats.values():
        values[index] = values[source]
    return z, stats

