"""End-point coordinates: sample ``E + A x^-alpha`` through what the data pin down.

On a curve whose power term is small against ``E`` over the observed range,
``(E, A, alpha)`` lie on a curved ridge: the data fix the law near the ends of
the range, and a smaller exponent is matched by a larger term and a smaller
``E``, hyperbolically (``E ~ L_mid - drop / (alpha s)``). The reference-scale
shear of :mod:`bayescale.laws.base` straightens ``A`` against ``alpha`` but
not ``E``. With ``x_lo``, ``x_hi`` the smallest and largest observed inputs and
``s = log x_hi - log x_lo``, these coordinates are

.. math::

    w_1 &= \\log L(x_{hi}), \\qquad
    w_2 = \\log\\big(L(x_{lo}) - L(x_{hi})\\big) = \\log\\big(A x_{hi}^{-\\alpha}(e^{\\alpha s} - 1)\\big), \\\\
    w_3 &= \\log(\\alpha - \\alpha_{min}), \\qquad
    \\alpha_{min} = \\log\\big(1 + e^{w_2 - w_1}\\big) / s,

where :math:`\\alpha_{min}` is the smallest exponent for which the drop fits
above ``E = 0`` (``E = 0`` exactly at :math:`\\alpha = \\alpha_{min}`); with a
prior on ``E`` over the whole real line :math:`\\alpha_{min} = 0`. The map
:math:`w \\in \\mathbb{R}^3 \\to (E > 0, A > 0, \\alpha > 0)` is one-to-one and
onto; back in natural units

.. math::

    \\log A = w_2 - \\log(e^{\\alpha s} - 1) + \\alpha \\log x_{hi}, \\qquad
    E = \\big(L(x_{lo})\\big)\\,\\frac{e^{(\\alpha - \\alpha_{min}) s} - 1}{e^{\\alpha s} - 1}
      \\;\\big(= L(x_{hi}) - A x_{hi}^{-\\alpha}\\big),

the first form of ``E`` free of cancellation. The Jacobian is triangular
through :math:`(L(x_{hi}), L(x_{lo}) - L(x_{hi}), \\alpha)`:

.. math::

    \\log\\Big|\\frac{\\partial(E, A, \\alpha)}{\\partial w}\\Big|
    = w_1 + w_2 + w_3 + \\alpha \\log x_{hi} - \\log(e^{\\alpha s} - 1),

so the density in ``w`` is the user's prior on ``(E, A, alpha)``
times that factor: the posterior over the natural parameters is unchanged.
This is the "values at the ends of the observed range" parameterization of
issue 13, in the spirit of reparameterizing nonlinear regressions by
expected values at design points (Ross 1990, *Nonlinear Estimation*, ch. 3).
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

from bayescale.laws.base import Ends

Array = Any


def log_expm1(t):
    """``log(e^t - 1)`` for ``t > 0``, finite (with finite gradients) from tiny to huge ``t``."""
    small = jnp.minimum(t, 1.0)
    large = jnp.maximum(t, 1.0)
    return jnp.where(t < 1.0, jnp.log(jnp.expm1(small)), large + jnp.log(-jnp.expm1(-large)))


def site_names(ends: Ends) -> tuple[str, str, str]:
    """The three sampler coordinates, named after the law's input and exponent."""
    return (f"log_law_at_max_{ends.input}", f"log_drop_over_{ends.input}", f"log_{ends.exponent}_excess")


def applies(spec, given: Mapping[str, Any] | None = None) -> bool:
    """True when ``spec``'s law declares ends and its priors fit the map.

    The amplitude and the exponent need positive priors, the irreducible term a
    positive or real one (any other support, or a parameter given from
    elsewhere, e.g. pooled, keeps the reference-scale coordinates).
    """
    ends = spec.law.ends
    if ends is None or any(name in (given or {}) for name in ends[1:]):
        return False
    priors = spec.prior_dict
    return (priors[ends.amplitude].support is constraints.positive
            and priors[ends.exponent].support is constraints.positive
            and _floor_at_zero(priors[ends.irreducible]) is not None)


def _floor_at_zero(prior: dist.Distribution) -> bool | None:
    """True for a positive support (``E > 0``), False for the real line, None for anything else."""
    if prior.support is constraints.positive:
        return True
    if prior.support is constraints.real:
        return False
    return None


