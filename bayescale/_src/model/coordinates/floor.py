r"""Floor coordinates: sample a law's least value through its ratio to the smallest observed loss.

An IsoFLOP profile :math:`L_{min} + k\,(\ln N - \ln N_{opt})^2` (or the
asymmetric slice of :mod:`bayescale.laws.isoflop`) whose valley is deep against
its floor, or whose vertex lies well outside the sampled sizes, shows the data
a rising or falling arc: the floor ``L_min`` is then bounded from above by the
smallest observed loss and not from below. Its default prior,
``LogNormal(0, 10)``, makes the posterior of ``log L_min`` a one-sided tail
some ten nats long, at whose far end ``N_opt`` and ``k`` settle on the
parabola that just touches zero. A Gaussian (or Student-t) around the mode,
which sits where the floor starts to matter, does not reach into that tail,
and importance sampling from it missed the truth below its interval: under
``auto`` on one budget's sweep, ``L_min`` covered 0.85 at 90% with twice as
many misses below as above (benchmarks/README.md, ``bench_sbc.py``).

With ``y_min`` the smallest observed loss the floor is sampled as

.. math::

    \log(L_{min} / y_{min}) = a v - b \sqrt{v^2 + 1},

the compressed log of :func:`bayescale._src.model.coordinates.ends.log_drop`:
slope 1 above the knee at ``L_min = y_min e^{-b}`` (about 1.1% of the smallest
loss, where the floor stops being resolved against the noise) and slope 10
below it, so that the prior's long tail is about as wide in ``v`` as the
resolved peak. The map is one-to-one from the real line onto ``L_min > 0``
(``y_min`` depends on the data only) and its log-Jacobian is

.. math::

    \log\Big|\frac{d L_{min}}{d v}\Big| = \log L_{min} + \log(a - b\, v / \sqrt{v^2 + 1}),

so the density in ``v`` is the user's prior on ``L_min`` times that factor:
the posterior is unchanged. The law's other parameters keep their own
(reference-scale) coordinates. This is the same compression that end-point
coordinates give a negligible drop (Ross 1990, *Nonlinear Estimation*:
parameters the data fix, here the floor against the observed losses).
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp

from bayescale._src.model.coordinates import CoordinateMap
from bayescale._src.model.coordinates.ends import (flat_sites, log_drop, log_drop_inverse, observed_range,
                                                   positive_map_applies, record)
from bayescale.laws.base import Floor

Array = Any


def site_names(declared: Floor) -> tuple[str]:
    """The one sampler coordinate, named after the floor and the input."""
    return (f"scaled_log_{declared.floor}_over_min_loss",)


def applies(spec, given: Mapping[str, Any] | None = None) -> bool:
    """True when ``spec``'s law declares a floor, its prior is positive and it is not given from elsewhere."""
    return positive_map_applies(spec, Floor, given)


def log_min_loss(log_y, mask):
    """``log y_min``, the smallest observed log loss of a curve (0 for a curve with no observed point)."""
    return observed_range(log_y, mask)[0]


def to_natural(v, log_y_min):
    """``(log L_min, log |d L_min / dv|)`` from the coordinate ``v``."""
    t, log_slope = log_drop(v)
    log_floor = log_y_min + t
    return log_floor, log_floor + log_slope


def from_natural(floor, log_y_min):
    """The coordinate ``v`` of a natural floor: the inverse of :func:`to_natural`."""
    return log_drop_inverse(jnp.log(floor) - log_y_min)


def sample(spec, inputs: Mapping[str, Array], log_y, mask) -> dict[str, Array]:
    """Sample (inside a NumPyro trace) the floor through its coordinate, with its prior and log-Jacobian."""
    declared = spec.law.coordinates
    (v,) = flat_sites(site_names(declared))
    log_floor, log_jacobian = to_natural(v, log_min_loss(log_y, mask))
    return record(spec.prior_dict, {declared.floor: jnp.exp(log_floor)}, log_jacobian)


def start_columns(spec, natural: Mapping[str, Array], curve) -> list[Array]:
    """Starting coordinates (``[starts]``) of natural starting values of the floor."""
    declared = spec.law.coordinates
    log_y_min = log_min_loss(curve.log_y, curve.mask)
    return [jax.vmap(lambda floor: from_natural(floor, log_y_min))(natural[declared.floor])]


MAP = CoordinateMap(Floor, site_names, applies, sample, start_columns)
