"""Laplace approximation: a Gaussian at the MAP in the unconstrained coordinates.

.. math:: z \\sim \\mathcal N\\big(\\hat z,\\; H(\\hat z)^{-1}\\big)

where ``H`` is the Hessian of the potential (the negative log joint) at the mode
``hat z``. Draws are mapped through the constraining transforms, so a positive
parameter's approximate posterior is log-normal (MacKay 2003, ch. 27).

A draw far in the Gaussian's tail can map to natural values that float64
cannot hold: on a curve of two or three points the prior-dominated directions
are wide, and an amplitude ``A = exp(log A)`` with ``log A > 709`` is infinite
(``pow4``'s ``a`` when its shift ``x0`` runs far beyond the data, ``bnsl``'s
``A``), and one with ``log A < -745`` is 0 (``m3``'s ``A`` at a huge exponent);
the law's value is then ``inf * 0 = NaN``. Such a draw has zero posterior
density (the prior of an infinite or zero amplitude is zero), so the
approximation is the Gaussian restricted to the draws whose every site and
potential is finite: those that are not are drawn again (up to ``REDRAWS`` rounds; any still
left take the place of a finite draw of the same curve, or of the mode). The
share of the first draws that were not finite is the unit statistic
``nonfinite_share``; a fit warns about the curves where it is not zero
(:func:`bayescale._src.fit.diagnostics.check_nonfinite`).

Whether the Gaussian is close enough to the posterior is checked on its own
draws. The potential ``U`` is evaluated at every first draw anyway (to find the
ones that are not finite), so the log importance ratios
:math:`\\log w_i = -U(z_i) - \\log q(z_i)` of the Gaussian ``q`` cost one sum of
squares more; the Pareto shape :math:`\\hat k` fitted to their largest values
(PSIS, :func:`bayescale._src.engines.psis.smooth`; Vehtari, Simpson, Gelman,
Yao and Gabry 2024, "Pareto smoothed importance sampling", JMLR) is the unit
statistic ``pareto_k``. Above 0.7 the posterior has mass where the Gaussian has
almost none, and expectations under the Gaussian are not the posterior's (Yao,
Vehtari, Simpson and Gelman 2018, "Yes, but did it work?: evaluating variational
inference", ICML); a fit warns about those curves
(:func:`bayescale._src.fit.diagnostics.check_importance`). The draws themselves
are not reweighted: ``method="auto"`` does that.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayescale._src.engines import psis
from bayescale._src.engines.base import Draws, start
from bayescale._src.model import batch as batch_mod
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
    return _sample(key, mode, cov, num_draws)[0]


def _sample(key, mode: jax.Array, cov: jax.Array, num_draws: int) -> tuple[jax.Array, jax.Array]:
    """Draws ``z [num_draws, dim]`` of ``N(mode, cov)`` and their log density up to a constant,
    :math:`-\\tfrac12 \\lVert \\epsilon \\rVert^2` for :math:`z = \\hat z + L \\epsilon`."""
    chol = jnp.linalg.cholesky(cov)
    eps = jax.random.normal(key, (num_draws, mode.shape[-1]), dtype=mode.dtype)
    return mode + eps @ chol.T, -0.5 * jnp.sum(eps**2, axis=-1)


REDRAWS = 8  # rounds of fresh draws for the slots whose natural values are not finite


def run(problem: Problem, settings: Settings, batch, keys) -> Draws:
    """``settings.draws`` independent draws of the Gaussian at each unit's mode, as one chain (every one
    finite in natural units, see the module docstring), with each unit's ``nonfinite_share`` and ``pareto_k``."""
    split, mode = start(problem, settings, batch, keys)
    draws, log_ratio = _draws(problem, settings.draws, mode, split[:, 1], batch)
    _, pareto_k = psis.smooth(batch_mod.gather(log_ratio))
    return draws._replace(unit_stats={**draws.unit_stats, "pareto_k": pareto_k})


@functools.partial(jax.jit, static_argnums=(0, 1))
def _draws(problem: Problem, num_draws: int, mode, keys, batch) -> tuple[Draws, jax.Array]:
    cov, ok = covariance(mode.hessian)
    z, share, log_ratio = jax.vmap(lambda k, m, c, d: finite_sample(problem, k, m, c, num_draws, d))(
        keys, mode.z, cov, batch)
    return Draws(z[:, None], {}, mode.z, ok, {"nonfinite_share": share}), log_ratio


def finite(problem: Problem, z: jax.Array, data) -> jax.Array:
    """``[draws]``: True where every site of ``problem`` at ``z [draws, dim]`` is finite in natural units and the
    potential is finite (an amplitude rounded to 0 is finite but outside its support: ``0 * inf = NaN`` in m3)."""
    return _finite(problem, z, data)[0]


def _finite(problem: Problem, z: jax.Array, data) -> tuple[jax.Array, jax.Array]:
    """:func:`finite` and the potential at ``z`` (``[draws]`` each)."""
    values = jax.vmap(problem.constrain, in_axes=(0, None))(z, data)
    potential = jax.vmap(problem.potential, in_axes=(0, None))(z, data)
    ok = jnp.isfinite(potential)
    for leaf in jax.tree_util.tree_leaves(values):
        if jnp.issubdtype(leaf.dtype, jnp.inexact):
            ok = ok & jnp.all(jnp.isfinite(leaf.reshape(z.shape[0], -1)), axis=1)
    return ok, potential


def finite_sample(problem: Problem, key, mode: jax.Array, cov: jax.Array, num_draws: int, data):
    """``(z [num_draws, dim], share, log_ratio [num_draws])``: draws of ``N(mode, cov)`` restricted to the finite
    natural values, the share of the first draws that were not (see the module docstring), and the log
    importance ratios of the first draws, :math:`-U(z_i) - \\log q(z_i)` up to a constant (:math:`-\\infty`
    where a draw is not finite: zero posterior density), whose Pareto-smoothed shape is ``pareto_k``."""
    z, log_q = _sample(key, mode, cov, num_draws)
    ok, potential = _finite(problem, z, data)
    log_ratio = jnp.where(ok, -potential - log_q, -jnp.inf)

    def redraw(carry):
        r, z, ok = carry
        fresh = sample(jax.random.fold_in(key, r + 1), mode, cov, num_draws)
        fresh_ok = finite(problem, fresh, data)
        keep = ok | ~fresh_ok
        return r + 1, jnp.where(keep[:, None], z, fresh), ok | fresh_ok

    _, z, ok_now = jax.lax.while_loop(lambda c: (c[0] < REDRAWS) & ~jnp.all(c[2]), redraw, (0, z, ok))
    # any slot still not finite takes a finite draw's place (cycling over them), or the mode's if none is
    count = jnp.sum(ok_now)
    order = jnp.argsort(~ok_now, stable=True)
    stand_in = z[order[jnp.arange(num_draws) % jnp.maximum(count, 1)]]
    stand_in = jnp.where(count > 0, stand_in, mode)
    z = jnp.where(ok_now[:, None], z, stand_in)
    return z, jnp.mean(~ok, dtype=mode.dtype), log_ratio
