"""MAP: multi-start damped Newton on the posterior potential, vmapped over curves.

The mode is found in the sampler's unconstrained coordinates (log scale for
positive parameters, Jacobians included), the centre of the Laplace
approximation and the natural place to start NUTS. Loss surfaces of joint laws
such as Chinchilla's have poor local minima, so each curve is optimized from
``num_starts`` dispersed starts and the best end point is kept.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayescale._src.data import CurveBatch
from bayescale._src.engines import newton
from bayescale._src.engines.problem import Problem, random_starts


class MapResult(NamedTuple):
    """Per curve: the best mode ``z [curves, sites]``, its potential, gradient norm and Hessian."""

    z: jax.Array
    potential: jax.Array
    grad_norm: jax.Array
    hessian: jax.Array


def fit_curve(problem: Problem, key, curve: CurveBatch, num_starts: int, num_steps: int) -> MapResult:
    """Multi-start MAP of one (unbatched) curve."""
    starts = random_starts(problem, key, curve, num_starts)
    objective = functools.partial(_objective, problem, curve)
    runs = jax.vmap(lambda z0: newton.minimize(objective, z0, num_steps))(starts)
    best = jnp.argmin(jnp.where(jnp.isfinite(runs.value), runs.value, jnp.inf))
    return MapResult(runs.z[best], runs.value[best], runs.grad_norm[best], runs.hessian[best])


def _objective(problem, curve, z):
    return problem.potential(z, curve)


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def fit(problem: Problem, keys, batch: CurveBatch, num_starts: int = 16, num_steps: int = 60) -> MapResult:
    """Multi-start MAP of every curve of ``batch`` in one compiled call (``keys`` has one key per curve)."""
    return jax.vmap(lambda k, c: fit_curve(problem, k, c, num_starts, num_steps))(keys, batch)
