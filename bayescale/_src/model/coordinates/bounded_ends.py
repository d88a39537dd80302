r"""Level coordinates of a law bounded between two levels, ``(L - E) / (E0 - L)^a = A x^-alpha`` (M4).

M4 (Alabdulmohsin et al. 2022) describes a bounded metric (an error rate) that
leaves a random-guess level ``E0 = E + (1 - E) reach`` and falls towards an
irreducible level ``E``. On most curves the data see one part of that sigmoid
in ``log x``: the level near the largest ``x`` and the fall over the range.
``E``, ``A`` and ``alpha`` then lie on the curved ridge of the nearly flat
``E + A x^-alpha`` (a smaller exponent matched by a larger term and a smaller
``E``; :mod:`bayescale._src.model.coordinates.ends`), and the reference-scale coordinates leave
it to the sampler (under ``auto``, Pareto ``k > 0.7`` on 139 of 200
simulated curves, SBC coverage of ``A`` 0.815). These coordinates are the
levels the data pin down, in the order ``0 < E < L(x_hi) < L(x_lo) < E0 < 1``,
and the exponent's excess over the smallest value those levels allow:

.. math::

    w_1 = \mathrm{logit}\, L(x_{hi}), \qquad
    \mathrm{logit}\,\delta = \log\frac{r}{1 - L(x_{hi})} + (a' v - b' \sqrt{v^2 + 1}), \qquad
    w_3 = \log(\alpha - \alpha_{min}), \qquad
    z_0 = \mathrm{logit}\,\frac{E_0 - L(x_{lo})}{1 - L(x_{lo})}, \qquad
    w_a = \log a,

with ``delta = (L(x_lo) - L(x_hi)) / (1 - L(x_hi))`` the fall ``F`` over the
range as a share of the room above ``L(x_hi)``, ``r`` the spread ``max y -
min y`` of the observed values and the compressed tail of
:func:`bayescale._src.model.coordinates.ends.log_drop` below it (a curve flat within its noise
bounds the fall from above only). With ``t = (L - E) / (E_0 - E)``,
``g(t) = log t - a log(1 - t)`` (so that ``g(t(x)) = log A - alpha log x +
(a - 1) log(E_0 - E)``), ``s = log x_hi - log x_lo`` and ``G = L(x_hi) - E``,

.. math::

    \alpha s = g(t_{lo}) - g(t_{hi}) = \log(1 + F / G) + a \log(1 + F / (E_0 - L(x_{lo}))),

whose first term is at least ``log(1 + F / L(x_hi))`` (``E > 0``): that bound
and the second term make ``alpha_min``. As for the power law's core
(:mod:`bayescale._src.model.coordinates.ends`), the exponent's excess is sampled and ``E``
follows, ``G = F / (e^c - 1)`` with ``c = s e^{w_3} + log(1 + F / L(x_hi))``;
then

.. math::

    \log A = g(t_{hi}) + \alpha \log x_{hi} - (a - 1) \log(E_0 - E), \qquad
    \mathrm{reach} = \frac{E_0 - E}{1 - E},

explicit (no root to solve) and one-to-one onto ``(E, reach) in (0, 1)^2``,
``(alpha, a, A) > 0``. Through the levels ``(E, E_0, L(x_lo), L(x_hi))`` the
Jacobian is block triangular,

.. math::

    \Big|\frac{\partial(E, \mathrm{reach}, \alpha, \log A)}{\partial(E, E_0, L(x_{lo}), L(x_{hi}))}\Big|
    = \frac{g'(t_{lo})\, g'(t_{hi})}{(1 - E)(E_0 - E)^2 s}, \qquad g'(t) = \frac{1}{t} + \frac{a}{1 - t},

and the levels follow from the coordinates triangularly (``L(x_hi)``, ``L(x_lo)``,
``E_0``, ``a``, then ``E`` with ``|dE/dw_3| = G e^c s e^{w_3} / (e^c - 1)``),
so the density in these coordinates is the user's prior on ``(E, reach,
alpha, a, A)`` times those factors: the posterior over the natural parameters
is unchanged. Every difference of levels is formed as a sum of positive parts,
so a curve close to either level keeps its precision.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
from numpyro.distributions import constraints

from bayescale._src.model.coordinates.ends import (Frame, flat_sites, free_declaration, input_frame, log_drop, log_drop_inverse,
                                  log_expm1, record, span)
from bayescale.laws.base import BoundedEnds
from bayescale.laws.saturating import solve_logit  # the law's own root, so both directions agree
from bayescale._src.model.coordinates import CoordinateMap

Array = Any
log_sigmoid = jax.nn.log_sigmoid


def site_names(ends: BoundedEnds) -> tuple[str, ...]:
    """The five sampler coordinates, named after the law's input and parameters."""
    x = ends.input
    return (f"logit_law_at_max_{x}", f"scaled_logit_fall_over_{x}", f"log_{ends.exponent}_excess",
            f"logit_{ends.reach}_headroom", f"log_{ends.shape}")


