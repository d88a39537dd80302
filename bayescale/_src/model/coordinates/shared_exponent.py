r"""Coordinates for a product law whose compute term rides on its N and D terms: ``K N^-alpha D^-beta C^-gamma``.

Most tables compute C from N and D (``C = 6 N D``). Then
``C^-gamma = 6^-gamma N^-gamma D^-gamma`` and the data see only the sums
``a = alpha + gamma`` and ``b = beta + gamma``: with ``gamma`` free, the
posterior lies on the line ``alpha = a - gamma, beta = b - gamma``, weighed by
the priors alone. In the sampler's usual coordinates ``(log alpha, log beta,
log gamma)`` that line is a thin, long, curved ridge (its width is the noise's,
its length the prior's); Laplace draws miss it and NUTS needs its deepest trees
to follow it (SBC coverage of alpha 0.72 under ``auto`` in those coordinates). These
coordinates sample what the data pin down and the share of the smaller sum
that ``gamma`` takes:

.. math::

    w_a = \log(\alpha + \gamma), \qquad w_b = \log(\beta + \gamma), \qquad
    u = \operatorname{logit}\frac{\gamma}{m}, \quad m = \min(a, b).

Back in natural units, with ``sigma`` the logistic function,

.. math::

    \gamma = m\,\sigma(u), \qquad \alpha = (a - m) + m\,\sigma(-u), \qquad \beta = (b - m) + m\,\sigma(-u),

both sums of non-negative terms (no cancellation), one-to-one and onto
``(alpha, beta, gamma) > 0``: ``u = log gamma - log min(alpha, beta)``. Adding
the last row of the Jacobian of ``(a, b, u) -> (alpha, beta, gamma)`` to the
first two leaves a triangular matrix with diagonal ``(1, 1, d gamma / du)``, so

.. math::

    \log\Big|\frac{\partial(\alpha, \beta, \gamma)}{\partial(w_a, w_b, u)}\Big|
    = w_a + w_b + \log m + \log\sigma(u) + \log\sigma(-u).

The density in these coordinates is the user's prior on ``(alpha, beta,
gamma)`` times this factor, so the posterior over them is unchanged. Where C
has its own scatter around ``6 N D`` the map is the same bijection and the data
then pin ``u`` as well. The amplitude ``K`` keeps its reference-scale
coordinate (the log of the law at the observed inputs' geometric mean), which
the data pin down on either design.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp

from bayescale._src.model.coordinates.ends import flat_sites, positive_map_applies, record
from bayescale.laws.base import SharedExponent
from bayescale._src.model.coordinates import CoordinateMap

Array = Any


def site_names(ends: SharedExponent) -> tuple[str, str, str]:
    """The three sampler coordinates, named after the law's exponents."""
    first, second = ends.exponents
    shared = ends.shared
    return (f"log_{first}_plus_{shared}", f"log_{second}_plus_{shared}", f"logit_{shared}_share")


def applies(spec, given: Mapping[str, Any] | None = None) -> bool:
    """True when ``spec``'s law declares these coordinates, its three exponents' priors are positive and none
    is given."""
    return positive_map_applies(spec, SharedExponent, given)


def to_natural(w_a, w_b, u):
    """``(alpha, beta, gamma, log-Jacobian)`` from the coordinates ``(w_a, w_b, u)``."""
    a, b = jnp.exp(w_a), jnp.exp(w_b)
    m = jnp.minimum(a, b)
    kept = m * jax.nn.sigmoid(-u)
    log_jacobian = w_a + w_b + jnp.log(m) + jax.nn.log_sigmoid(u) + jax.nn.log_sigmoid(-u)
    return (a - m) + kept, (b - m) + kept, m * jax.nn.sigmoid(u), log_jacobian


def from_natural(alpha, beta, gamma):
    """The coordinates ``(w_a, w_b, u)`` of natural exponents: the inverse of :func:`to_natural`."""
    return jnp.log(alpha + gamma), jnp.log(beta + gamma), jnp.log(gamma) - jnp.log(jnp.minimum(alpha, beta))


def sample(spec, inputs: Mapping[str, Array], log_y, mask) -> dict[str, Array]:
    """Sample (inside a NumPyro trace) the three exponents through their coordinates.

    Each coordinate is an improper flat site; one factor adds the user's priors
    on the natural values and the log-Jacobian of the map. The curve's data
    are not needed (the map is the same for every curve).
    """
    ends = spec.law.coordinates
    alpha, beta, gamma, log_jacobian = to_natural(*flat_sites(site_names(ends)))
    first, second = ends.exponents
    return record(spec.prior_dict, {first: alpha, second: beta, ends.shared: gamma}, log_jacobian)


def start_columns(spec, natural: Mapping[str, Array], curve) -> list[Array]:
    """Starting coordinates ``[w_a, w_b, u]`` (each ``[starts]``) of natural starting values."""
    ends = spec.law.coordinates
    first, second = ends.exponents
    return list(from_natural(natural[first], natural[second], natural[ends.shared]))


MAP = CoordinateMap(SharedExponent, site_names, applies, sample, start_columns)
