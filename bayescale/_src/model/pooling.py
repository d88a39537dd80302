"""Partial pooling: the one-curve model, transformed into a hierarchical model of a whole table.

Pooled parameters (by default the law's exponents) get a population
distribution in their unconstrained space, non-centred (Papaspiliopoulos,
Roberts and Skold 2007), which suits curves with few points each:

.. math::

    \\mu_k &\\sim \\mathcal N(m_k, s_k^2), \\qquad \\tau_k \\sim \\mathrm{HalfNormal}(t) \\\\
    \\epsilon_{gk} &\\sim \\mathcal N(0, 1), \\qquad
    \\theta_{gk} = T_k(\\mu_k + \\tau_k\\, \\epsilon_{gk})

with ``T_k`` the bijection onto the parameter's support (``exp`` for a
positive exponent) and ``(m_k, s_k)`` the mean and standard deviation of the
parameter's own prior mapped to the unconstrained space, so that with one
curve the population prior is the single-curve prior again. ``tau_k`` is the
spread of the parameter across curves (in log units for positive
parameters): ``tau -> 0`` is complete pooling, large ``tau`` no pooling.
Every other parameter, and ``sigma``, stays per curve with its own prior,
unless ``sigma`` is named in ``pooled`` (then the curves' noise scales share a
population too, in log units).

Mixing. The hierarchy is non-centred already; what slows NUTS on curves with
as few points as parameters (notebook 2: six 3-point curves of ``power_law``
among eight) is each short curve's noise scale: with its exponent free to move
by ``tau``, the curve passes through its points as ``sigma -> 0``, the joint
mode sits in that funnel (sigma = 0.001 on three curves) and the adapted step
sizes are 0.003-0.01 (acceptance 0.11-0.86 across chains, hundreds of leapfrog
steps per draw). Measured there, 4 chains x (1000 + 1000): pooling ``alpha``
only gives r_hat 1.16-1.22 for the hyper-parameters and up to 1.30 per curve
(ESS down to 10); ``pooled=["alpha", "sigma"]`` gives 1.01-1.04 and 1.08
(ESS 37 and up), step sizes 0.012-0.039.

:func:`pool` is a transformation of the one-curve model
(:func:`bayescale._src.model.model.build_model`): the hyper-priors, then the
one-curve model inside a plate of curves with the pooled parameters given. The
result is an ordinary :class:`~bayescale._src.model.problem.Problem` whose unit of
data is the whole table, so every engine serves pooled fits unchanged; its
``init`` starts from independent per-curve modes.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions.transforms import biject_to

from bayescale._src.model.data import CurveBatch, example_batch
from bayescale._src.engines.base import find_modes
from bayescale._src.model.model import NOISE, ModelSpec, build_model, curve_problem, reference_coordinates
from bayescale._src.model.problem import Problem, Sites, latent_sites, make_problem, ravel

POPULATION_SCALE = 0.2  # tau ~ HalfNormal(0.2): exponents of related curves differ by ~20%
CURVE_MAP_STEPS = 60  # Newton steps of the independent fits that start the joint mode


def mu_name(name: str) -> str:
    return f"{name}_mu"


def tau_name(name: str) -> str:
    return f"{name}_tau"


def offset_name(name: str) -> str:
    return f"{name}_offset"


def population_name(name: str) -> str:
    """The population median of a pooled parameter, ``T(mu)``, in natural units."""
    return f"{name}_population"


def default_pooled(spec: ModelSpec) -> tuple[str, ...]:
    """The law's own default (:attr:`Law.pooled <bayescale.laws.Law>`), else its exponents: the parameters that
    rescale an amplitude (``alpha``, ``beta``, ...)."""
    if spec.law.pooled:
        return tuple(spec.law.pooled)
    names = []
    for p in spec.law.params:
        for _, exponent in p.scale_by:
            if exponent is not None and exponent not in names:
                names.append(exponent)
    if not names:
        raise ValueError(
            f"law {spec.law.name!r} has no exponent that rescales an amplitude; name the parameters to pool "
            f"with pooled=[...] (it has {list(spec.law.param_names)})"
        )
    return tuple(names)


def check_pooled(spec: ModelSpec, pooled: tuple[str, ...]) -> None:
    missing = [n for n in pooled if n not in (*spec.law.param_names, NOISE)]
    if missing:
        raise ValueError(f"cannot pool {missing}: law {spec.law.name!r} has parameters {list(spec.law.param_names)}")
    for name in pooled:
        if name != NOISE and spec.law.param(name).scale_by:
            raise ValueError(f"cannot pool {name!r}: it is an amplitude rescaled by the reference size; pool exponents")


def unconstrained_moments(prior: dist.Distribution, num_draws: int = 20_000) -> tuple[float, float]:
    """Mean and sd of a prior in the unconstrained space of its support (Monte Carlo, fixed key)."""
    draws = prior.sample(jax.random.PRNGKey(0), (num_draws,))
    free = np.asarray(biject_to(prior.support).inv(draws), dtype=np.float64)
    return float(free.mean()), float(free.std())


def pool(curve_model: Callable, priors: dict[str, dist.Distribution], pooled: tuple[str, ...]) -> Callable:
    """The hierarchical model of a batch ``[curves, points]`` from the model of one curve.

    ``curve_model(inputs, log_y, mask, log_refs, given=...)`` is run inside a
    plate of curves (on dim -2, so per-curve sites are ``[curves, 1]`` and
    broadcast over points) with the ``pooled`` parameters given by their
    population distribution.
    """
    moments = {name: unconstrained_moments(priors[name]) for name in pooled}

    def model(inputs, log_y, mask, log_refs):
        hyper = {}
        for name in pooled:
            m, s = moments[name]
            mu = numpyro.sample(mu_name(name), dist.Normal(m, s))
            tau = numpyro.sample(tau_name(name), dist.HalfNormal(POPULATION_SCALE))
            numpyro.deterministic(population_name(name), biject_to(priors[name].support)(mu))
            hyper[name] = (mu, tau)
        with numpyro.plate("curves", log_y.shape[0], dim=-2):
            given = {}
            for name, (mu, tau) in hyper.items():
                eps = numpyro.sample(offset_name(name), dist.Normal(0.0, 1.0))
                given[name] = numpyro.deterministic(name, biject_to(priors[name].support)(mu + tau * eps))
            curve_model(inputs, log_y, mask, {k: v[:, None] for k, v in log_refs.items()}, given=given)

    return model


@functools.lru_cache(maxsize=32)
def pooled_problem(spec: ModelSpec, pooled: tuple[str, ...], num_curves: int) -> Problem:
    """The :class:`Problem` of ``num_curves`` curves with ``pooled`` parameters shared (cached by value)."""
    check_pooled(spec, pooled)
    # pooled parameters are given to the curve model, which then keeps the reference-scale coordinates;
    # the curves' starting modes must be found in the same coordinates
    spec = reference_coordinates(spec)
    model = pool(build_model(spec), spec.prior_dict, pooled)
    example = example_batch(spec.law.inputs, (num_curves,))
    init = functools.partial(_init, latent_sites(model, example), spec, pooled)
    return make_problem(model, ("pooled", spec, pooled, num_curves), example, init)


def _init(sites: Sites, spec: ModelSpec, pooled: tuple[str, ...], key, batch: CurveBatch, num_starts: int):
    """One start ``[1, dim]``: the joint vector that reproduces each curve's independent mode.

    Each pooled parameter starts with ``mu`` at the mean of the curves' modes,
    ``tau`` at their spread (floored so the offsets stay finite) and the
    offsets that reproduce each curve's mode.
    """
    curve = curve_problem(spec)
    keys = jax.random.split(key, batch.log_y.shape[0])
    modes = find_modes(curve, keys, batch, num_starts, CURVE_MAP_STEPS)
    values = {site: modes.z[:, i][:, None] for i, site in enumerate(curve.names)}
    for name in pooled:
        u = values.pop(name)
        mu = jnp.mean(u)
        tau = jnp.maximum(jnp.std(u), 0.05)
        values[mu_name(name)], values[tau_name(name)] = mu, jnp.log(tau)
        values[offset_name(name)] = (u - mu) / tau
    return ravel(sites, values)[None]


def unpack(values: dict[str, np.ndarray], num_curves: int, lead: int = 2
           ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Split constrained values of the one pooled unit into per-curve sites and population sites.

    ``values`` leaves are ``[1, *lead axes, *site_shape]`` (``lead`` is 2 for
    draws, ``[chains, draws]``, and 0 for the mode); per-curve sites (shape
    ``[curves, 1]``) come back with the curve axis first, ``[curves, *lead
    axes]``, population sites (scalars) as ``[*lead axes]``.
    """
    posterior, hyper = {}, {}
    for name, value in values.items():
        value = np.asarray(value)[0]
        if value.ndim == lead + 2:
            posterior[name] = np.moveaxis(value[..., 0], -1, 0)
        else:
            hyper[name] = value
    return posterior, hyper


__all__ = ["default_pooled", "pool", "pooled_problem", "unpack", "NOISE"]
