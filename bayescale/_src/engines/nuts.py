"""NUTS over a batch of units and chains in one compiled call.

NumPyro's functional NUTS (``numpyro.infer.hmc.hmc``) is vmapped over chains
and then over units; warmup (dual-averaging step size, windowed mass-matrix
adaptation; Hoffman and Gelman 2014) and sampling are ``lax.scan`` loops.
Chains start from draws of the Laplace approximation at each unit's MAP (or
from given positions: ``auto`` starts them at its importance draws where the
posterior has several basins), and the
inverse mass matrix starts at the Laplace covariance, so warmup begins with
the right scales.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from numpyro.infer.hmc import hmc

from bayescale._src import progress
from bayescale._src.engines import laplace
from bayescale._src.engines.base import Draws, start
from bayescale._src.model.problem import Problem


class Settings(NamedTuple):
    num_starts: int = 16
    num_steps: int = 60
    chains: int = 4
    draws: int = 1000
    warmup: int = 1000
    target_accept_prob: float = 0.8
    dense_mass: bool = True
    max_tree_depth: int = 10
    progress: bool = False  # compile in progress-bar updates (bayescale._src.progress)


class Chain(NamedTuple):
    """Draws of one chain and the sampler's statistics at each."""

    z: jax.Array
    diverging: jax.Array
    n_steps: jax.Array
    acceptance_rate: jax.Array
    step_size: jax.Array


def run_chain(problem: Problem, settings: Settings, data, z0, key, inverse_mass_matrix) -> Chain:
    """Warmup then sampling of one chain on one unit of data."""
    init_kernel, sample_kernel = hmc(potential_fn=lambda z: problem.potential(z, data), algo="NUTS")
    state = init_kernel(
        z0,
        settings.warmup,
        step_size=0.5,
        inverse_mass_matrix=inverse_mass_matrix,
        dense_mass=settings.dense_mass,
        target_accept_prob=settings.target_accept_prob,
        max_tree_depth=settings.max_tree_depth,
        rng_key=key,
    )
    warmup, samples = settings.warmup, settings.draws

    def warm(s, step):
        if settings.progress:
            progress.report_step(step, warmup)
        return sample_kernel(s), None

    def draw(s, step):
        if settings.progress:
            progress.report_step(step, samples, phase_offset=warmup)
        s = sample_kernel(s)
        return s, Chain(s.z, s.diverging, s.num_steps, s.accept_prob, s.adapt_state.step_size)

    # the step counters are unbatched constants, so under vmap the callback runs once per step
    warm_steps, draw_steps = (jnp.arange(warmup), jnp.arange(samples)) if settings.progress else (None, None)
    state, _ = jax.lax.scan(warm, state, warm_steps, length=warmup)
    _, out = jax.lax.scan(draw, state, draw_steps, length=samples)
    return out


def run(problem: Problem, settings: Settings, batch, keys) -> Draws:
    """NUTS for every unit and chain, started from the Laplace approximation at each unit's mode."""
    split, mode = start(problem, settings, batch, keys)
    return _sample(problem, settings, batch, split, mode)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _sample(problem: Problem, settings: Settings, batch, split, mode, z0=None, start_at_z0=None) -> Draws:
    """Chains start from draws of the Laplace approximation, or from ``z0 [units, chains, dim]`` in the units
    where ``start_at_z0 [units]`` is True."""
    cov, ok = laplace.covariance(mode.hessian)
    chains = settings.chains
    laplace_starts = jax.vmap(lambda k, m, c: laplace.sample(k, m, c, chains))(split[:, 1], mode.z, cov)
    z0 = laplace_starts if z0 is None else jnp.where(start_at_z0[:, None, None], z0, laplace_starts)
    chain_keys = jax.vmap(lambda k: jax.random.split(k, chains))(split[:, 2])
    imm = cov if settings.dense_mass else jnp.diagonal(cov, axis1=-2, axis2=-1)
    per_chain = jax.vmap(lambda d, z, k, m: run_chain(problem, settings, d, z, k, m), in_axes=(None, 0, 0, None))
    out = jax.vmap(per_chain)(batch, z0, chain_keys, imm)
    stats = {k: v for k, v in out._asdict().items() if k != "z"}
    return Draws(out.z, stats, mode.z, ok)
