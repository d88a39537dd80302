"""Model discrepancy that grows with the distance from the fitted data.

The bands of a fit describe the uncertainty of a law's parameters, assuming
the law is exactly true. A law is only an approximation, and the error of the
approximation itself grows as one extrapolates further. Following Kennedy and
O'Hagan (2001, "Bayesian calibration of computer models", JRSS B 63(3)),
the truth is the law plus a discrepancy function,

.. math::

    \\ell(x) = \\ell_\\theta(x) + \\delta(x), \\qquad
    \\delta(x) = r\\, d(x)\\, z, \\quad z \\sim \\mathcal N(0, 1), \\quad
    r \\sim \\mathrm{LogNormal}(\\log r_0, s^2),

in the likelihood's space (``\\ell`` is log L for the log-loss likelihoods,
logit L for the bounded ones), where ``d(x)`` is the distance, in decades,
from the fitted data's range of a scale coordinate:

- a one-input law: ``log10 x``;
- a law of ``N`` and ``D``: the log of compute, ``log10 6 N D``;
- another law: the largest distance over its inputs.

and ``sigma`` is the curve's fitted noise scale (each posterior draw's own):
the unit in which the curve shows how well the law follows it. ``d = 0``
inside the fitted range, so the term changes nothing there; one decade beyond
the largest fitted size the law's error has standard deviation ``r sigma``
(median ``r_0 sigma``), three decades beyond ``3 r sigma``. The discrepancy is
one random slope per draw (``z`` is shared by the points of a curve), so a
draw's error is a smooth drift away from the law, not noise.

Scaling by ``sigma`` was chosen by held-out calibration: an absolute rate
(the same for every curve) or one relative to the fitted span cannot serve
curves as different as the 0.05%-noise language-model losses and the
0.5%-noise BIG-Bench error rates at once (benchmarks/README.md).

The fitting data inform ``r`` little (no point lies beyond its own range), so
its prior is its posterior: its default :data:`DEFAULT` was calibrated by
held-out coverage on real curves and checked on others not used for the
calibration (see ``benchmarks/bench_heldout.py`` and ``benchmarks/README.md``).
The simulation-based calibration checks (``bs.sbc``) test the law's
parameters and values without it: ``Fit.predictive_draws`` leaves it out
unless asked.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from bayescale.laws import Law


class Discrepancy(NamedTuple):
    """Prior of the discrepancy rate ``r ~ LogNormal(log rate, spread^2)``, per decade of extrapolation.

    Attributes
    ----------
    rate
        Median of ``r``: the standard deviation of the law's error one decade
        beyond the fitted range, in units of the curve's noise scale
        ``sigma`` (which lives in the likelihood's space: log loss, or logit
        of a bounded metric).
    spread
        Standard deviation of ``log r``: how much ``r`` varies between curves
        (a scale mixture: heavier tails than a normal).
    """

    rate: float = 8.0
    spread: float = 0.5


#: The default, calibrated on the 20 ``revisiting_lang`` curves by held-out MSCE (benchmarks/bench_heldout.py).
DEFAULT = Discrepancy()


def resolve(discrepancy: Any) -> Discrepancy | None:
    """``True`` or ``"default"`` -> :data:`DEFAULT`; ``None`` or ``False`` -> no term; a :class:`Discrepancy` as is."""
    if discrepancy is None or discrepancy is False:
        return None
    if discrepancy is True or (isinstance(discrepancy, str) and discrepancy == "default"):
        return DEFAULT
    if isinstance(discrepancy, Discrepancy):
        if not (np.isfinite(discrepancy.rate) and discrepancy.rate >= 0):
            raise ValueError(f"discrepancy rate must be a finite number >= 0, got {discrepancy.rate!r}")
        if not (np.isfinite(discrepancy.spread) and discrepancy.spread >= 0):
            raise ValueError(f"discrepancy spread must be a finite number >= 0, got {discrepancy.spread!r}")
        return discrepancy
    raise TypeError(
        f"discrepancy must be True, False, None, 'default' or a bs.Discrepancy, got {type(discrepancy).__name__} "
        f"{discrepancy!r}"
    )


def coordinates(law: Law, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """The scale coordinates of points, in decades: ``[..., k]`` (one column, or one per input).

    ``log10 x`` for a one-input law, ``log10 6 N D`` for a law of ``N`` and ``D``
    (compute), else ``log10`` of every input.
    """
    if len(law.inputs) == 1:
        return np.log10(np.asarray(inputs[law.inputs[0]], float))[..., None]
    if {"N", "D"} <= set(law.inputs):
        return np.log10(6.0 * np.asarray(inputs["N"], float) * np.asarray(inputs["D"], float))[..., None]
    return np.stack([np.log10(np.asarray(inputs[k], float)) for k in law.inputs], axis=-1)


def distances(law: Law, fitted: Mapping[str, np.ndarray], rows: Sequence[np.ndarray],
              new: Mapping[str, np.ndarray]) -> np.ndarray:
    """Decades from each curve's fitted range to each new point: ``[curves, points]``.

    ``fitted`` are the fit's inputs (``rows[c]`` those of curve ``c``); ``new``
    the inputs to predict at, either ``[points]`` (the same for every curve)
    or ``[curves, points]``.
    """
    known = coordinates(law, fitted)
    low = np.stack([known[r].min(axis=0) for r in rows])  # [curves, k]
    high = np.stack([known[r].max(axis=0) for r in rows])
    target = coordinates(law, new)
    if target.ndim == 2:
        target = target[None]
    outside = np.maximum(target - high[:, None, :], 0.0) + np.maximum(low[:, None, :] - target, 0.0)
    return outside.max(axis=-1)


def within_bounds(law: Law, params: Mapping[str, jax.Array], value: jax.Array, shift) -> jax.Array:
    """The values of a bounded law (:attr:`Law.bounds <bayescale.laws.Law>`) moved by the discrepancy ``shift``
    in the logit of their position between the bounds, ``logit((L - lo) / (hi - lo))``: they stay in
    ``[lo, hi]``. ``params`` leaves ``[...]``, ``value`` and ``shift`` ``[..., points]``."""
    lo, hi = (jnp.expand_dims(jnp.asarray(b), -1) if jnp.ndim(b) else b for b in law.bounds(params))
    q = jnp.clip((value - lo) / (hi - lo), 0.0, 1.0)
    moved = jax.nn.sigmoid(jnp.log(q) - jnp.log1p(-q) + shift)
    return jnp.clip(lo + (hi - lo) * moved, lo, hi)


def shifts(discrepancy: Discrepancy, distance: jax.Array, sigma: jax.Array, key: jax.Array) -> jax.Array:
    """Draws of ``delta`` for ``distance [curves, points]`` and noise draws ``sigma [curves, draws]``:
    ``[curves, draws, points]``."""
    k_rate, k_slope = jax.random.split(key)
    # one (rate, slope) per draw index, shared by the curves: a curve's band is then the same alone or in
    # any batch (posterior draws of different curves are independent, so sharing couples nothing)
    shape = (1, sigma.shape[-1])
    rate = discrepancy.rate * jnp.exp(discrepancy.spread * jax.random.normal(k_rate, shape, sigma.dtype))
    slope = rate * sigma * jax.random.normal(k_slope, shape, sigma.dtype)
    return slope[..., None] * distance[:, None, :]
