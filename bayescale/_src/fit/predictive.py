"""The posterior (or prior) predictive of a law: one function for ``Fit``, ``Stack``, ``bs.evaluate``,
``bs.sbc`` and the prior predictive.

A draw of the predictive at inputs ``x`` is the law's location in the
likelihood's space (``log L``, or ``logit L`` for bounded metrics), moved by the
discrepancy ``shift`` (:mod:`bayescale._src.fit.discrepancy`; zero for the law
assumed exactly true) and, for a new observation, by the likelihood's noise at
the draw's scale. Inputs are either shared by every curve (leaves ``[points]``)
or each curve's own (leaves ``[curves, points]``, as held-out points are).
"""

from __future__ import annotations

import functools
from typing import Mapping

import jax
import jax.numpy as jnp

from bayescale._src.model.model import ModelSpec, log_mean
from bayescale._src.model.noise import standard_noise


@functools.partial(jax.jit, static_argnums=(0, 5))
def draws(spec: ModelSpec, params: Mapping[str, jax.Array], sigma: jax.Array, x: Mapping[str, jax.Array], key,
          observation: bool, shift=0.0) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Predictive draws for parameter draws ``params`` (leaves ``[curves, draws]``) and scales ``sigma``
    (``[curves, draws]``).

    Returns
    -------
    law, full, location
        ``[curves, draws, points]`` each: the law's own values (natural units), the full predictive (the
        discrepancy ``shift`` added and, with ``observation``, the noise) in natural units, and the
        location of each draw in the likelihood's space (law plus discrepancy, before the noise).
    """
    lik = spec.likelihood

    def curve(p, xc):
        return jax.vmap(lambda q: lik.locate(log_mean(spec.law, q, xc)))(p)  # [draws, points]

    per_curve = next(iter(x.values())).ndim == 2
    law = jax.vmap(curve, in_axes=(0, 0 if per_curve else None))(params, x)
    loc = law + shift
    full = loc + sigma[..., None] * standard_noise(lik, key, law.shape, law.dtype) if observation else loc
    return lik.natural(law), lik.natural(full), jnp.broadcast_to(loc, law.shape)
