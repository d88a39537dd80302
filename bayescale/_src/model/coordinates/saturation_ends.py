r"""End-point coordinates of a saturating power law, ``A (1/x + gamma)^alpha`` (M3).

Under M3's default priors most simulated curves level off before or inside the
observed range (``gamma x`` large). Over such a curve the data pin down the
level near the largest ``x`` and bound from above the fall over the range;
``alpha``, ``gamma`` and ``A`` then lie on a curved ridge (only
``A gamma^alpha`` and ``alpha / gamma`` are seen), which neither a Gaussian
around the mode nor NUTS in ``(alpha, log gamma, log A)`` covers (SBC
coverage of alpha 0.61 under ``auto`` in those coordinates). As for the ``E + A x^-alpha`` core
(:mod:`bayescale._src.model.coordinates.ends`), these coordinates are what the data pin down.
With ``x_lo``, ``x_hi`` the smallest and largest observed inputs,
``s = log x_hi - log x_lo`` and ``r = log L(x_lo) - log L(x_hi)`` the fall of
the log-law over the range, which lies in ``(0, alpha s)``:

.. math::

    w_1 = \log L(x_{hi}), \qquad
    \log(r / \rho) = a v - b \sqrt{v^2 + 1}, \qquad
    w_3 = \log(\alpha - r / s),

where ``rho`` is the spread ``max log y - min log y`` of the observed losses,
with the compressed tail of :func:`bayescale._src.model.coordinates.ends.log_drop` below it (a
curve flat within its noise bounds ``r`` from above only). Back in natural
units, with ``q = r / alpha`` and ``c = s - q = s e^{w_3} / alpha``
(``c = log((1 + gamma x_hi) / (1 + gamma x_lo))``),

.. math::

    \gamma = \frac{e^c - 1}{x_{hi} (1 - e^{-q})}, \qquad
    \log A = w_1 - \alpha \log(1 / x_{hi} + \gamma),

one-to-one and onto ``(alpha, gamma, A) > 0``. The Jacobian is triangular
through ``(w_1, r, alpha)`` and ``(log A, log gamma, alpha)``:

.. math::

    \log\Big|\frac{\partial(\alpha, \gamma, A)}{\partial(w_1, v, w_3)}\Big|
    = \log r + \log\frac{d \log r}{d v} + w_3 - \log \alpha
      + \log\Big(\frac{1}{1 - e^{-c}} + \frac{1}{e^q - 1}\Big) + \log A + \log \gamma,

so the density in these coordinates is the user's prior on ``(alpha, gamma,
A)`` times that factor: the posterior over the natural parameters is unchanged.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp

from bayescale._src.model.coordinates.ends import (flat_sites, log_drop, log_drop_inverse, log_expm1, observed_range,
                                  positive_map_applies, record, span)
from bayescale.laws.base import SaturationEnds
from bayescale._src.model.coordinates import CoordinateMap

Array = Any


def site_names(ends: SaturationEnds) -> tuple[str, str, str]:
    """The three sampler coordinates, named after the law's input and exponent."""
    return (f"log_law_at_max_{ends.input}", f"scaled_log_fall_over_{ends.input}", f"log_{ends.exponent}_excess")


def applies(spec, given: Mapping[str, Any] | None = None) -> bool:
    """True when ``spec``'s law declares these coordinates, its three priors are positive and none is given."""
    return positive_map_applies(spec, SaturationEnds, given)


class Frame(NamedTuple):
    """What the map needs of one curve: ``log x_lo``, ``log x_hi`` and the log of the fall it resolves."""

    log_lo: Array
    log_hi: Array
    log_resolution: Array


def curve_frame(ends: SaturationEnds, inputs: Mapping[str, Array], log_y, mask) -> Frame:
    """The :class:`Frame` of one curve: the resolution is the spread of the observed log losses (floor 1e-3)."""
    log_x = jnp.log(inputs[ends.input])
    low, high = observed_range(log_y, mask)
    return Frame(jnp.min(log_x, axis=-1), jnp.max(log_x, axis=-1), jnp.log(jnp.maximum(high - low, 1e-3)))


def _log1mexp(t):
    """``log(1 - e^-t)`` for ``t > 0``."""
    return jnp.where(t < 0.693, jnp.log(-jnp.expm1(-t)), jnp.log1p(-jnp.exp(-t)))


def to_natural(w, frame: Frame):
    """``(alpha, log gamma, log A, log |d(alpha, gamma, A)/dw|)`` from the coordinates ``w = (w1, v, w3)``."""
    w1, v, w3 = w
    s = span(frame)
    t, log_slope = log_drop(v)
    log_fall = frame.log_resolution + t
    fall = jnp.exp(log_fall)
    alpha = fall / s + jnp.exp(w3)
    c = s * jnp.exp(w3) / alpha  # = s - fall / alpha, without the cancellation when fall / alpha is near s
    q = fall / alpha
    log_gamma = log_expm1(c) - frame.log_hi - _log1mexp(q)
    log_amplitude = w1 - alpha * jnp.logaddexp(-frame.log_hi, log_gamma)
    log_jacobian = (log_fall + log_slope + w3 - jnp.log(alpha) + jnp.logaddexp(-_log1mexp(c), -log_expm1(q))
                    + log_amplitude + log_gamma)
    return alpha, log_gamma, log_amplitude, log_jacobian


def from_natural(alpha, gamma, amplitude, frame: Frame):
    """The coordinates ``(w1, v, w3)`` of natural ``(alpha, gamma, A)``: the inverse of :func:`to_natural`."""
    s = span(frame)
    log_gamma = jnp.log(gamma)
    w1 = jnp.log(amplitude) + alpha * jnp.logaddexp(-frame.log_hi, log_gamma)
    # q from the two log-terms (exact when the curve saturates), c from log1p (exact when it does not)
    q = jnp.logaddexp(-frame.log_lo, log_gamma) - jnp.logaddexp(-frame.log_hi, log_gamma)
    c = jax.nn.softplus(log_gamma + frame.log_hi) - jax.nn.softplus(log_gamma + frame.log_lo)
    v = log_drop_inverse(jnp.log(alpha * q) - frame.log_resolution)
    return w1, v, jnp.log(alpha) + jnp.log(c) - jnp.log(s)


def sample(spec, inputs: Mapping[str, Array], log_y, mask) -> dict[str, Array]:
    """Sample (inside a NumPyro trace) the three parameters through their coordinates.

    Each coordinate is an improper flat site; one factor adds the user's priors
    on the natural values and the log-Jacobian of the map.
    """
    ends = spec.law.coordinates
    w = flat_sites(site_names(ends))
    alpha, log_gamma, log_amplitude, log_jacobian = to_natural(w, curve_frame(ends, inputs, log_y, mask))
    values = {ends.exponent: alpha, ends.saturation: jnp.exp(log_gamma), ends.amplitude: jnp.exp(log_amplitude)}
    return record(spec.prior_dict, values, log_jacobian)


def start_columns(spec, natural: Mapping[str, Array], curve) -> list[Array]:
    """Starting coordinates ``[w1, v, w3]`` (each ``[starts]``) of natural starting values on ``curve``."""
    ends = spec.law.coordinates
    frame = curve_frame(ends, curve.inputs, curve.log_y, curve.mask)
    to_w = jax.vmap(lambda alpha, gamma, amplitude: from_natural(alpha, gamma, amplitude, frame))
    return list(to_w(natural[ends.exponent], natural[ends.saturation], natural[ends.amplitude]))


MAP = CoordinateMap(SaturationEnds, site_names, applies, sample, start_columns)
