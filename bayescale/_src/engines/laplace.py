"""Laplace approximation: a Gaussian at the MAP in the unconstrained coordinates.

.. math:: z \\sim \\mathcal N\\big(\\hat z,\\; H(\\hat z)^{-1}\\big)

where ``H`` is the Hessian of the potential (the negative log joint) at the mode
``hat z``. Draws are mapped through the constraining transforms, so a positive
parameter's approximate posterior is log-normal (MacKay 2003, ch. 27).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayescale._src.engines.base import Draws, start
from bayescale._src.model.problem import Problem


class Settings(NamedTuple):
    num_starts: int = 16
    num_steps: int = 60
    draws: int = 1000


def covariance(hessian: jax.Array, jitter: float = 1e-9) -> tuple[jax.Array, jax.Array]:
    """Inverse of a (possibly not quite positive-definite) Hessian.

    Returns the covariance and a flag, False where the Hessian was not
    positive-definite at the mode (the mode is then a saddle or the curvature is
    flat in some direction): eigenvalues are floored there and the fit should
    not be trusted.
    """
    sym = 0.5 * (hessian + jnp.swapaxes(hessian, -1, -2))
    vals, vecs = jnp.linalg.eigh(sym)
    ok = jnp.all(vals > 0, axis=-1)
    floor = jitter * jnp.maximum(jnp.max(jnp.abs(vals), axis=-1, keepdims=True), 1.0)
    inv = 1.0 / jnp.maximum(vals, floor)
    cov = jnp.einsum("...ij,...j,...kj->...ik", vecs, inv, vecs)
    return cov, ok


def sample(key, mode: jax.Array, cov: jax.Array, num_draws: int) -> jax.Array:
    """Draws ``[num_draws, dim]`` from ``N(mode, cov)``."""
    chol = jnp.linalg.cholesky(cov)
    eps = jax.random.normal(key, (num_draws, mode.shape[-1]), dtype=mode.dtype)
    return mode + eps @ chol.T


def run(problem: Problem, settings: Settings, batch, keys) -> Draws:
    """``settings.draws`` independent draws of the Gaussian at each unit's mode, as one chain."""
    split, mode = start(problem, settings, batch, keys)
    return _draws(settings.draws, mode, split[:, 1])


@functools.partial(jax.jit, static_argnums=0)
def _draws(num_draws: int, mode, keys) -> Draws:
    cov, ok = covariance(mode.hessian)
    z = jax.vmap(lambda k, m, c: sample(k, m, c, num_draws))(keys, mode.z, cov)
    return Draws(z[:, None], {}, mode.z, ok)
