"""Damped Newton minimization with at most a fixed number of steps, for use under vmap.

Each step solves

.. math:: \\big(|H| + \\lambda (|H| + r I)\\big)\\, \\delta = -g, \\qquad
          |H| = V |\\Lambda| V^T \\ \\text{for}\\ H = V \\Lambda V^T,

in the eigenbasis of ``H``, and keeps the step only if the objective
decreases; ``lambda`` shrinks after an accepted step and grows after a
rejected one (Levenberg 1944; Marquardt 1963; here on a general curvature
matrix rather than J^T J, and scaled by ``|H|`` itself rather than its
diagonal). Where ``H`` is indefinite (a saddle, or the curved ridges of broken
and saturating laws), ``|H|`` turns ascent directions of the quadratic model
into descent ones instead of waiting for ``lambda`` to outgrow the negative
curvature (the saddle-free Newton step of Dauphin et al. 2014, "Identifying
and attacking the saddle point problem", NeurIPS); where ``H`` is
positive-definite, ``|H| = H``. Measured on 150 curves simulated from each
law's default priors, the best of 16 starts after 60 steps fell short of the
best mode found on 10 curves (bnsl), 8 (bnsl2), 4 (bnsl3), 6 (janoschek) and
2 (exp4), against 22, 30, 15, 11 and 13 when solving with ``H`` and its
diagonal, which 200 steps did not change; m4 (5 against 3) and
data_constrained (4 against 0) lost a little (benchmarks/README.md).

``H`` is the exact Hessian by default (MAP: problems here have a handful of parameters, so it is
cheap); an objective may supply its own curvature instead, as the Huber
objective does with its iteratively reweighted Gauss-Newton matrix
(:mod:`bayescale._src.engines.huber`).

A run is *done* once it stands at a minimum to within ``1e-10`` nats: the
Hessian is positive-definite and half the Newton decrement
:math:`\\tfrac12 g^T H^{-1} g` (the decrease that a full Newton step would
give; Boyd and Vandenberghe 2004, section 9.5) is below that; or once
rejected steps have raised the damping to ``1e8``; or when its start
has no finite objective. Under ``vmap`` the loop runs until every run of the
batch is done or ``num_steps`` steps have passed, finished runs frozen:
measured on power-law curves, the 16 starts of a chunk of 16 curves were all
done after 32-44 of the 60 steps; a saddle (indefinite Hessian) never counts as
done, so a run beside one keeps stepping away from it.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

# smallest |eigenvalue| of the curvature a step divides by
EIGEN_FLOOR = 1e-8
DECREMENT = 1e-10  # a run is at its minimum when a full Newton step would gain less than this (nats)
STUCK = 1e8  # ... or when rejected steps have raised the damping this far

# local(z) -> (value, gradient, curvature matrix) of the objective at z
LocalModel = Callable[[jax.Array], tuple[jax.Array, jax.Array, jax.Array]]


class NewtonState(NamedTuple):
    z: jax.Array
    value: jax.Array
    grad: jax.Array
    hessian: jax.Array
    damping: jax.Array
    done: jax.Array  # no further step can change the run (see the module docstring)


class NewtonInfo(NamedTuple):
    """Result of :func:`minimize`: the final state, how far it is from a stationary point, and the steps taken
    (the evaluation of the start counts as one)."""

    z: jax.Array
    value: jax.Array
    grad_norm: jax.Array
    hessian: jax.Array
    steps: jax.Array


def exact(objective: Callable[[jax.Array], jax.Array]) -> LocalModel:
    """The local model of ``objective`` with its exact gradient and Hessian."""

    def grad_and_value(z):
        value, grad = jax.value_and_grad(objective)(z)
        return grad, (value, grad)

    def local(z):
        # one forward-over-reverse pass gives all three: tracing the gradient apart from the Hessian doubled
        # the program XLA compiles (measured: power_law's MAP program)
        hess, (value, grad) = jax.jacfwd(grad_and_value, has_aux=True)(z)
        return value, grad, hess

    return local


def forward(objective: Callable[[jax.Array], jax.Array]) -> LocalModel:
    """The local model of ``objective`` with its exact gradient and Hessian, by forward mode over forward mode.

    For an objective that is a long sequential ``lax.scan`` (the Kalman filter
    of correlated runs, :mod:`bayescale._src.model.runs`): reverse mode stores
    every step of the scan and runs it again backwards, step by step, while
    forward mode carries the ``dim`` tangents and ``dim^2`` second-order
    tangents along the one forward pass. Measured on one curve of 3 runs x 800
    checkpoints (6 parameters, 2-core CPU): 29 against 48 ms per evaluation at
    one point, 67 against 216 at four (:func:`exact`); the two agree to rounding.
    """

    def value_twice(z):
        value = objective(z)
        return value, value

    def grad_and_value(z):
        grad, value = jax.jacfwd(value_twice, has_aux=True)(z)
        return grad, (value, grad)

    def local(z):
        hess, (value, grad) = jax.jacfwd(grad_and_value, has_aux=True)(z)
        return value, grad, hess

    return local


def _evaluate(local: LocalModel, z):
    value, grad, hess = local(z)
    return jnp.where(jnp.isfinite(value), value, jnp.inf), grad, hess


def init(z: jax.Array, damping: float = 1e-3) -> NewtonState:
    """A state at ``z`` not yet evaluated (value +inf): the first step evaluates ``z`` itself.

    Evaluating inside the loop only, rather than once before it, halves the
    program that XLA compiles (the local model is the bulk of it).
    """
    dim = z.shape[-1]
    return NewtonState(z, jnp.asarray(jnp.inf, z.dtype), jnp.zeros_like(z), jnp.eye(dim, dtype=z.dtype),
                       jnp.asarray(damping, z.dtype), jnp.asarray(False))


def build_kernel(local: LocalModel, ridge: float = 1.0) -> Callable[[NewtonState], NewtonState]:
    """One damped Newton step; ``ridge`` is ``r`` above (it keeps the damped matrix regular)."""

    def kernel(state: NewtonState) -> NewtonState:
        values, vectors = jnp.linalg.eigh(0.5 * (state.hessian + state.hessian.T))
        curvature = jnp.maximum(jnp.abs(values), EIGEN_FLOOR)
        projected = vectors.T @ state.grad
        # (|H| + lambda (|H| + r I))^-1 g in the eigenbasis of H: no other factorization
        step = -vectors @ (projected / (curvature * (1.0 + state.damping) + state.damping * ridge))
        at_minimum = (jnp.all(values > 0) & jnp.isfinite(state.value)
                      & (0.5 * jnp.sum(projected**2 / curvature) < DECREMENT))
        # an unevaluated state (value +inf) steps nowhere: its first step evaluates the start
        step = jnp.where(jnp.all(jnp.isfinite(step)) & jnp.isfinite(state.value), step, 0.0)
        candidate = state.z + step
        value, grad, hess = _evaluate(local, candidate)
        better = (value < state.value) & jnp.all(jnp.isfinite(grad)) & jnp.all(jnp.isfinite(hess))
        pick = lambda new, old: jnp.where(better, new, old)  # noqa: E731
        evaluated = jnp.isfinite(state.value)
        damping = jnp.where(evaluated, jnp.where(better, state.damping * 0.3, state.damping * 10.0), state.damping)
        damping = jnp.clip(damping, 1e-12, 1e12)
        new_value = pick(value, state.value)
        done = at_minimum | (damping >= STUCK) | ~jnp.isfinite(new_value)  # evaluated and still +inf: a dead start
        return NewtonState(
            pick(candidate, state.z), new_value, pick(grad, state.grad), pick(hess, state.hessian), damping, done
        )

    return kernel


def minimize(objective: Callable | None, z0: jax.Array, num_steps: int = 60, *,
             local: LocalModel | None = None, ridge: float = 1.0) -> NewtonInfo:
    """Minimize ``objective`` from ``z0`` with at most ``num_steps`` damped Newton steps (after evaluating
    ``z0``), fewer once the run is done (see the module docstring).

    Give either ``objective`` (exact derivatives) or ``local`` (a value,
    gradient and curvature of one's own).
    """
    local = local if local is not None else exact(objective)
    kernel = build_kernel(local, ridge)

    def more(carry):
        step, state = carry
        return (step <= num_steps) & ~state.done

    steps, state = jax.lax.while_loop(more, lambda carry: (carry[0] + 1, kernel(carry[1])), (0, init(z0)))
    return NewtonInfo(state.z, state.value, jnp.linalg.norm(state.grad), state.hessian, steps)