def _unit_interval(support) -> bool:
    """True for ``(0, 1)`` supports: ``Uniform(0, 1)``'s interval as well as ``constraints.unit_interval``."""
    if support.is_discrete or support.event_dim:
        return False
    lower, upper = getattr(support, "lower_bound", None), getattr(support, "upper_bound", None)
    return lower is not None and upper is not None and float(lower) == 0.0 and float(upper) == 1.0


def applies(spec, given: Mapping[str, Any] | None = None) -> bool:
    """True when ``spec``'s law declares these coordinates, none of its parameters is given, the two levels'
    priors live on ``(0, 1)`` and the other three's on the positive line."""
    ends = free_declaration(spec, BoundedEnds, given)
    if ends is None:
        return False
    priors = spec.prior_dict
    positive = (ends.exponent, ends.shape, ends.amplitude)
    return (all(_unit_interval(priors[name].support) for name in (ends.irreducible, ends.reach))
            and all(priors[name].support is constraints.positive for name in positive))


def curve_frame(ends: BoundedEnds, inputs: Mapping[str, Array], log_y, mask) -> Frame:
    """The :class:`~bayescale._src.model.coordinates.ends.Frame` of one curve: ``log x_lo``, ``log x_hi`` and the log of the
    spread ``max y - min y`` of its observed values (the fall it resolves)."""
    return input_frame(inputs[ends.input], log_y, mask)


class Natural(NamedTuple):
    """The natural parameters (``log A`` for the amplitude) and the map's log-Jacobian."""

    irreducible: Array
    reach: Array
    exponent: Array
    shape: Array
    log_amplitude: Array
    log_jacobian: Array


def _log_g_slope(log_t, log_rest, shape):
    """``log g'(t) = log(1/t + a/(1 - t))`` from ``log t`` and ``log(1 - t)``."""
    return jnp.logaddexp(-log_t, jnp.log(shape) - log_rest)


def _log_softplus(t):
    """``log(log(1 + e^t))``, without underflow for very negative ``t``."""
    return jnp.where(t < -30.0, t, jnp.log(jax.nn.softplus(jnp.maximum(t, -30.0))))


def to_natural(w, frame: Frame) -> Natural:
    """The natural parameters of the coordinates ``w = (w1, v, w3, z0, w_a)`` (see the module docstring)."""
    w1, v, w3, z0, w_a = w
    shape, excess, s = jnp.exp(w_a), jnp.exp(w3), span(frame)
    log_hi, log_room = log_sigmoid(w1), log_sigmoid(-w1)  # log L(x_hi), log(1 - L(x_hi))
    t, log_slope = log_drop(v)
    logit_share = frame.log_resolution - log_room + t
    log_fall = log_room + log_sigmoid(logit_share)  # log(L(x_lo) - L(x_hi))
    log_lo = jnp.logaddexp(log_hi, log_fall)  # log L(x_lo)
    log_room_lo = log_room + log_sigmoid(-logit_share)  # log(1 - L(x_lo))
    log_headroom = log_room_lo + log_sigmoid(z0)  # log(E0 - L(x_lo))
    # g(t_lo) - g(t_hi) = log1p(fall / gap) + a log1p(fall / headroom) = alpha s; the first term is at least
    # log1p(fall / L(x_hi)) (E > 0), so alpha_min is reached at E = 0
    floor_term = jax.nn.softplus(log_fall - log_hi)  # log1p(fall / L(x_hi))
    exponent = excess + (shape * jax.nn.softplus(log_fall - log_headroom) + floor_term) / s
    c = s * excess + floor_term  # log1p(fall / gap)
    log_expm1_c = log_expm1(c)
    log_gap = log_fall - log_expm1_c  # log(L(x_hi) - E)
    log_expm1_excess = log_expm1(s * excess)
    # E = L(x_hi) L(x_lo) (e^{s excess} - 1) / (L(x_lo) (e^{s excess} - 1) + fall): free of cancellation near 0
    irreducible = jnp.exp(log_hi + log_lo + log_expm1_excess - jnp.logaddexp(log_lo + log_expm1_excess, log_fall))
    log_span = jnp.logaddexp(jnp.logaddexp(log_headroom, log_fall), log_gap)  # log(E0 - E)
    log_above_lo = jnp.logaddexp(log_fall, log_gap)  # log(L(x_lo) - E)
    log_below_hi = jnp.logaddexp(log_headroom, log_fall)  # log(E0 - L(x_hi))
    log_room_e = jnp.logaddexp(log_room, log_gap)  # log(1 - E)
    g_hi = log_gap - log_span - shape * (log_below_hi - log_span)
    log_amplitude = g_hi + exponent * frame.log_hi - (shape - 1.0) * log_span
    levels = (log_hi + log_room  # dL(x_hi)/dw1
              + log_room + log_sigmoid(logit_share) + log_sigmoid(-logit_share) + log_slope  # dL(x_lo)/dv
              + log_room_lo + log_sigmoid(z0) + log_sigmoid(-z0)  # dE0/dz0
              + w_a  # da/dw_a
              + log_gap + c - log_expm1_c + jnp.log(s) + w3)  # |dE/dw3|, the others held
    natural = (_log_g_slope(log_above_lo - log_span, log_headroom - log_span, shape)
               + _log_g_slope(log_gap - log_span, log_below_hi - log_span, shape)
               - log_room_e - 2.0 * log_span - jnp.log(s) + log_amplitude)
    reach = jnp.exp(log_span - log_room_e)
    return Natural(irreducible, reach, exponent, shape, log_amplitude, levels + natural)


