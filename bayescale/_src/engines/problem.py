"""The model of one curve as a flat, unconstrained log-density problem.

Engines work on a flat vector ``z`` (one entry per scalar site, positive sites
in log space). :class:`Problem` gives them pure functions of ``(z, curve)``;
every function is jittable and vmappable over curves, starts and chains.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions.transforms import biject_to
from numpyro.infer.util import constrain_fn, potential_energy

from bayescale._src.data import CurveBatch
from bayescale._src.model import NOISE, ModelSpec, build_model, latent_name


class Problem(NamedTuple):
    """Pure functions over the flat unconstrained vector of one curve.

    ``potential(z, curve)`` is the negative log joint density (Jacobians
    included); ``constrain(z, curve)`` gives every site in natural units,
    deterministic ones included; ``sites`` names the entries of ``z``.
    """

    spec: ModelSpec
    sites: tuple[str, ...]
    potential: Callable
    constrain: Callable
    potential_gen: Callable


def curve_args(curve: CurveBatch) -> tuple:
    return (curve.inputs, curve.log_y, curve.mask, curve.log_refs)


@functools.lru_cache(maxsize=128)
def make_problem(spec: ModelSpec) -> Problem:
    """Build (and cache, so compiled programs are reused) the problem of a model spec."""
    model = build_model(spec)
    sites = tuple(
        latent_name(n) if spec.law.param(n).scale_by else n for n in spec.sample_order
    ) + (NOISE,)

    def unravel(z):
        return {name: z[..., i] for i, name in enumerate(sites)}

    def potential(z, curve):
        return potential_energy(model, curve_args(curve), {}, unravel(z))

    def constrain(z, curve):
        return constrain_fn(model, curve_args(curve), {}, unravel(z), return_deterministic=True)

    def potential_gen(inputs, log_y, mask, log_refs):
        curve = CurveBatch(inputs, log_y, mask, log_refs)
        return lambda z: potential(z, curve)

    return Problem(spec, sites, potential, constrain, potential_gen)


def random_starts(problem: Problem, key, curve: CurveBatch, num_starts: int) -> jax.Array:
    """Dispersed starting points for one curve, ``[num_starts, sites]``.

    Plain parameters are drawn from their priors. A rescaled amplitude starts
    with its term at the reference size between e^-3 and 1 times the median
    observed loss; other rescaled parameters are drawn from their priors and
    shifted into the sampler's coordinates.
    """
    spec = problem.spec
    priors = spec.prior_dict
    keys = jax.random.split(key, len(problem.sites))
    log_median = jnp.sum(jnp.where(curve.mask, curve.log_y, 0.0)) / jnp.sum(curve.mask)
    natural: dict[str, jax.Array] = {}
    columns = []
    for k, site in zip(keys, problem.sites):
        name = site if site == NOISE else _param_of(spec, site)
        prior = priors[name]
        draw = prior.sample(k, (num_starts,))
        param = None if site == NOISE else spec.law.param(name)
        if param is None or not param.scale_by:
            natural[name] = draw
            columns.append(biject_to(prior.support).inv(draw))
        elif param.amplitude:
            u = jax.random.uniform(k, (num_starts,), minval=-3.0, maxval=0.0)
            columns.append(log_median + u)
        else:
            shift = sum(
                (1.0 if e is None else natural[e]) * curve.log_refs[i] for i, e in param.scale_by
            )
            columns.append(jnp.log(draw) - shift)
    return jnp.stack(columns, axis=-1).astype(curve.log_y.dtype)


def _param_of(spec: ModelSpec, site: str) -> str:
    for name in spec.sample_order:
        if site in (name, latent_name(name)):
            return name
    raise KeyError(site)


def to_device(batch: CurveBatch, dtype) -> CurveBatch:
    """Cast a numpy batch to JAX arrays of ``dtype`` (the mask stays boolean)."""
    cast = lambda a: jnp.asarray(np.asarray(a), dtype=dtype)  # noqa: E731
    return CurveBatch(
        {k: cast(v) for k, v in batch.inputs.items()},
        cast(batch.log_y),
        jnp.asarray(batch.mask, dtype=bool),
        {k: cast(v) for k, v in batch.log_refs.items()},
    )


__all__ = ["Problem", "make_problem", "random_starts", "to_device", "curve_args"]
