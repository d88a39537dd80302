"""What every engine returns, and the mode-finding step they share.

An engine is a module with a ``Settings`` NamedTuple and
``run(problem, settings, batch, keys) -> Draws``: a pure, jitted function of a
:class:`~bayescale._src.model.problem.Problem` and a batch of units of data (leading
axis ``units``: curves, or one pooled table), with one PRNG key per unit.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayescale._src.engines import newton
from bayescale._src.model.problem import Problem


class Draws(NamedTuple):
    """Unconstrained draws and what the engine knows about them.

    Attributes
    ----------
    z
        Positions ``[units, chains, draws, dim]`` in the problem's flat unconstrained space.
    stats
        Per-draw statistics ``{name: [units, chains, draws]}`` (empty for engines without any).
    mode
        The posterior mode of each unit ``[units, dim]``.
    mode_ok
        False where the Hessian at the mode is not positive-definite.
    unit_stats
        Per-unit statistics ``{name: [units]}`` (e.g. the Pareto ``k`` of importance
        sampling, the engine that served each unit); empty for engines without any.
    """

    z: jax.Array
    stats: dict[str, jax.Array]
    mode: jax.Array
    mode_ok: jax.Array
    unit_stats: dict[str, jax.Array] = {}


MAX_MODES = 2  # distinct end points kept per unit, each a component of the first importance proposal (4 cost 50%
# more time on 2,000 curves of 12 points and covered mmf's x0 no better: 0.805 against 0.795, importance alone)
DISTINCT = 0.5  # two end points are distinct when a coordinate differs by more (the sampler's unconstrained units)


class Modes(NamedTuple):
    """The best distinct end points of a multi-start optimization, best first: ``z [k, dim]``,
    ``potential [k]``, ``hessian [k, dim, dim]``, and ``found [k]``, False in the slots no end point filled."""

    z: jax.Array
    potential: jax.Array
    hessian: jax.Array
    found: jax.Array


class Mode(NamedTuple):
    """The best end point of a multi-start optimization of one unit, and the other local modes it found."""

    z: jax.Array
    potential: jax.Array
    grad_norm: jax.Array
    hessian: jax.Array
    others: Modes


def find_mode(problem: Problem, key, data, num_starts: int, num_steps: int) -> Mode:
    """Multi-start damped Newton on the potential of one unit; keeps the best finite end point, and with it the
    best ``MAX_MODES`` end points that differ from every better one by more than ``DISTINCT`` in some coordinate
    (:class:`Modes`; the first is the best).

    The ``num_starts`` starts are ``problem.init``'s; a problem with a pilot
    (:class:`~bayescale._src.model.problem.Pilot`) runs them on the pilot
    instead and continues from there (:func:`piloted_mode`).
    """
    if problem.pilot is not None:
        return piloted_mode(problem, key, data, num_starts, num_steps)
    return best_end(problem, data, problem.init(key, data, num_starts), num_steps)


def best_end(problem: Problem, data, starts, num_steps: int) -> Mode:
    """Damped Newton from each of ``starts [k, dim]`` (vmapped); the best end point and the distinct ones."""
    runs = jax.vmap(lambda z0: newton.minimize(None, z0, num_steps, local=local_model(problem, data)))(starts)
    value = jnp.where(jnp.isfinite(runs.value), runs.value, jnp.inf)
    best = jnp.argmin(value)
    return Mode(runs.z[best], runs.value[best], runs.grad_norm[best], runs.hessian[best],
                distinct_modes(runs.z, value, runs.hessian))


def local_model(problem: Problem, data) -> newton.LocalModel:
    """The value, gradient and Hessian of the potential of one unit, by the problem's mode of derivatives."""
    def objective(z):
        return problem.potential(z, data)

    return newton.forward(objective) if problem.forward else newton.exact(objective)


PILOT_STARTS = 2  # starts of a piloted problem's own search: the best candidate, and the best of another basin
FAR = 2.0  # candidates of one pilot end point are of another basin when a coordinate differs by more


