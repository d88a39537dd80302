r"""End-point coordinates: sample ``E + A x^-alpha`` through what the data pin down.

On a curve whose power term is small against ``E`` over the observed range,
``(E, A, alpha)`` lie on a curved ridge: the data fix the law near the ends of
the range, and a smaller exponent is matched by a larger term and a smaller
``E``, hyperbolically (``E ~ L_mid - drop / (alpha s)``). The reference-scale
shear of :mod:`bayescale.laws.base` straightens ``A`` against ``alpha`` but
not ``E``. With ``x_lo``, ``x_hi`` the smallest and largest observed inputs,
``s = log x_hi - log x_lo`` and ``D = L(x_lo) - L(x_hi)`` the drop of the law
over the observed range, these coordinates are

.. math::

    w_1 = \log L(x_{hi}), \qquad
    \log(D / r) = a v - b \sqrt{v^2 + 1}, \qquad
    w_3 = \log(\alpha - \alpha_{min}), \qquad
    \alpha_{min} = \log(1 + D / L(x_{hi})) / s,

with :math:`D = A x_{hi}^{-\alpha}(e^{\alpha s} - 1)`. ``v`` is the log of
the drop relative to the resolution ``r`` (the spread ``max y - min y`` of the
observed losses) with slope 1 above ``r`` and ``k = 10`` below it
(``a = (k + 1)/2``, ``b = (k - 1)/2``): on a curve flat within its noise the data
only bound the drop from above, its log has a tail as long as the amplitude
prior's, and NUTS diverged at the edge of that tail in plain ``log D``.
:math:`\alpha_{min}` is the smallest exponent for which the drop fits above
``E = 0`` (``E = 0`` exactly at :math:`\alpha = \alpha_{min}`); with a prior on
``E`` over the whole real line :math:`\alpha_{min} = 0`. The map from
:math:`\mathbb{R}^3` to ``(E > 0, A > 0, alpha > 0)`` is one-to-one and onto
(``r`` depends on the data only); back in natural units

.. math::

    \log A = \log D - \log(e^{\alpha s} - 1) + \alpha \log x_{hi}, \qquad
    E = L(x_{lo})\,\frac{e^{(\alpha - \alpha_{min}) s} - 1}{e^{\alpha s} - 1}
      \;\big(= L(x_{hi}) - A x_{hi}^{-\alpha}\big),

the first form of ``E`` free of cancellation. The Jacobian is triangular
through :math:`(L(x_{hi}), D, \alpha)`:

.. math::

    \log\Big|\frac{\partial(E, A, \alpha)}{\partial(w_1, v, w_3)}\Big|
    = w_1 + \log D + \log\frac{d \log D}{d v} + w_3 + \alpha \log x_{hi} - \log(e^{\alpha s} - 1),

so the density in these coordinates is the user's prior on ``(E, A, alpha)``
times that factor: the posterior over the natural parameters is unchanged.
This is the "values at the ends of the observed range" parameterization,
in the spirit of reparameterizing nonlinear regressions by
expected responses at design points (Ross 1990, *Nonlinear Estimation*).
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

from bayescale.laws.base import Ends
from bayescale._src.model.coordinates import CoordinateMap

Array = Any


def log_expm1(t):
    """``log(e^t - 1)`` for ``t > 0``, finite (with finite gradients) from tiny to huge ``t``."""
    small = jnp.minimum(t, 1.0)
    large = jnp.maximum(t, 1.0)
    return jnp.where(t < 1.0, jnp.log(jnp.expm1(small)), large + jnp.log(-jnp.expm1(-large)))


def site_names(ends: Ends) -> tuple[str, ...]:
    """The sampler coordinates, named after the law's input and exponent (and its shift, if any)."""
    names = (f"log_law_at_max_{ends.input}", f"scaled_log_drop_over_{ends.input}", f"log_{ends.exponent}_excess")
    return names if ends.shift is None else (*names, f"log_{ends.shift}_over_max_{ends.input}")


