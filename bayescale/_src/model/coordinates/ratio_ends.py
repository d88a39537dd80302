r"""End-point coordinates for a sum of ratio terms without a floor, ``sum_k (x_{c,k} / x_k)^{alpha_k}``.

The additive law (Kaplan et al. 2020's separate fits summed) has no irreducible
level: either term can be nearly flat over the observed range, and a flat term
acts as a floor, so the terms' levels trade against each other and against
their exponents on curved ridges (in reference coordinates with ``auto``, 90% coverage of
``alpha_N`` and ``alpha_D`` 0.830-0.835 on one simulation seed; importance
alone, Pareto k > 0.7 on 33 of 60 simulated data sets, 5 in these coordinates).
As in :mod:`bayescale._src.model.coordinates.two_term_ends`, the terms are peeled off the law at
the corner of the observed inputs one at a time with the one-term map of
:mod:`bayescale._src.model.coordinates.ends` (each peeled term's drop over its input's range and
its exponent's excess over the smallest value that leaves the rest positive);
what is left is the last term's value at the corner, ``T``, and with the last
term's drop ``D`` over its range (the compressed log of
:func:`bayescale._src.model.coordinates.ends.log_drop`) its exponent and amplitude follow:

.. math::

    \alpha = \frac{\log(1 + D / T)}{s}, \qquad \log A = \log T + \alpha \log x_{hi}, \qquad
    \Big|\frac{\partial(\alpha, \log A)}{\partial(T, D)}\Big| = \frac{1}{T (T + D) s}.

Each term ``(x_c / x)^alpha = A x^-alpha`` has ``log x_c = log A / alpha``, a
factor ``x_c / (alpha A)`` in the Jacobian. The whole map is triangular step by
step, one-to-one and onto the positive parameters, and its log-Jacobian (the
sum of the steps') turns the user's priors on ``(x_c, alpha)`` into the density
in these coordinates: the posterior over the natural parameters is unchanged.

``additive_compute`` (a third term in ``C``) keeps its reference-scale
coordinates: on the usual ``C = 6 N D`` design its compute term is seen only
through the law's curvature, and these coordinates (either term order) did not
calibrate ``alpha_C`` (SBC 0.770 and 0.805 against 0.815; benchmarks/bench_sbc.py).
When a term's exponent is small, ``log x_c = log A / alpha`` is ill-conditioned.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp

from bayescale._src.model.coordinates.ends import (drop_term, flat_sites, from_natural, input_frames, log_drop_inverse, log_expm1,
                                  peel, positive_map_applies, record, span)
from bayescale.laws.base import RatioEnds
from bayescale._src.model.coordinates import CoordinateMap

Array = Any


def site_names(ends: RatioEnds) -> tuple[str, ...]:
    """The sampler coordinates: the law at the corner, then each peeled term's drop and exponent excess, then the
    last term's drop."""
    peeled = [name for x, alpha in zip(ends.inputs[:-1], ends.exponents[:-1])
              for name in (f"scaled_log_drop_over_{x}", f"log_{alpha}_excess")]
    return (f"log_law_at_max_{'_'.join(ends.inputs)}", *peeled, f"scaled_log_drop_over_{ends.inputs[-1]}")


def applies(spec, given: Mapping[str, Any] | None = None) -> bool:
    """True when ``spec``'s law declares these coordinates, all their priors are positive and none is given."""
    return positive_map_applies(spec, RatioEnds, given)


def frames(ends: RatioEnds, inputs: Mapping[str, Array], log_y, mask):
    """The one-term frames of a curve along each of its inputs."""
    return input_frames(ends, inputs, log_y, mask)


def to_natural(w, frames_):
    """``(log scales, exponents, log-Jacobian)``, each per term, from the coordinates ``w`` (site order)."""
    log_rest, log_jacobian = w[0], w[0]
    log_amplitudes, exponents = [], []
    for k, frame in enumerate(frames_[:-1]):
        log_rest, log_amplitude, alpha, j = peel(log_rest, w[1 + 2 * k], w[2 + 2 * k], frame)
        log_amplitudes.append(log_amplitude)
        exponents.append(alpha)
        log_jacobian = log_jacobian + j
    # the last term's value at the corner is what is left; its drop fixes its exponent
    log_drop, log_slope, s = drop_term(w[-1], frames_[-1])
    alpha = jax.nn.softplus(log_drop - log_rest) / s
    log_amplitude = log_rest + alpha * frames_[-1].log_hi
    log_jacobian = (log_jacobian - log_rest + log_amplitude + log_drop + log_slope
                    - jnp.logaddexp(log_rest, log_drop) - jnp.log(s))
    log_amplitudes.append(log_amplitude)
    exponents.append(alpha)
    log_scales = [log_a / alpha for log_a, alpha in zip(log_amplitudes, exponents)]
    for log_scale, log_a, alpha in zip(log_scales, log_amplitudes, exponents):
        log_jacobian = log_jacobian + log_scale - jnp.log(alpha) - log_a
    return log_scales, exponents, log_jacobian


def from_natural_values(scales, exponents, frames_):
    """The coordinates (site order) of natural scales and exponents: the inverse of :func:`to_natural`."""
    log_amplitudes = [alpha * jnp.log(scale) for scale, alpha in zip(scales, exponents)]
    last = frames_[-1]
    log_term = log_amplitudes[-1] - exponents[-1] * last.log_hi  # the last term at the corner
    w_last = log_drop_inverse(log_term + log_expm1(exponents[-1] * span(last)) - last.log_resolution)
    coordinates = [w_last]
    log_rest = log_term
    for frame, log_a, alpha in reversed(list(zip(frames_[:-1], log_amplitudes[:-1], exponents[:-1]))):
        log_rest, v, w3 = from_natural(jnp.exp(log_rest), jnp.exp(log_a), alpha, frame, True)
        coordinates = [v, w3, *coordinates]
    return [log_rest, *coordinates]


def sample(spec, inputs: Mapping[str, Array], log_y, mask) -> dict[str, Array]:
    """Sample (inside a NumPyro trace) the terms' scales and exponents through their coordinates.

    Each coordinate is an improper flat site; one factor adds the user's priors
    on the natural values and the log-Jacobian of the map.
    """
    ends = spec.law.coordinates
    w = flat_sites(site_names(ends))
    log_scales, exponents, log_jacobian = to_natural(w, frames(ends, inputs, log_y, mask))
    values = {**{name: jnp.exp(v) for name, v in zip(ends.scales, log_scales)}, **dict(zip(ends.exponents, exponents))}
    return record(spec.prior_dict, values, log_jacobian)


def start_columns(spec, natural: Mapping[str, Array], curve) -> list[Array]:
    """Starting coordinates (each ``[starts]``, in :func:`site_names` order) of natural starting values."""
    ends = spec.law.coordinates
    frames_ = frames(ends, curve.inputs, curve.log_y, curve.mask)

    def to_w(scales, exponents):
        return from_natural_values(scales, exponents, frames_)

    return list(jax.vmap(to_w)([natural[n] for n in ends.scales], [natural[n] for n in ends.exponents]))


MAP = CoordinateMap(RatioEnds, site_names, applies, sample, start_columns)