def from_natural(irreducible, reach, exponent, shape, amplitude, frame: Frame):
    """The coordinates ``(w1, v, w3, z0, w_a)`` of natural parameters: the inverse of :func:`to_natural`."""
    log_span = jnp.log1p(-irreducible) + jnp.log(reach)
    span_ = jnp.exp(log_span)

    def u_at(log_x):  # the logit of t = (L - E) / (E0 - E) at log x
        return solve_logit(jnp.log(amplitude) - exponent * log_x + (shape - 1.0) * log_span, shape)

    u_hi, u_lo = u_at(frame.log_hi), u_at(frame.log_lo)
    level_hi = irreducible + span_ * jax.nn.sigmoid(u_hi)
    log_gap = log_span + log_sigmoid(u_hi)  # log(L(x_hi) - E)
    log_headroom = log_span + log_sigmoid(-u_lo)  # log(E0 - L(x_lo))
    # t_lo - t_hi without cancellation: sigmoid(u_lo) - sigmoid(u_hi) = sigmoid(u_lo) sigmoid(-u_hi) (1 - e^(u_hi-u_lo))
    log_fall = log_span + log_sigmoid(u_lo) + log_sigmoid(-u_hi) + jnp.log(-jnp.expm1(u_hi - u_lo))
    log_room = jnp.log1p(-level_hi)
    log_top = jnp.log1p(-irreducible) + jnp.log1p(-reach)  # log(1 - E0)
    log_room_lo = jnp.logaddexp(log_headroom, log_top)  # 1 - L(x_lo) = (E0 - L(x_lo)) + (1 - E0)
    log_lo = jnp.logaddexp(jnp.log(level_hi), log_fall)
    w1 = jnp.log(level_hi) - log_room
    v = log_drop_inverse(log_fall - log_room_lo - frame.log_resolution + log_room)
    # s excess = log1p(fall / gap) - log1p(fall / L(x_hi)) = log1p(E fall / (gap L(x_lo)))
    w3 = _log_softplus(jnp.log(irreducible) + log_fall - log_gap - log_lo) - jnp.log(span(frame))
    z0 = log_headroom - log_top
    return w1, v, w3, z0, jnp.log(shape)


def sample(spec, inputs: Mapping[str, Array], log_y, mask) -> dict[str, Array]:
    """Sample (inside a NumPyro trace) the five parameters through their coordinates.

    Each coordinate is an improper flat site; one factor adds the user's priors
    on the natural values and the log-Jacobian of the map.
    """
    ends = spec.law.coordinates
    w = flat_sites(site_names(ends))
    natural = to_natural(w, curve_frame(ends, inputs, log_y, mask))
    values = {ends.irreducible: natural.irreducible, ends.reach: natural.reach, ends.exponent: natural.exponent,
              ends.shape: natural.shape, ends.amplitude: jnp.exp(natural.log_amplitude)}
    return record(spec.prior_dict, values, natural.log_jacobian)


def start_columns(spec, natural: Mapping[str, Array], curve) -> list[Array]:
    """Starting coordinates ``[w1, v, w3, z0, w_a]`` (each ``[starts]``) of natural starting values on ``curve``."""
    ends = spec.law.coordinates
    frame = curve_frame(ends, curve.inputs, curve.log_y, curve.mask)
    to_w = jax.vmap(lambda *p: from_natural(*p, frame))
    return list(to_w(*(natural[name] for name in ends.params)))


MAP = CoordinateMap(BoundedEnds, site_names, applies, sample, start_columns)
