"""NUTS over a batch of curves and chains in one compiled call.

NumPyro's functional NUTS (``numpyro.infer.hmc.hmc`` with a
``potential_fn_gen``) is vmapped over chains and then over curves; warmup
(dual-averaging step size, windowed mass-matrix adaptation; Hoffman and
Gelman 2014) and sampling are ``lax.scan`` loops. Chains start from draws of
the Laplace approximation at each curve's MAP, and the inverse mass matrix
starts at its covariance, so warmup begins with the right scales.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from numpyro.infer.hmc import hmc

from bayescale._src import progress
from bayescale._src.data import CurveBatch
from bayescale._src.engines.problem import Problem, curve_args


class NutsSettings(NamedTuple):
    num_warmup: int = 1000
    num_samples: int = 1000
    num_chains: int = 4
    target_accept_prob: float = 0.8
    max_tree_depth: int = 10
    dense_mass: bool = False
    progress: bool = False  # compile in progress-bar updates (bayescale._src.progress)


class NutsDraws(NamedTuple):
    """Unconstrained draws ``z [curves, chains, draws, sites]`` and per-draw sampler statistics."""

    z: jax.Array
    diverging: jax.Array
    num_steps: jax.Array
    accept_prob: jax.Array
    step_size: jax.Array


def _run_chain(problem: Problem, settings: NutsSettings, curve: CurveBatch, z0, key, inverse_mass_matrix):
    init_kernel, sample_kernel = hmc(potential_fn_gen=problem.potential_gen, algo="NUTS")
    args = curve_args(curve)
    state = init_kernel(
        z0,
        settings.num_warmup,
        step_size=0.5,
        inverse_mass_matrix=inverse_mass_matrix,
        dense_mass=settings.dense_mass,
        target_accept_prob=settings.target_accept_prob,
        max_tree_depth=settings.max_tree_depth,
        model_args=args,
        rng_key=key,
    )

    warmup, samples = settings.num_warmup, settings.num_samples

    def warm(s, step):
        if settings.progress:
            progress.report_step(step, warmup)
        return sample_kernel(s, model_args=args), None

    def draw(s, step):
        if settings.progress:
            progress.report_step(step, samples, phase_offset=warmup)
        s = sample_kernel(s, model_args=args)
        return s, (s.z, s.diverging, s.num_steps, s.accept_prob, s.adapt_state.step_size)

    # the step counters are unbatched constants, so under vmap the callback runs once per step
    warm_steps, draw_steps = (jnp.arange(warmup), jnp.arange(samples)) if settings.progress else (None, None)
    state, _ = jax.lax.scan(warm, state, warm_steps, length=warmup)
    _, out = jax.lax.scan(draw, state, draw_steps, length=samples)
    return NutsDraws(*out)


@functools.partial(jax.jit, static_argnums=(0, 1))
def sample(problem: Problem, settings: NutsSettings, batch: CurveBatch, z0, keys, inverse_mass_matrix) -> NutsDraws:
    """Run NUTS for every curve and chain.

    Parameters
    ----------
    batch
        Curves, leading axis ``curves``.
    z0
        Initial points ``[curves, chains, sites]``.
    keys
        PRNG keys ``[curves, chains]``.
    inverse_mass_matrix
        Initial inverse mass matrix per curve: ``[curves, sites]`` (diagonal) or
        ``[curves, sites, sites]`` (dense).
    """
    per_chain = jax.vmap(
        lambda c, z, k, m: _run_chain(problem, settings, c, z, k, m), in_axes=(None, 0, 0, None)
    )
    return jax.vmap(per_chain)(batch, z0, keys, inverse_mass_matrix)

