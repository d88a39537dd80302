r"""End-point coordinates of MMF's bending curve ``c + span / (1 + (x / x0)^delta)``.

The learning-curve family MMF (Domhan, Springenberg & Hutter 2015) falls from
``c + span`` to the floor ``c`` around the bend ``x0``. Under its default
priors (``x0`` log-normal with sd 10 e-folds) most simulated bends lie outside
the observed range, where the data see one side of the curve only: above the
range's top, ``c + span - K x^delta`` (``c + span``, ``K = span x0^-delta``
and ``delta`` pinned; ``c`` against ``span`` not); below its bottom, the
power-law tail ``c + A x^-delta`` (``c``, ``A = span x0^delta`` and ``delta``
pinned; ``x0`` not). In ``(c, span, delta, log x0)`` either ridge is curved
(``log x0 = (log span - log K) / delta``) and cut by ``c > 0``; neither a
Gaussian around the mode nor NUTS covers it (SBC coverage of ``x0`` 0.83
under ``auto``). These coordinates are the quantities each side pins down.
With ``x_lo``, ``x_hi`` the smallest and largest observed inputs,
``s = log x_hi - log x_lo``, ``D = L(x_lo) - L(x_hi)`` the drop over the
range and ``G = L(x_hi) - c`` the curve's height above its floor at ``x_hi``:

.. math::

    w_1 = \log L(x_{hi}), \qquad
    \log(D / r) = a v - b \sqrt{v^2 + 1}, \qquad
    w_3 = \log(\delta - \delta_{min}), \qquad
    w_4 = \mathrm{logit}\,\frac{c}{L(x_{hi})},

with ``r`` the spread of the observed losses and the compressed tail of
:func:`bayescale._src.model.coordinates.ends.log_drop` below it. With
``g(z) = 1 / (1 + e^z)`` and ``z = delta (log x - log x0)``, the ratio
``R = g(z_lo) / g(z_hi) = 1 + D / G`` of the heights above the floor at the
ends is at most ``e^{delta s}``, the ratio of the power-law tail:
``delta_min = log(R) / s`` (``x0 -> 0`` as ``delta -> delta_min``, the way
``E -> 0`` as ``alpha -> alpha_min`` in
:mod:`bayescale._src.model.coordinates.ends`). The floor's share ``w_4`` is
the free direction above the range and ``w_3`` (``~ delta log(x0 / x_lo)``)
the free direction below it, both nearly straight.

Back in natural units, ``c = L(x_hi) sigmoid(w_4)``, ``G = L(x_hi) - c``,

.. math::

    z_{hi} = \log(D / G) - \log(1 - e^{-s e^{w_3}}), \qquad
    \log x_0 = \log x_{hi} - z_{hi} / \delta, \qquad
    \mathrm{span} = G (1 + e^{z_{hi}}),

one-to-one and onto ``(c, span, delta, x0) > 0``. Through
``(L(x_hi), D, c, delta)`` the Jacobian is triangular, and at fixed
``(c, delta)``, ``|d(L(x_hi), D) / d(span, log x0)| = span delta g(z_lo)
g(z_hi) (sigmoid(z_hi) - sigmoid(z_lo))``:

.. math::

    \log\Big|\frac{\partial(c, \mathrm{span}, \delta, x_0)}{\partial w}\Big|
    = 2 w_1 + \log D + \log\frac{d \log D}{d v} + \log\sigma(w_4) + \log\sigma(-w_4) + w_3
      - \log\big(\mathrm{span}\,\delta\, g(z_{lo}) g(z_{hi}) (\sigma(z_{hi}) - \sigma(z_{lo}))\big) + \log x_0,

so the density in these coordinates is the user's prior on ``(c, span,
delta, x0)`` times that factor: the posterior over the natural parameters is
unchanged.

Weibull (``c + span exp(-(x / x0)^delta)``) has the same parameters but not
this map: below its bend it falls faster than any power, so a bend below the
range (most of its prior) leaves a curve flat at ``c`` whose drop is
``e^{-(x_lo / x0)^delta}``, coordinates astronomically far out, where the
reference-scale ``log x0`` stays Gaussian under its prior.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp

from bayescale._src.model.coordinates import CoordinateMap
from bayescale._src.model.coordinates.ends import (Frame, flat_sites, input_frame, log_drop, log_drop_inverse,
                                                   positive_map_applies, record, span)
from bayescale.laws.base import BendEnds

Array = Any
log_sigmoid = jax.nn.log_sigmoid


def site_names(ends: BendEnds) -> tuple[str, ...]:
    """The four sampler coordinates, named after the law's input and parameters."""
    x = ends.input
    return (f"log_law_at_max_{x}", f"scaled_log_drop_over_{x}", f"log_{ends.shape}_excess",
            f"logit_{ends.floor}_share_at_max_{x}")


def applies(spec, given: Mapping[str, Any] | None = None) -> bool:
    """True when ``spec``'s law declares these coordinates, its four priors are positive and none is given."""
    return positive_map_applies(spec, BendEnds, given)


