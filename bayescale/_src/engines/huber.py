"""The Huber objective on log residuals, as a local model for the damped Newton loop.

The objective of Hoffmann et al. (2022, Approach 3) as re-run by Besiroglu
et al. (2024):

.. math:: \\min_\\theta \\sum_i w_i\\, \\rho_\\delta\\big(\\log L(\\theta; x_i) - \\log y_i\\big),
   \\qquad \\rho_\\delta(r) = \\begin{cases} r^2/2 & |r| \\le \\delta \\\\
   \\delta(|r| - \\delta/2) & \\text{otherwise} \\end{cases}

with ``delta = 1e-3`` and ``w_i`` the number of times point ``i`` is drawn
(1 for a plain fit, a multinomial count for a bootstrap resample; so resamples
share one padded batch and one compiled program). It is minimized by the same
damped Newton loop as MAP (:mod:`bayescale._src.engines.newton`), with the
curvature of the iteratively reweighted least-squares form of the Huber loss
(weights ``W = w min(1, delta/|r|)``; Holland and Welsch 1977): the gradient
``J^T W r`` is exact and ``J^T W J`` replaces the Hessian, which makes each step
a Levenberg-Marquardt step. The parameters are the sampler's coordinates (log
scale, amplitudes at the reference size), which keeps the normal equations
well conditioned.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from bayescale._src.model.data import CurveBatch
from bayescale._src.engines import newton
from bayescale._src.model.model import ModelSpec, log_mean, natural_params

HUBER_DELTA = 1e-3
RIDGE = 1e-12  # Marquardt's scaling alone: J^T W J has a positive diagonal


def huber(r, delta):
    a = jnp.abs(r)
    return jnp.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def residual_fn(spec: ModelSpec, curve: CurveBatch) -> Callable[[jax.Array], jax.Array]:
    """``z -> log L(theta(z); x) - log y`` for one curve (padded slots give finite values)."""

    def residuals(z):
        params = natural_params(spec, z, curve.log_refs)
        return log_mean(spec.law, params, curve.inputs) - curve.log_y

    return residuals


def local_model(spec: ModelSpec, curve: CurveBatch, weights, delta: float = HUBER_DELTA) -> newton.LocalModel:
    """Value, exact gradient and IRLS curvature ``J^T W J`` of the Huber objective."""
    residuals = residual_fn(spec, curve)

    def local(z):
        r, jac = residuals(z), jax.jacfwd(residuals)(z)
        w = weights * jnp.minimum(1.0, delta / jnp.maximum(jnp.abs(r), 1e-30))
        jtw = jac.T * w
        value = jnp.sum(weights * huber(r, delta))
        return value, jtw @ r, jtw @ jac

    return local


def minimize(spec: ModelSpec, curve: CurveBatch, z0, weights, num_steps: int = 40, delta: float = HUBER_DELTA):
    """Fixed-step IRLS/LM from ``z0``; returns (z, objective)."""
    info = newton.minimize(None, z0, num_steps, local=local_model(spec, curve, weights, delta), ridge=RIDGE)
    return info.z, info.value