def piloted_mode(problem: Problem, key, data, num_starts: int, num_steps: int) -> Mode:
    """The mode of a problem whose pilot (a cheaper model of the same data) finds where its search starts.

    1. The pilot's multi-start search (:func:`find_mode`, ``num_starts``
       starts) gives its best ``MAX_MODES`` distinct end points.
    2. Each is lifted to candidate starts of the problem (``pilot.lift``), and
       the problem's potential is evaluated at every candidate (no derivatives:
       cheap even where derivatives are not).
    3. Damped Newton on the problem itself from ``PILOT_STARTS`` candidates:
       the best, and the best of another basin (lifted from another pilot end
       point, or differing from the best by more than ``FAR`` in some
       coordinate, e.g. a correlation length 10x longer or shorter), so that a
       second mode of the problem that the pilot cannot see still gets a start.

    For checkpoints of runs (:mod:`bayescale._src.model.runs`) the pilot is the
    model of independent points, and the run-aware search from the lifted
    starts is done after 6-8 steps. Measured on a 2-core CPU: 3 runs x 100
    checkpoints, 0.10-0.25 s against 0.69-1.65 s for 16 random starts of the
    run-aware model, side by side, at the same mode (to 3e-9); 3 runs x 800,
    the pilot 0.26 s and the run-aware Newton steps 0.2 s of the search's
    0.78 s (benchmarks/README.md, ``bench_runs.py``).
    """
    pilot = problem.pilot
    found = find_mode(pilot.problem, key, pilot.data(data), num_starts, num_steps).others
    candidates = jax.vmap(lambda z: pilot.lift(z, data))(found.z)  # [modes, candidates, dim]
    value = jax.vmap(jax.vmap(lambda z: problem.potential(z, data)))(candidates)
    value = jnp.where(found.found[:, None] & jnp.isfinite(value), value, jnp.inf)
    source = jnp.broadcast_to(jnp.arange(value.shape[0])[:, None], value.shape).ravel()
    candidates, value = candidates.reshape(-1, candidates.shape[-1]), value.ravel()
    starts = [jnp.argmin(value)]
    for _ in range(PILOT_STARTS - 1):
        other = jnp.ones(value.shape, bool)
        for chosen in starts:
            far = jnp.max(jnp.abs(candidates - candidates[chosen]), axis=-1) > FAR
            other &= far | (source != source[chosen])
        masked = jnp.where(other, value, jnp.inf)
        starts.append(jnp.where(jnp.isfinite(masked).any(), jnp.argmin(masked), starts[0]))  # none: the best again
    return best_end(problem, data, candidates[jnp.stack(starts)], num_steps)


def distinct_modes(z, value, hessian) -> Modes:
    """Greedy selection of distinct end points in order of potential (see :func:`find_mode`)."""
    order = jnp.argsort(value, stable=True)
    z, value, hessian = z[order], value[order], hessian[order]
    far = jnp.max(jnp.abs(z[:, None] - z[None]), axis=-1) > DISTINCT

    def keep(chosen, i):
        new = jnp.isfinite(value[i]) & jnp.all(far[i] | ~chosen) & (jnp.sum(chosen) < MAX_MODES)
        return chosen.at[i].set(new), None

    chosen, _ = jax.lax.scan(keep, jnp.zeros(len(value), bool), jnp.arange(len(value)))
    pick = jnp.argsort(~chosen, stable=True)[:MAX_MODES]
    return Modes(z[pick], value[pick], hessian[pick], chosen[pick])


def find_modes(problem: Problem, keys, batch, num_starts: int, num_steps: int) -> Mode:
    """:func:`find_mode` of every unit of ``batch`` (one key per unit)."""
    return jax.vmap(lambda k, d: find_mode(problem, k, d, num_starts, num_steps))(keys, batch)


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def modes(problem: Problem, keys, batch, num_starts: int, num_steps: int) -> Mode:
    """:func:`find_modes` as its own compiled program.

    Every engine starts here, so MAP, Laplace and NUTS fits of one problem
    compile the optimizer (the costliest program to compile) once between them.
    """
    return find_modes(problem, keys, batch, num_starts, num_steps)


@jax.jit
def split_keys(keys) -> jax.Array:
    """Each unit's key split in three: the optimizer's, the initial draws', the chains'."""
    return jax.vmap(lambda k: jax.random.split(k, 3))(keys)


def start(problem: Problem, settings, batch, keys) -> tuple[jax.Array, Mode]:
    """Where every engine begins: each unit's keys split in three (:func:`split_keys`) and its mode
    (:func:`modes`, from the first key, with ``settings.num_starts`` and ``settings.num_steps``)."""
    split = split_keys(keys)
    return split, modes(problem, split[:, 0], batch, settings.num_starts, settings.num_steps)


def missing(dtype) -> object:
    """The value of a statistic where nothing measured it: False, 0, NaN or an empty string."""
    dtype = np.dtype(dtype)
    if dtype == bool:
        return False
    if np.issubdtype(dtype, np.integer):
        return 0
    return "" if dtype.kind in "US" else np.nan