def curve_frame(ends: BendEnds, inputs: Mapping[str, Array], log_y, mask) -> Frame:
    """The :class:`~bayescale._src.model.coordinates.ends.Frame` of one curve: ``log x_lo``, ``log x_hi`` and the
    log of the spread ``max y - min y`` of its observed losses (the drop it resolves)."""
    return input_frame(inputs[ends.input], log_y, mask)


def _log1mexp(t):
    """``log(1 - e^-t)`` for ``t > 0``."""
    return jnp.where(t < 0.693, jnp.log(-jnp.expm1(-t)), jnp.log1p(-jnp.exp(-t)))


def _log_softplus(t):
    """``log(log(1 + e^t))``, without underflow for very negative ``t``."""
    return jnp.where(t < -30.0, t, jnp.log(jax.nn.softplus(jnp.maximum(t, -30.0))))


class Natural(NamedTuple):
    """The natural parameters (``log span``, ``log x0``) and the map's log-Jacobian."""

    floor: Array
    log_span: Array
    shape: Array
    log_size: Array
    log_jacobian: Array


def to_natural(w, frame: Frame) -> Natural:
    """The natural parameters of the coordinates ``w = (w1, v, w3, w4)`` (see the module docstring)."""
    w1, v, w3, w4 = w
    s = span(frame)
    t, log_slope = log_drop(v)
    log_drop_ = frame.log_resolution + t  # log D
    log_gap = w1 + log_sigmoid(-w4)  # log G = log(L(x_hi) - c)
    log_ratio_excess = log_drop_ - log_gap  # log(R - 1)
    excess = jnp.exp(w3)
    shape = jax.nn.softplus(log_ratio_excess) / s + excess  # log R / s + excess
    z_hi = log_ratio_excess - _log1mexp(s * excess)
    z_lo = z_hi - shape * s
    log_g_hi, log_g_lo = -jax.nn.softplus(z_hi), -jax.nn.softplus(z_lo)
    log_span = log_gap - log_g_hi
    log_size = frame.log_hi - z_hi / shape
    # sigmoid(z_hi) - sigmoid(z_lo) = sigmoid(z_hi) sigmoid(-z_lo) (1 - e^(z_lo - z_hi)), z_hi - z_lo = shape s
    log_slope_gap = log_sigmoid(z_hi) + log_sigmoid(-z_lo) + _log1mexp(shape * s)
    levels = 2.0 * w1 + log_drop_ + log_slope + log_sigmoid(w4) + log_sigmoid(-w4) + w3
    bend = log_span + jnp.log(shape) + log_g_lo + log_g_hi + log_slope_gap
    return Natural(jnp.exp(w1 + log_sigmoid(w4)), log_span, shape, log_size, levels - bend + log_size)


def from_natural(floor, span_, shape, size, frame: Frame):
    """The coordinates ``(w1, v, w3, w4)`` of natural parameters: the inverse of :func:`to_natural`."""
    log_size = jnp.log(size)
    z_hi, z_lo = shape * (frame.log_hi - log_size), shape * (frame.log_lo - log_size)
    log_g_hi, log_g_lo = -jax.nn.softplus(z_hi), -jax.nn.softplus(z_lo)
    log_gap = jnp.log(span_) + log_g_hi
    log_drop_ = jnp.log(span_) + log_g_lo + _log1mexp(log_g_lo - log_g_hi)
    # delta - log R / s = (softplus(-z_lo) - softplus(-z_hi)) / s, without the cancellation of a far bend
    high, low = _log_softplus(-z_lo), _log_softplus(-z_hi)
    w3 = high + _log1mexp(high - low) - jnp.log(span(frame))
    w1 = jnp.logaddexp(jnp.log(floor), log_gap)
    return w1, log_drop_inverse(log_drop_ - frame.log_resolution), w3, jnp.log(floor) - log_gap


def sample(spec, inputs: Mapping[str, Array], log_y, mask) -> dict[str, Array]:
    """Sample (inside a NumPyro trace) the four parameters through their coordinates.

    Each coordinate is an improper flat site; one factor adds the user's priors
    on the natural values and the log-Jacobian of the map.
    """
    ends = spec.law.coordinates
    w = flat_sites(site_names(ends))
    n = to_natural(w, curve_frame(ends, inputs, log_y, mask))
    values = {ends.floor: n.floor, ends.span: jnp.exp(n.log_span), ends.shape: n.shape,
              ends.size: jnp.exp(n.log_size)}
    return record(spec.prior_dict, values, n.log_jacobian)


def start_columns(spec, natural: Mapping[str, Array], curve) -> list[Array]:
    """Starting coordinates ``[w1, v, w3, w4]`` (each ``[starts]``) of natural starting values on ``curve``."""
    ends = spec.law.coordinates
    frame = curve_frame(ends, curve.inputs, curve.log_y, curve.mask)
    to_w = jax.vmap(lambda *p: from_natural(*p, frame))
    return list(to_w(*(natural[name] for name in ends.params)))


MAP = CoordinateMap(BendEnds, site_names, applies, sample, start_columns)
