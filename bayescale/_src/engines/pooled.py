"""The hierarchical (partially pooled) model of a batch of curves as one flat problem.

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
Every other parameter, and ``sigma``, stays per curve with its own prior.

The whole batch is one log density (the curves are no longer independent),
over the flat vector ``[mu, tau (log), then per site: one entry per curve]``;
the engines (Newton, Laplace, NUTS) run on it as on one curve.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions.transforms import biject_to
from numpyro.infer.util import constrain_fn, potential_energy

from bayescale._src.data import CurveBatch
from bayescale._src.model import NOISE, OBSERVED, ModelSpec, latent_name, log_mean, param_values

POPULATION_SCALE = 0.2  # tau ~ HalfNormal(0.2): exponents of related curves differ by ~20%


class PooledProblem(NamedTuple):
    """Pure functions over the flat vector of a whole batch (see the module docstring)."""

    spec: ModelSpec
    pooled: tuple[str, ...]
    num_curves: int
    sites: tuple[tuple[str, int], ...]  # (name, size) in the order of the flat vector
    potential: callable
    constrain: callable
    potential_gen: callable


def mu_name(name: str) -> str:
    return f"{name}_mu"


def tau_name(name: str) -> str:
    return f"{name}_tau"


def offset_name(name: str) -> str:
    return f"{name}_offset"


def population_name(name: str) -> str:
    """The population median of a pooled parameter, ``T(mu)``, in natural units."""
    return f"{name}_population"


def unconstrained_moments(prior: dist.Distribution, num_draws: int = 20_000) -> tuple[float, float]:
    """Mean and sd of a prior in the unconstrained space of its support (Monte Carlo, fixed key)."""
    draws = prior.sample(jax.random.PRNGKey(0), (num_draws,))
    free = np.asarray(biject_to(prior.support).inv(draws), dtype=np.float64)
    return float(free.mean()), float(free.std())


def build_model(spec: ModelSpec, pooled: tuple[str, ...]):
    """The NumPyro model of a batch ``[curves, points]`` with ``pooled`` parameters shared through hyper-priors."""
    priors = spec.prior_dict
    moments = {name: unconstrained_moments(priors[name]) for name in pooled}

    def model(inputs, log_y, mask, log_refs):
        num_curves = log_y.shape[0]
        hyper = {}
        for name in pooled:
            m, s = moments[name]
            mu = numpyro.sample(mu_name(name), dist.Normal(m, s))
            tau = numpyro.sample(tau_name(name), dist.HalfNormal(POPULATION_SCALE))
            numpyro.deterministic(population_name(name), biject_to(priors[name].support)(mu))
            hyper[name] = (mu, tau)
        # curves along dim -2 so that every per-curve site is [curves, 1] and broadcasts over points
        with numpyro.plate("curves", num_curves, dim=-2):
            given = {}
            for name, (mu, tau) in hyper.items():
                eps = numpyro.sample(offset_name(name), dist.Normal(0.0, 1.0))
                given[name] = numpyro.deterministic(name, biject_to(priors[name].support)(mu + tau * eps))
            refs = {k: v[:, None] for k, v in log_refs.items()}
            values = param_values(spec, refs, given)
            sigma = numpyro.sample(NOISE, priors[NOISE])
            lik = spec.likelihood
            loc = lik.locate(log_mean(spec.law, values, inputs))
            with numpyro.plate("points", log_y.shape[-1], dim=-1), numpyro.handlers.mask(mask=mask):
                numpyro.sample(OBSERVED, lik.dist(loc, sigma), obs=lik.observe(log_y))

    return model


@functools.lru_cache(maxsize=32)
def make_problem(spec: ModelSpec, pooled: tuple[str, ...], num_curves: int) -> PooledProblem:
    """Build (and cache) the pooled problem of ``num_curves`` curves."""
    missing = [n for n in pooled if n not in spec.law.param_names]
    if missing:
        raise ValueError(f"cannot pool {missing}: law {spec.law.name!r} has parameters {list(spec.law.param_names)}")
    for name in pooled:
        if spec.law.param(name).scale_by:
            raise ValueError(f"cannot pool {name!r}: it is an amplitude rescaled by the reference size; pool exponents")
    model = build_model(spec, pooled)
    hyper_sites = [(s, 1) for n in pooled for s in (mu_name(n), tau_name(n))]
    curve_sites = [(offset_name(n), num_curves) for n in pooled]
    for name in spec.sample_order:
        if name not in pooled:
            site = latent_name(name) if spec.law.param(name).scale_by else name
            curve_sites.append((site, num_curves))
    curve_sites.append((NOISE, num_curves))
    sites = tuple(hyper_sites + curve_sites)

    def unravel(z):
        out, start = {}, 0
        for name, size in sites:
            out[name] = z[start] if size == 1 else z[start : start + size][:, None]
            start += size
        return out

    def args(batch):
        return (batch.inputs, batch.log_y, batch.mask, batch.log_refs)

    def potential(z, batch):
        return potential_energy(model, args(batch), {}, unravel(z))

    def constrain(z, batch):
        return constrain_fn(model, args(batch), {}, unravel(z), return_deterministic=True)

    def potential_gen(inputs, log_y, mask, log_refs):
        batch = CurveBatch(inputs, log_y, mask, log_refs)
        return lambda z: potential(z, batch)

    return PooledProblem(spec, tuple(pooled), num_curves, sites, potential, constrain, potential_gen)


def initial_point(problem: PooledProblem, curve_modes: dict[str, jax.Array]) -> jax.Array:
    """A flat starting vector from independent per-curve modes (unconstrained coordinates, ``[curves]`` each).

    Each pooled parameter starts with ``mu`` at the mean of the curves' modes,
    ``tau`` at their spread (floored so the offsets stay finite) and the
    offsets that reproduce each curve's mode.
    """
    parts = []
    hyper = {}
    for name in problem.pooled:
        u = curve_modes[name]
        mu = jnp.mean(u)
        tau = jnp.maximum(jnp.std(u), 0.05)
        hyper[name] = (mu, tau)
        parts += [mu[None], jnp.log(tau)[None]]
    for site, size in problem.sites:
        if size == 1:
            continue
        base = site[: -len("_offset")] if site.endswith("_offset") and site[: -len("_offset")] in hyper else None
        if base is not None:
            mu, tau = hyper[base]
            parts.append((curve_modes[base] - mu) / tau)
        else:
            parts.append(curve_modes[site])
    return jnp.concatenate(parts)