def observed_range(inputs: Mapping[str, Array], ends: Ends) -> tuple[Array, Array]:
    """``(log x_lo, log x_hi)`` of one curve; padded slots hold the geometric mean, inside the range."""
    log_x = jnp.log(inputs[ends.input])
    return jnp.min(log_x, axis=-1), jnp.max(log_x, axis=-1)


def _span(log_lo, log_hi):
    # a curve at one input size has no range to speak of; keep the map finite (the law is not identified)
    return jnp.maximum(log_hi - log_lo, 1e-6)


def to_natural(w, log_lo, log_hi, positive_floor: bool):
    """``(E, log A, alpha, log |d(E, A, alpha)/dw|)`` from the coordinates ``w = (w1, w2, w3)``."""
    w1, w2, w3 = w
    s = _span(log_lo, log_hi)
    excess = jnp.exp(w3)
    if positive_floor:
        alpha = jax.nn.softplus(w2 - w1) / s + excess
        log_floor = jnp.logaddexp(w1, w2) + log_expm1(excess * s) - log_expm1(alpha * s)
        floor = jnp.exp(log_floor)
    else:
        alpha = excess
        floor = jnp.exp(w1) - jnp.exp(w2 - log_expm1(alpha * s))
    log_term_hi = w2 - log_expm1(alpha * s)
    log_amplitude = log_term_hi + alpha * log_hi
    log_jacobian = w1 + w2 + w3 + alpha * log_hi - log_expm1(alpha * s)
    return floor, log_amplitude, alpha, log_jacobian


def from_natural(floor, amplitude, alpha, log_lo, log_hi, positive_floor: bool):
    """The coordinates ``(w1, w2, w3)`` of natural ``(E, A, alpha)``: the inverse of :func:`to_natural`."""
    s = _span(log_lo, log_hi)
    log_term_hi = jnp.log(amplitude) - alpha * log_hi
    w2 = log_term_hi + log_expm1(alpha * s)
    w1 = jnp.log(floor + jnp.exp(log_term_hi))
    if not positive_floor:
        return w1, w2, jnp.log(alpha)
    law_lo = floor + jnp.exp(log_term_hi + alpha * s)
    # alpha - alpha_min from E = L(x_lo) (e^{(alpha - alpha_min) s} - 1) / (e^{alpha s} - 1), without cancellation
    excess = jnp.log1p(floor * jnp.expm1(alpha * s) / law_lo) / s
    return w1, w2, jnp.log(excess)


def sample(spec, inputs: Mapping[str, Array]) -> dict[str, Array]:
    """Sample (inside a NumPyro trace) the ends' three parameters through their coordinates.

    Each coordinate is an improper flat site; one factor adds the user's priors
    on the natural values and the log-Jacobian of the map.
    """
    ends = spec.law.ends
    priors = spec.prior_dict
    positive_floor = _floor_at_zero(priors[ends.irreducible])
    flat = dist.ImproperUniform(constraints.real, (), ())
    w = tuple(numpyro.sample(name, flat) for name in site_names(ends))
    log_lo, log_hi = observed_range(inputs, ends)
    floor, log_amplitude, alpha, log_jacobian = to_natural(w, log_lo, log_hi, positive_floor)
    amplitude = jnp.exp(log_amplitude)
    numpyro.factor(
        "ends_prior",
        priors[ends.irreducible].log_prob(floor) + priors[ends.amplitude].log_prob(amplitude)
        + priors[ends.exponent].log_prob(alpha) + log_jacobian,
    )
    return {
        ends.irreducible: numpyro.deterministic(ends.irreducible, floor),
        ends.amplitude: numpyro.deterministic(ends.amplitude, amplitude),
        ends.exponent: numpyro.deterministic(ends.exponent, alpha),
    }


def start_columns(spec, natural: Mapping[str, Array], inputs: Mapping[str, Array]) -> list[Array]:
    """Starting coordinates ``[w1, w2, w3]`` (each ``[starts]``) of natural starting values."""
    ends = spec.law.ends
    log_lo, log_hi = observed_range(inputs, ends)
    positive_floor = _floor_at_zero(spec.prior_dict[ends.irreducible])
    return list(from_natural(natural[ends.irreducible], natural[ends.amplitude], natural[ends.exponent],
                             log_lo, log_hi, positive_floor))
