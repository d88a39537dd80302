r"""End-point coordinates for two power terms: ``E + A N^-alpha + B D^-beta`` (Chinchilla's law).

The one-term map of :mod:`bayescale._src.model.coordinates.ends` samples the law at the largest
observed input, the drop over the observed range and the exponent's excess
over the smallest value that keeps ``E > 0``. With two terms the same map is
applied twice, peeling one term at a time off the law at the corner
``(N_hi, D_hi)`` of the observed inputs:

.. math::

    L_{hi} = e^{w_1} = E + A N_{hi}^{-\alpha} + B D_{hi}^{-\beta}
    \;\xrightarrow{(v_A,\, w_\alpha)}\;
    L' = E + B D_{hi}^{-\beta}
    \;\xrightarrow{(v_B,\, w_\beta)}\; E,

where ``v_A`` is the compressed log of the first term's drop over the
observed range of ``N`` (``A N_hi^-alpha (e^{alpha s_N} - 1)``, relative to the
spread of the observed losses), ``w_alpha = log(alpha - alpha_min)`` with
``alpha_min = log(1 + drop_A / L_hi) / s_N`` (the exponent at which the first
term alone would exhaust ``L_hi``), and likewise for the second term against
``L'``. Every step maps onto its natural range one-to-one (``E, A, B, alpha,
beta > 0``), so the whole map is a bijection from :math:`\mathbb{R}^5`.

Each step is triangular, so the log-Jacobian is the sum of the steps' factors,

.. math::

    \log\Big|\frac{\partial(E, A, B, \alpha, \beta)}{\partial(w_1, v_A, w_\alpha, v_B, w_\beta)}\Big|
    = w_1 + j(L_{hi}; v_A, w_\alpha) + j(L'; v_B, w_\beta),

with ``j`` the one-term factor less its ``w_1``
(:func:`bayescale._src.model.coordinates.ends.peel`): the second step's input is ``L'`` itself,
whose derivative with respect to the first step's coordinates sits below the
diagonal. The density in these coordinates is the user's prior on the natural
parameters times this factor, so the posterior over them is unchanged.

On a sweep where both terms are small against ``E`` (the nearly-flat regime),
``(E, alpha, beta)`` lie on a curved ridge in natural (or reference-scale)
coordinates; the data pin down ``L_hi`` and the two drops, which these
coordinates sample directly.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp

from bayescale._src.model.coordinates.ends import flat_sites, from_natural, input_frames, peel, positive_map_applies, record
from bayescale.laws.base import TwoTermEnds
from bayescale._src.model.coordinates import CoordinateMap

Array = Any


def site_names(ends: TwoTermEnds) -> tuple[str, ...]:
    """The five sampler coordinates, named after the law's inputs and exponents."""
    first, second = ends.inputs
    return (f"log_law_at_max_{first}_{second}",
            f"scaled_log_drop_over_{first}", f"log_{ends.exponents[0]}_excess",
            f"scaled_log_drop_over_{second}", f"log_{ends.exponents[1]}_excess")


def applies(spec, given: Mapping[str, Any] | None = None) -> bool:
    """True when ``spec``'s law declares these coordinates, its five priors are positive and none is given."""
    return positive_map_applies(spec, TwoTermEnds, given)


def frames(ends: TwoTermEnds, inputs: Mapping[str, Array], log_y, mask):
    """The one-term frames of a curve along each of its two inputs."""
    return input_frames(ends, inputs, log_y, mask)


def to_natural(w, frames_):
    """``(log E, (log A, log B), (alpha, beta), log-Jacobian)`` from the coordinates ``w = (w1, vA, wa, vB, wb)``."""
    w1, v_first, w_first, v_second, w_second = w
    log_rest, log_first, first, j_first = peel(w1, v_first, w_first, frames_[0])
    log_floor, log_second, second, j_second = peel(log_rest, v_second, w_second, frames_[1])
    return log_floor, (log_first, log_second), (first, second), w1 + j_first + j_second


def from_natural_values(floor, amplitudes, exponents, frames_):
    """The coordinates ``(w1, vA, wa, vB, wb)`` of natural values: the inverse of :func:`to_natural`."""
    second_frame = frames_[1]
    log_rest, v_second, w_second = from_natural(floor, amplitudes[1], exponents[1], second_frame, True)
    w1, v_first, w_first = from_natural(jnp.exp(log_rest), amplitudes[0], exponents[0], frames_[0], True)
    return w1, v_first, w_first, v_second, w_second


def sample(spec, inputs: Mapping[str, Array], log_y, mask) -> dict[str, Array]:
    """Sample (inside a NumPyro trace) the five parameters through their coordinates.

    Each coordinate is an improper flat site; one factor adds the user's priors
    on the natural values and the log-Jacobian of the map.
    """
    ends = spec.law.coordinates
    w = flat_sites(site_names(ends))
    log_floor, log_amplitudes, exponents, log_jacobian = to_natural(w, frames(ends, inputs, log_y, mask))
    values = {ends.irreducible: jnp.exp(log_floor),
              **{name: jnp.exp(v) for name, v in zip(ends.amplitudes, log_amplitudes)},
              **dict(zip(ends.exponents, exponents))}
    return record(spec.prior_dict, values, log_jacobian)


def start_columns(spec, natural: Mapping[str, Array], curve) -> list[Array]:
    """Starting coordinates (each ``[starts]``, in :func:`site_names` order) of natural starting values."""
    ends = spec.law.coordinates
    frames_ = frames(ends, curve.inputs, curve.log_y, curve.mask)

    def to_w(floor, first_amplitude, second_amplitude, first, second):
        return from_natural_values(floor, (first_amplitude, second_amplitude), (first, second), frames_)

    return list(jax.vmap(to_w)(natural[ends.irreducible], *(natural[n] for n in ends.amplitudes),
                               *(natural[n] for n in ends.exponents)))


MAP = CoordinateMap(TwoTermEnds, site_names, applies, sample, start_columns)
