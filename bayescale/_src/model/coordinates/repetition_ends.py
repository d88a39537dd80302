r"""End-point coordinates for the data-constrained law: ``E + A N'^-alpha + B D'^-beta`` (Muennighoff et al. 2023).

Muennighoff et al., "Scaling Data-Constrained Language Models", NeurIPS 2023,
arXiv:2305.16264, eqs. (5)-(6): the Chinchilla form in the effective
parameters ``N'`` and effective data ``D'``, where ``D'`` of ``D`` tokens of
``U`` unique ones depends on ``R_D*`` alone,

.. math::

    U_D = \min(U, D), \qquad
    D' = U_D + U_D R_D^* \big(1 - e^{-(D / U_D - 1) / R_D^*}\big).

These coordinates are those of :mod:`bayescale._src.model.coordinates.two_term_ends`
(the law at a corner, each term's compressed log-drop over its input's range,
each exponent's excess over the smallest value that keeps ``E > 0``), with
the data term's range that of ``D'`` over the observed points at the sampled
``R_D*``, and ``R_D*`` sampled as ``r = log R_D^*``:

.. math::

    (w_1, v_A, w_\alpha, v_B, w_\beta \mid r) \mapsto (E, A, B, \alpha, \beta)
    \text{ on the frames } [N_{lo}, N_{hi}],\; [D'_{lo}(R_D^*), D'_{hi}(R_D^*)].

Given ``R_D*`` this is the two-term map on fixed frames, and ``R_D*``
depends on ``r`` alone, so the Jacobian is block-triangular:

.. math::

    \log\Big|\frac{\partial(E, A, B, \alpha, \beta, R_D^*)}{\partial(w_1, v_A, w_\alpha, v_B, w_\beta, r)}\Big|
    = \log|J_{\mathrm{two\ terms}}(w; R_D^*)| + r.

The parameter term's range stays that of ``N``: its effective count ``N'``
depends on ``N_opt(U_D)``, a function of ``A, B, alpha, beta`` themselves
(see :mod:`bayescale.laws.repetition`), so a frame in ``N'`` would make the
map implicit. ``N' = N`` wherever ``N <= N_opt(U_D)``; beyond it the drop in
these coordinates is that of the term at the nominal ``N``. ``R_N*`` keeps
its own (log) coordinate.

Why: under ``A ~ LogNormal(0, 10)`` the parameter term is often negligible
over the observed range; the data then bound its drop from above and leave
``alpha`` to its prior on a plateau that, in reference-scale coordinates
(``log alpha``, ``log A - alpha log N_ref``), bends with ``alpha`` and spans
the amplitude prior's 10 nats, which importance proposals do not cover. In
these coordinates the plateau is ``v_A`` below a bound with the drop's tail
compressed tenfold (:func:`bayescale._src.model.coordinates.ends.log_drop`).
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp

from bayescale._src.model.coordinates import CoordinateMap, two_term_ends
from bayescale._src.model.coordinates.ends import Frame, flat_sites, input_frame, positive_map_applies, record
from bayescale.laws.base import RepetitionEnds
from bayescale.laws.repetition import log_effective

Array = Any


def site_names(ends: RepetitionEnds) -> tuple[str, ...]:
    """The six sampler coordinates: the two-term map's (the data term named after ``D'``), then ``log R_D*``."""
    n, d, _ = ends.inputs
    return (f"log_law_at_max_{n}_{d}_effective",
            f"scaled_log_drop_over_{n}", f"log_{ends.exponents[0]}_excess",
            f"scaled_log_drop_over_{d}_effective", f"log_{ends.exponents[1]}_excess",
            f"log_{ends.data_decay}")


def applies(spec, given: Mapping[str, Any] | None = None) -> bool:
    """True when ``spec``'s law declares these coordinates, its six priors are positive and none is given."""
    return positive_map_applies(spec, RepetitionEnds, given)


def log_effective_data(inputs: Mapping[str, Array], ends: RepetitionEnds, log_decay):
    """``log D'`` at every point (``[points]``) for ``R_D* = exp(log_decay)``."""
    _, d, u = ends.inputs
    log_d = jnp.log(inputs[d])
    return log_effective(jnp.minimum(jnp.log(inputs[u]), log_d), log_d, jnp.exp(log_decay))


def frames(ends: RepetitionEnds, inputs: Mapping[str, Array], log_y, mask, log_decay) -> tuple[Frame, Frame]:
    """The frames of the parameter term (over ``N``) and of the data term (over ``D'`` at ``R_D* = e^log_decay``).

    ``D'``'s range is over the observed points (over every slot of a curve with none observed, e.g. a prior
    check); the resolution is the spread of the observed losses, as in
    :func:`bayescale._src.model.coordinates.ends.input_frame`.
    """
    params_frame = input_frame(inputs[ends.inputs[0]], log_y, mask)
    log_data = log_effective_data(inputs, ends, log_decay)
    seen = jnp.where(jnp.any(mask, axis=-1, keepdims=True), mask, True)
    data_frame = Frame(jnp.min(jnp.where(seen, log_data, jnp.inf), axis=-1),
                       jnp.max(jnp.where(seen, log_data, -jnp.inf), axis=-1), params_frame.log_resolution)
    return params_frame, data_frame


def to_natural(w, frames_):
    """``(log E, (log A, log B), (alpha, beta), log-Jacobian)`` from the five two-term coordinates on
    ``frames_`` (those of the sampled ``R_D*``; its own ``log R_D*`` adds to the log-Jacobian in :func:`sample`)."""
    return two_term_ends.to_natural(w, frames_)


def sample(spec, inputs: Mapping[str, Array], log_y, mask) -> dict[str, Array]:
    """Sample (inside a NumPyro trace) the six parameters through their coordinates.

    Each coordinate is an improper flat site; one factor adds the user's priors
    on the natural values and the map's log-Jacobian.
    """
    ends = spec.law.coordinates
    w = flat_sites(site_names(ends))
    log_decay = w[5]
    log_floor, log_amplitudes, exponents, log_jacobian = to_natural(w[:5], frames(ends, inputs, log_y, mask, log_decay))
    values = {ends.irreducible: jnp.exp(log_floor),
              **{name: jnp.exp(v) for name, v in zip(ends.amplitudes, log_amplitudes)},
              **dict(zip(ends.exponents, exponents)),
              ends.data_decay: jnp.exp(log_decay)}
    return record(spec.prior_dict, values, log_jacobian + log_decay)


def start_columns(spec, natural: Mapping[str, Array], curve) -> list[Array]:
    """Starting coordinates (each ``[starts]``, in :func:`site_names` order) of natural starting values."""
    ends = spec.law.coordinates

    def to_w(floor, first_amplitude, second_amplitude, first, second, decay):
        log_decay = jnp.log(decay)
        frames_ = frames(ends, curve.inputs, curve.log_y, curve.mask, log_decay)
        return (*two_term_ends.from_natural_values(floor, (first_amplitude, second_amplitude), (first, second),
                                                   frames_), log_decay)

    return list(jax.vmap(to_w)(natural[ends.irreducible], *(natural[n] for n in ends.amplitudes),
                               *(natural[n] for n in ends.exponents), natural[ends.data_decay]))


MAP = CoordinateMap(RepetitionEnds, site_names, applies, sample, start_columns)