def applies(spec, given: Mapping[str, Any] | None = None) -> bool:
    """True when ``spec``'s law declares ends and its priors fit the map.

    The amplitude and the exponent need positive priors, the irreducible term a
    positive or real one (any other support, or a parameter given from
    elsewhere, e.g. pooled, keeps the reference-scale coordinates).
    """
    ends = free_declaration(spec, Ends, given)
    if ends is None:
        return False
    priors = spec.prior_dict
    positive = [ends.amplitude, ends.exponent, *([] if ends.shift is None else [ends.shift])]
    return (all(priors[name].support is constraints.positive for name in positive)
            and _floor_at_zero(priors[ends.irreducible]) is not None)


def free_declaration(spec, kind: type, given: Mapping[str, Any] | None = None):
    """``spec``'s law's coordinates when they are of type ``kind`` and none of their parameters is given from
    elsewhere (e.g. pooled); else None."""
    declared = spec.law.coordinates
    if not isinstance(declared, kind) or any(name in (given or {}) for name in declared.params):
        return None
    return declared


def positive_map_applies(spec, kind: type, given: Mapping[str, Any] | None = None) -> bool:
    """True when ``spec``'s law declares coordinates of type ``kind``, none of their parameters is given from
    elsewhere (e.g. pooled) and all their priors are positive: when a map onto positive parameters applies."""
    declared = free_declaration(spec, kind, given)
    return declared is not None and all(spec.prior_dict[name].support is constraints.positive
                                        for name in declared.params)


def input_frames(declared, inputs: Mapping[str, Array], log_y, mask) -> tuple[Frame, ...]:
    """The one-term frames of a curve along each of the inputs its coordinates name (``declared.inputs``)."""
    return tuple(input_frame(inputs[name], log_y, mask) for name in declared.inputs)


def _floor_at_zero(prior: dist.Distribution) -> bool | None:
    """True for a positive support (``E > 0``), False for the real line, None for anything else."""
    if prior.support is constraints.positive:
        return True
    if prior.support is constraints.real:
        return False
    return None


class Frame(NamedTuple):
    """What the map needs of one curve: ``log x_lo``, ``log x_hi`` and the log of the drop it resolves."""

    log_lo: Array
    log_hi: Array
    log_resolution: Array


def curve_frame(ends: Ends, inputs: Mapping[str, Array], log_y, mask) -> Frame:
    """The :class:`Frame` of one curve (padded slots of ``inputs`` hold the geometric mean, inside the range).

    The resolution is the spread of the observed losses, ``max y - min y``: a
    drop well below it is indistinguishable from none (floored at 0.1% of the
    largest loss, for a curve of one point or none).
    """
    return input_frame(inputs[ends.input], log_y, mask)


def input_frame(x, log_y, mask) -> Frame:
    """The :class:`Frame` of one curve along the input values ``x`` (see :func:`curve_frame`)."""
    log_x = jnp.log(x)
    low, high = observed_range(log_y, mask)
    log_spread = high + jnp.log(jnp.maximum(-jnp.expm1(low - high), 1e-3))
    return Frame(jnp.min(log_x, axis=-1), jnp.max(log_x, axis=-1), log_spread)


def observed_range(log_y, mask):
    """The smallest and largest observed log loss of a curve (0 and 0 for a curve with no observed point,
    e.g. a prior check)."""
    seen = jnp.any(mask, axis=-1)
    high = jnp.where(seen, jnp.max(jnp.where(mask, log_y, -jnp.inf), axis=-1), 0.0)
    low = jnp.where(seen, jnp.min(jnp.where(mask, log_y, jnp.inf), axis=-1), 0.0)
    return low, high


def flat_sites(names) -> tuple:
    """One improper flat site per coordinate (inside a NumPyro trace)."""
    flat = dist.ImproperUniform(constraints.real, (), ())
    return tuple(numpyro.sample(name, flat) for name in names)


