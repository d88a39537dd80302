"""Damped Newton minimization with a fixed number of steps, for use under vmap.

Each step solves

.. math:: (H + \\lambda (\\operatorname{diag}|H| + I))\\, \\delta = -g

and keeps the step only if the objective decreases; ``lambda`` shrinks after an
accepted step and grows after a rejected one (Levenberg 1944; Marquardt 1963;
here on the Hessian of a general objective rather than J^T J). A fixed step
count and masked updates keep a batch in lock step: under ``vmap`` a
``while_loop`` would run until the slowest member finished. Problems here have
a handful of parameters, so the exact Hessian is cheap.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp


class NewtonState(NamedTuple):
    z: jax.Array
    value: jax.Array
    grad: jax.Array
    hessian: jax.Array
    damping: jax.Array


class NewtonInfo(NamedTuple):
    """Result of :func:`minimize`: the final state and how far it is from a stationary point."""

    z: jax.Array
    value: jax.Array
    grad_norm: jax.Array
    hessian: jax.Array


def init(objective: Callable, z: jax.Array, damping: float = 1e-3) -> NewtonState:
    value, grad, hess = _evaluate(objective, z)
    return NewtonState(z, value, grad, hess, jnp.asarray(damping, z.dtype))


def _evaluate(objective, z):
    value, grad = jax.value_and_grad(objective)(z)
    hess = jax.hessian(objective)(z)
    value = jnp.where(jnp.isfinite(value), value, jnp.inf)
    return value, grad, hess


def build_kernel(objective: Callable) -> Callable[[NewtonState], NewtonState]:
    """One damped Newton step on ``objective`` (a scalar function of a flat vector)."""

    def kernel(state: NewtonState) -> NewtonState:
        eye = jnp.eye(state.z.shape[-1], dtype=state.z.dtype)
        scale = jnp.diag(jnp.abs(jnp.diagonal(state.hessian))) + eye
        step = -jnp.linalg.solve(state.hessian + state.damping * scale, state.grad)
        step = jnp.where(jnp.all(jnp.isfinite(step)), step, 0.0)
        candidate = state.z + step
        value, grad, hess = _evaluate(objective, candidate)
        better = (value < state.value) & jnp.all(jnp.isfinite(grad)) & jnp.all(jnp.isfinite(hess))
        pick = lambda new, old: jnp.where(better, new, old)  # noqa: E731
        damping = jnp.clip(jnp.where(better, state.damping * 0.3, state.damping * 10.0), 1e-12, 1e12)
        return NewtonState(
            pick(candidate, state.z), pick(value, state.value), pick(grad, state.grad), pick(hess, state.hessian), damping
        )

    return kernel


def minimize(objective: Callable, z0: jax.Array, num_steps: int = 60) -> NewtonInfo:
    """Minimize ``objective`` from ``z0`` with ``num_steps`` damped Newton steps."""
    kernel = build_kernel(objective)
    state = jax.lax.fori_loop(0, num_steps, lambda _, s: kernel(s), init(objective, z0))
    return NewtonInfo(state.z, state.value, jnp.linalg.norm(state.grad), state.hessian)
