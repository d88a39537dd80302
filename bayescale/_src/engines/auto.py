"""``auto``: importance-corrected Laplace for every unit, NUTS for the units where it fails.

1. Every unit's mode, as for every engine (:func:`~bayescale._src.engines.base.modes`).
2. Importance sampling from heavy-tailed proposals around the mode, Pareto-smoothed
   (:mod:`bayescale._src.engines.importance`). A unit whose Pareto :math:`\\hat k`
   is at most ``max_pareto_k`` (0.7, the threshold below which PSIS estimates are
   reliable; Vehtari et al. 2024) and whose Hessian at the mode is
   positive-definite keeps these draws: they cost about what the mode costs.
3. The units that fail with a proper mode get a second, longer importance pass
   (``retry_stages`` adaptation stages, ``retry_proposals`` proposals, fresh
   keys): each stage adds a Student-t at the weighted moments of all draws so
   far, so the mixture follows a posterior that curves away from the mode
   (population Monte Carlo; Cappe, Guillin, Marin and Robert 2004). Units whose
   :math:`\\hat k` is then at most ``max_pareto_k`` keep these draws.
4. The other units -- a posterior with heavy or curved tails, several modes, a
   flat direction -- are sampled with NUTS (:mod:`bayescale._src.engines.nuts`)
   in a last batched pass over just those units. Where the multi-start found a
   second local mode (within ``MODE_NATS`` of the best), each chain starts at one
   of the unit's resampled importance draws (of the second pass where it ran):
   approximate posterior draws, so that the chains start in the basins in about
   the proportion of their mass, rather than all at the best mode, from which
   NUTS rarely crosses to another basin (mmf: the NUTS-served data sets covered
   x0 0.70 from the mode, 0.85 from the draws; benchmarks/README.md). Chains that
   do not mix across basins show in ``r_hat``. Elsewhere chains start at draws
   of the Laplace approximation: on a unimodal posterior with a heavy tail,
   chains started at importance draws far out in it adapted their step sizes
   apart and mixed worse (a nearly flat curve: bulk ESS 21 against 302).

For a law whose ``Law.sampler`` is ``"smc"`` (``janoschek``, ``mmf``) every
unit is sampled instead by tempered SMC from the prior
(:mod:`bayescale._src.engines.smc`), which reaches posterior mass far from
every mode the search found (janoschek: a long curved ridge to the power-law
limit of a slow decay). Escalating only the units whose Pareto
:math:`\\hat k` is high does not do: the importance draws that miss this
mass have a low :math:`\\hat k` (janoschek's SBC misses sit at every k; SMC
for the escalated units alone left delta's coverage at 0.830, against 0.865
for every unit; benchmarks/README.md).

Each unit's statistics say which engine served it (``engine``: ``"importance"``,
``"nuts"`` or ``"smc"``), its ``pareto_k`` (of the pass whose draws it kept) and
``importance_stages`` (8, or ``retry_stages`` where the second pass served or
was tried); ``Fit.diagnostics()`` shows them, and the Markov-chain checks
(divergences, r_hat, ESS) apply to the units NUTS served.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from bayescale._src.model import batch as batch_mod
from bayescale._src.engines import importance, nuts, smc
from bayescale._src.engines.base import Draws, missing, start
from bayescale._src.model.problem import Problem, to_device

IMPORTANCE = "importance"
# units per call of the second importance pass: every call is padded to this width (one program per bucket), and a
# fit's chunks of 16 curves (CPU_IMPORTANCE_CHUNK) hold one or two such units on most designs, so 16 paid for 8-16
# idle copies of 24,000 proposals. Measured, auto's second call (benchmarks/README.md): 500 power-law curves
# 21-25 ms per curve at 16, 16-17 at 4, 15.0-15.6 at 2, 14-18 at 1; 200 nearly flat curves 50 at 16, 30 at 2.
RETRY_CHUNK = 2


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
    df: int = 3  # see importance.Settings
    max_pareto_k: float = 0.7
    retry_stages: int = 12  # 0: no second importance pass
    retry_proposals: int = 24000
    sampler: str = "nuts"  # "nuts" for the escalated units, or "smc": tempered SMC for every unit (Law.sampler)


def part(settings: Settings, module):
    """The settings of one of the engines that ``auto`` combines."""
    fields = settings._asdict()
    return module.Settings(**{k: fields[k] for k in module.Settings._fields if k in fields})


def run(problem: Problem, settings: Settings, batch, keys) -> Draws:
    """Importance-corrected Laplace draws, with NUTS draws for the units whose ``pareto_k`` is too high; tempered
    SMC draws of every unit where ``settings.sampler`` is ``"smc"``."""
    if settings.sampler == "smc":
        draws = smc.run(problem, part(settings, smc), batch, keys)
        served = np.full(np.shape(draws.z)[0], "smc")
        return draws._replace(unit_stats={**draws.unit_stats, "engine": served})
    split, mode = start(problem, settings, batch, keys)
    first_settings = part(settings, importance)
    first = importance.reweigh(problem, first_settings, batch, split, mode)
    unit_stats = {name: np.array(values) for name, values in first.unit_stats.items()}
    unit_stats["importance_stages"] = np.full(len(unit_stats["pareto_k"]), first_settings.stages)
    mode_ok = np.asarray(batch_mod.gather(first.mode_ok))
    escalate = ~(unit_stats["pareto_k"] <= settings.max_pareto_k) | ~mode_ok
    z = starts = None
    if escalate.any():
        # the draws on the host, to be replaced where a later pass serves; each chain's first draw is where its
        # NUTS chain may start
        z = np.array(batch_mod.gather(first.z))
        starts = z[:, :, 0].copy()
    if settings.retry_stages and (escalate & mode_ok).any():
        longer = first_settings._replace(stages=settings.retry_stages, proposals=settings.retry_proposals)
        retried = np.flatnonzero(escalate & mode_ok)
        unit_stats["importance_stages"][retried] = settings.retry_stages
        second = retry(problem, longer, batch, split, mode, retried)
        starts[retried] = second["z"][:, :, 0]
        good = second["pareto_k"] <= settings.max_pareto_k
        z[retried[good]] = second["z"][good]
        for name in ("pareto_k", "ess_importance"):
            unit_stats[name][retried[good]] = second[name][good]
        escalate[retried[good]] = False
    unit_stats["engine"] = np.where(escalate, settings.sampler, IMPORTANCE)
    if not escalate.any():
        return first._replace(z=first.z if z is None else z, unit_stats=unit_stats)
    z, stats = escalated(problem, part(settings, nuts)._replace(progress=False), batch, split, mode, z, starts,
                         several_modes(batch_mod.gather(mode.others)), np.flatnonzero(escalate))
    return Draws(z, stats, first.mode, first.mode_ok, unit_stats)


def several_modes(others) -> np.ndarray:
    """Per unit: did the multi-start find a second local mode within ``MODE_NATS`` of the best (``others``: the
    units' :class:`~bayescale._src.engines.base.Modes`, on the host)?"""
    gap = np.asarray(others.potential[:, 1]) - np.asarray(others.potential[:, 0])
    return np.asarray(others.found[:, 1]) & (gap < importance.MODE_NATS)


def retry(problem: Problem, settings: importance.Settings, batch, split, mode, index: np.ndarray) -> dict:
    """A second importance pass over the units ``index`` with fresh proposal keys: ``{"z", "pareto_k",
    "ess_importance"}``, each with a leading axis over ``index`` (repeats of a unit run once, see :func:`distinct`)."""
    source, unique = distinct(split, index)
    points = np.shape(batch.log_y)[-1]
    per_curve = importance.num_proposals(settings) * (problem.dim + points) * 8 * 4
    # one width for every call: a fit compiles this pass once per bucket, however many units fail the first
    width = min(RETRY_CHUNK, batch_mod.auto_chunk_size(per_curve))
    fresh = np.array(batch_mod.gather(split))
    fresh[:, 1] = np.asarray(jax.vmap(lambda k: jax.random.fold_in(k, 1))(fresh[:, 1]))
    parts = []
    for units, sub_batch, sub_split, sub_mode in subsets(batch, fresh, mode, unique, width, fixed=True):
        draws = importance.reweigh(problem, settings, sub_batch, sub_split, sub_mode)
        parts.append({"z": np.asarray(batch_mod.gather(draws.z))[: len(units)],
                      **{name: np.asarray(draws.unit_stats[name])[: len(units)]
                         for name in ("pareto_k", "ess_importance")}})
    at = np.searchsorted(unique, source)
    return {name: np.concatenate([part_[name] for part_ in parts])[at] for name in parts[0]}


def distinct(split, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(source, unique)``: for each unit of ``index`` the first unit with the same keys (the padding of a chunk
    repeats its last curve, key included), and those first units, sorted."""
    host_split = np.asarray(batch_mod.gather(split))
    first_of: dict[bytes, int] = {}
    source = np.array([first_of.setdefault(host_split[i].tobytes(), i) for i in index])
    return source, np.unique(source)


def subsets(batch, split, mode, index: np.ndarray, width: int, fixed: bool = False, extra=None):
    """The units ``index`` as sub-batches ``(units, batch, split, mode)`` of at most ``width`` units, each
    padded (repeating its last unit) to a power of two times the device count so that few programs compile;
    ``fixed``: every sub-batch padded to ``width`` (one program). With ``extra`` (a tree of arrays over all
    units), each sub-batch also has its rows of it."""
    host_batch, host_split, host_mode = batch_mod.gather((batch, split, mode))
    multiple = jax.device_count()
    dtype = host_batch.log_y.dtype
    width = max(1, width if fixed else min(width, len(index)))
    for offset in range(0, len(index), width):
        units = index[offset : offset + width]
        size = width if fixed else 1 << (len(units) - 1).bit_length()
        size = -(-size // multiple) * multiple
        rows = np.concatenate([units, np.repeat(units[-1:], size - len(units))])
        pick = lambda a: np.asarray(a)[rows]  # noqa: E731
        where = batch_mod.mesh()
        sub = (units, batch_mod.shard(to_device(jax.tree_util.tree_map(pick, host_batch), dtype), where),
               batch_mod.shard(host_split[rows], where), batch_mod.shard(jax.tree_util.tree_map(pick, host_mode), where))
        yield sub if extra is None else (*sub, batch_mod.shard(jax.tree_util.tree_map(pick, extra), where))


def escalated(problem: Problem, settings: nuts.Settings, batch, split, mode, z: np.ndarray, starts: np.ndarray,
              start_at: np.ndarray, index: np.ndarray):
    """``z`` with the units ``index`` replaced by NUTS draws, and NUTS's per-draw statistics for every unit;
    ``starts [units, chains, dim]``: where each unit's chains start where ``start_at [units]`` is True (elsewhere
    at draws of the Laplace approximation).

    Units that repeat another (the padding of a chunk repeats its last curve,
    key included) are sampled once. The units run in chunks of at most the
    sampler's chunk size (16 curves on CPU, see
    :func:`~bayescale._src.model.batch.auto_chunk_size`).
    """
    source, unique = distinct(split, index)
    per_curve = settings.chains * (settings.draws + settings.warmup // 8) * (3 * problem.dim + 6) * z.itemsize
    stats: dict[str, np.ndarray] = {}
    width = batch_mod.auto_chunk_size(per_curve, cpu_cap=batch_mod.CPU_NUTS_CHUNK)
    for units, sub_batch, sub_split, sub_mode, (sub_starts, sub_start_at) in subsets(batch, split, mode, unique,
                                                                                      width, extra=(starts, start_at)):
        out = batch_mod.gather(nuts._sample(problem, settings, sub_batch, sub_split, sub_mode, sub_starts, sub_start_at))
        z[units] = out.z[: len(units)]
        for name, values in out.stats.items():
            if name not in stats:
                stats[name] = np.full((z.shape[0], *values.shape[1:]), missing(values.dtype), values.dtype)
            stats[name][units] = values[: len(units)]
    z[index] = z[source]
    for values in stats.values():
        values[index] = values[source]
    return z, stats