def record(priors: Mapping[str, dist.Distribution], values: Mapping[str, Array], log_jacobian) -> dict[str, Array]:
    """The user's priors on the natural ``values`` plus the map's log-Jacobian, as one factor, and each value
    as a deterministic site."""
    numpyro.factor("ends_prior", sum(priors[name].log_prob(v) for name, v in values.items()) + log_jacobian)
    return {name: numpyro.deterministic(name, v) for name, v in values.items()}


def span(frame: Frame):
    """``log x_hi - log x_lo`` of a frame (of either end-point map), floored at 1e-6."""
    # a curve at one input size has no range to speak of; keep the map finite (the law is not identified)
    return jnp.maximum(frame.log_hi - frame.log_lo, 1e-6)


# Below the resolution, the drop's log is compressed TAIL_SLOPE-fold: on a curve flat within noise, the
# data bound the drop from above only and its log has a tail as long as the amplitude prior (sd 10);
# in v that tail is about as wide as the peak of a resolved drop.
TAIL_SLOPE = 10.0
_A, _B = (TAIL_SLOPE + 1) / 2, (TAIL_SLOPE - 1) / 2


def log_drop(v):
    """``(t, log dt/dv)`` of ``t = log(drop / resolution) = a v - b sqrt(v^2 + 1)``: slope 1 above, TAIL_SLOPE below."""
    root = jnp.sqrt(v * v + 1.0)
    return _A * v - _B * root, jnp.log(_A - _B * v / root)


def log_drop_inverse(t):
    """The ``v`` of :func:`log_drop` (the positive root of ``k v^2 - 2 a t v + t^2 - b^2 = 0``, ``a^2 - b^2 = k``)."""
    return (_A * t + _B * jnp.sqrt(t * t + TAIL_SLOPE)) / TAIL_SLOPE


def drop_term(v, frame: Frame):
    """``(w2, log dw2/dv, s)``: the log of the drop over the range, its slope in ``v``, and the range's span."""
    t, log_slope = log_drop(v)
    return frame.log_resolution + t, log_slope, span(frame)


def _amplitude(w2, log_slope, w3, alpha, frame: Frame):
    """``(log A, log-Jacobian less w1)``: the amplitude of a drop ``e^w2`` at ``alpha``, and the map's factor."""
    log_term_hi = w2 - log_expm1(alpha * span(frame))
    return log_term_hi + alpha * frame.log_hi, log_term_hi + log_slope + w3 + alpha * frame.log_hi


def peel(log_total, v, w3, frame: Frame):
    """``(log E, log A, alpha, log-Jacobian)`` of the positive-floor map at ``w1 = log_total``.

    The log-Jacobian is that of ``(E, A, alpha)`` with respect to
    ``(L(x_hi), v, w3)`` (the docstring's factor less ``w1``), so that maps
    which peel several terms off one value can chain it.
    """
    w2, log_slope, s = drop_term(v, frame)
    excess = jnp.exp(w3)
    alpha = jax.nn.softplus(w2 - log_total) / s + excess
    log_floor = jnp.logaddexp(log_total, w2) + log_expm1(excess * s) - log_expm1(alpha * s)
    log_amplitude, log_jacobian = _amplitude(w2, log_slope, w3, alpha, frame)
    return log_floor, log_amplitude, alpha, log_jacobian


def to_natural(w, frame: Frame, positive_floor: bool):
    """``(E, log A, alpha, log |d(E, A, alpha)/dw|)`` from the coordinates ``w = (w1, v, w3)``."""
    w1, v, w3 = w
    if positive_floor:
        log_floor, log_amplitude, alpha, log_jacobian = peel(w1, v, w3, frame)
        return jnp.exp(log_floor), log_amplitude, alpha, w1 + log_jacobian
    w2, log_slope, _ = drop_term(v, frame)
    alpha = jnp.exp(w3)
    log_amplitude, log_jacobian = _amplitude(w2, log_slope, w3, alpha, frame)
    return jnp.exp(w1) - jnp.exp(log_amplitude - alpha * frame.log_hi), log_amplitude, alpha, w1 + log_jacobian


