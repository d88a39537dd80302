"""Proper scoring rules of a forecast given as draws: log score, CRPS and interval score.

A forecast is judged by a proper score, one whose expectation is best when the
forecast is the distribution the observation really comes from, so that it
rewards calibration and sharpness together (Gneiting & Raftery 2007, "Strictly
proper scoring rules, prediction, and estimation", JASA 102(477); Gneiting,
Balabdaoui & Raftery 2007, "Probabilistic forecasts, calibration and
sharpness", JRSS B 69(2)). The three here are all negatively oriented except
the log score (higher is better); every one is computed on a scale that does
not depend on the units of the loss, so scores of different curves pool:

- the **log score** is the log predictive density of ``log y`` (the density of
  ``y`` times ``y``);
- the **CRPS** is that of the forecast of ``log y``, in its energy form over
  the ``S`` draws ``x_s`` (Gneiting & Raftery 2007, eq. 21, for the empirical
  distribution of the draws),

  .. math::

      \\mathrm{CRPS}(F, y) = \\frac1S \\sum_s |x_s - y|
          - \\frac1{2 S^2} \\sum_{s, t} |x_s - x_t|;

- the **interval score** of the central ``p`` band ``[l, u]`` (Gneiting &
  Raftery 2007, eq. 43, with ``alpha = 1 - p``), divided by ``y`` (a share of
  the loss),

  .. math::

      \\mathrm{IS}_\\alpha(l, u; y) = (u - l) + \\tfrac2\\alpha (l - y)\\, \\mathbf 1[y < l]
          + \\tfrac2\\alpha (y - u)\\, \\mathbf 1[y > u].

The functions are pure and vectorized over leading axes; the draws are on
axis ``-2`` (``[..., draws, points]``), as ``bs.evaluate`` holds them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def crps(draws: jax.Array, y: jax.Array) -> jax.Array:
    """CRPS of the empirical distribution of ``draws [..., S, M]`` at ``y [..., M]``: ``[..., M]``.

    The energy form (Gneiting & Raftery 2007, eq. 21); the mean pairwise
    distance is computed from the sorted draws in ``O(S log S)``:
    ``sum_{s,t} |x_s - x_t| = 2 sum_i (2 i - S - 1) x_(i)``, ``i = 1..S``.
    """
    draws = jnp.asarray(draws)
    s = draws.shape[-2]
    first = jnp.mean(jnp.abs(draws - y[..., None, :]), axis=-2)
    ordered = jnp.sort(draws, axis=-2)
    rank = jnp.arange(1, s + 1, dtype=draws.dtype)[:, None]
    spread = 2.0 * jnp.sum((2.0 * rank - s - 1.0) * ordered, axis=-2) / s**2
    return first - 0.5 * spread


def interval_score(lower: jax.Array, upper: jax.Array, y: jax.Array, level) -> jax.Array:
    """Interval score of the central ``level`` band ``[lower, upper]`` at ``y`` (Gneiting & Raftery 2007, eq. 43)."""
    alpha = 1.0 - level
    return ((upper - lower) + 2.0 / alpha * jnp.maximum(lower - y, 0.0)
            + 2.0 / alpha * jnp.maximum(y - upper, 0.0))


def mixture_log_density(log_prob: jax.Array, axis: int = -2) -> jax.Array:
    """Log density of an equal-weight mixture from its components' log densities (``logsumexp - log S``)."""
    return jax.scipy.special.logsumexp(log_prob, axis=axis) - np.log(log_prob.shape[axis])


def kde_log_density(draws: jax.Array, y: jax.Array) -> jax.Array:
    """Gaussian kernel density of ``draws [..., S, M]`` at ``y [..., M]``, Silverman's bandwidth.

    ``h = 0.9 min(sd, IQR / 1.34) S^{-1/5}`` (Silverman 1986, "Density
    Estimation", eq. 3.31), floored at ``1e-9 (1 + |median|)`` so that a
    point mass (one draw) gives a finite, terrible score.
    """
    draws = jnp.asarray(draws)
    s = draws.shape[-2]
    sd = jnp.std(draws, axis=-2)
    q25, q50, q75 = jnp.quantile(draws, jnp.asarray([0.25, 0.5, 0.75]), axis=-2)
    spread = jnp.where(q75 > q25, jnp.minimum(sd, (q75 - q25) / 1.34), sd)
    h = jnp.maximum(0.9 * spread * s ** -0.2, 1e-9 * (1.0 + jnp.abs(q50)))
    z = (y[..., None, :] - draws) / h[..., None, :]
    log_kernel = -0.5 * z**2 - 0.5 * np.log(2 * np.pi) - jnp.log(h)[..., None, :]
    return mixture_log_density(log_kernel, axis=-2)