def from_natural(floor, amplitude, alpha, frame: Frame, positive_floor: bool):
    """The coordinates ``(w1, v, w3)`` of natural ``(E, A, alpha)``: the inverse of :func:`to_natural`."""
    s = span(frame)
    log_term_hi = jnp.log(amplitude) - alpha * frame.log_hi
    w2 = log_term_hi + log_expm1(alpha * s)
    w1 = jnp.log(floor + jnp.exp(log_term_hi))
    v = log_drop_inverse(w2 - frame.log_resolution)
    if not positive_floor:
        return w1, v, jnp.log(alpha)
    law_lo = floor + jnp.exp(log_term_hi + alpha * s)
    # alpha - alpha_min from E = L(x_lo) (e^{(alpha - alpha_min) s} - 1) / (e^{alpha s} - 1), without cancellation
    excess = jnp.log1p(floor * jnp.expm1(alpha * s) / law_lo) / s
    return w1, v, jnp.log(excess)


def sample(spec, inputs: Mapping[str, Array], log_y, mask) -> dict[str, Array]:
    """Sample (inside a NumPyro trace) the ends' three parameters through their coordinates.

    Each coordinate is an improper flat site; one factor adds the user's priors
    on the natural values and the log-Jacobian of the map.
    """
    ends = spec.law.coordinates
    priors = spec.prior_dict
    positive_floor = _floor_at_zero(priors[ends.irreducible])
    w = flat_sites(site_names(ends))
    frame = curve_frame(ends, inputs, log_y, mask)
    values, log_jacobian = {}, 0.0
    if ends.shift is not None:
        # the input's shift x0 is sampled as log(x0 / x_hi); the core's map then sees the inputs x + x0. The map
        # is block-triangular (x0 depends on that coordinate alone), so its log-Jacobian adds log x0.
        log_shift = w[3] + frame.log_hi
        frame = shifted(frame, log_shift)
        values[ends.shift], log_jacobian = jnp.exp(log_shift), log_shift
    floor, log_amplitude, alpha, core_log_jacobian = to_natural(w[:3], frame, positive_floor)
    values.update({ends.irreducible: floor, ends.amplitude: jnp.exp(log_amplitude), ends.exponent: alpha})
    return record(priors, values, log_jacobian + core_log_jacobian)


def shifted(frame: Frame, log_shift) -> Frame:
    """The frame of the inputs ``x + x0`` (``log_shift = log x0``)."""
    return frame._replace(log_lo=jnp.logaddexp(frame.log_lo, log_shift), log_hi=jnp.logaddexp(frame.log_hi, log_shift))


def start_columns(spec, natural: Mapping[str, Array], curve) -> list[Array]:
    """Starting coordinates ``[w1, v, w3]`` (each ``[starts]``) of natural starting values on ``curve``."""
    ends = spec.law.coordinates
    frame = curve_frame(ends, curve.inputs, curve.log_y, curve.mask)
    positive_floor = _floor_at_zero(spec.prior_dict[ends.irreducible])
    core = (natural[ends.irreducible], natural[ends.amplitude], natural[ends.exponent])
    if ends.shift is None:
        to_w = jax.vmap(lambda floor, amplitude, alpha: from_natural(floor, amplitude, alpha, frame, positive_floor))
        return list(to_w(*core))

    def to_w_shifted(floor, amplitude, alpha, shift):
        log_shift = jnp.log(shift)
        return (*from_natural(floor, amplitude, alpha, shifted(frame, log_shift), positive_floor),
                log_shift - frame.log_hi)

    return list(jax.vmap(to_w_shifted)(*core, natural[ends.shift]))


MAP = CoordinateMap(Ends, site_names, applies, sample, start_columns)
