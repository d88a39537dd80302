"""The NumPyro model of one curve, built from a law, its priors and a likelihood.

.. math::

    \\theta &\\sim p(\\theta) \\quad \\text{(natural units, per parameter)} \\\\
    \\sigma &\\sim p(\\sigma) \\\\
    \\log y_i &\\sim \\mathrm{StudentT}_\\nu\\big(\\log L(\\theta; x_i), \\sigma\\big)
    \\quad\\text{or}\\quad \\mathrm{Normal}\\big(\\log L(\\theta; x_i), \\sigma\\big)

The likelihood lives in log space because losses are positive and their errors
are closer to multiplicative than additive. Rescaled parameters (see
:mod:`bayescale.laws.base`) are sampled as ``log_<name>_ref``, the log of their
term at the reference size, and the user's prior on the natural value enters as
a factor; the shear has unit Jacobian, so the factor is just
``log p(A) + log A``.

The model is a plain function of one curve's arrays; engines vmap it.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

from bayescale.laws import Law
from bayescale.laws.base import log_shift

NOISE = "sigma"
OBSERVED = "log_loss"


class Likelihood(NamedTuple):
    """Observation noise on log loss: ``"student_t"`` (robust, default) or ``"normal"``."""

    kind: str = "student_t"
    df: float = 4.0

    def dist(self, loc, scale) -> dist.Distribution:
        if self.kind == "student_t":
            return dist.StudentT(self.df, loc, scale)
        return dist.Normal(loc, scale)


def make_likelihood(spec: str | Likelihood) -> Likelihood:
    if isinstance(spec, Likelihood):
        lik = spec
    elif isinstance(spec, str):
        lik = Likelihood(kind=spec)
    else:
        raise TypeError(f"likelihood must be 'student_t', 'normal' or a Likelihood, got {spec!r}")
    if lik.kind not in ("student_t", "normal"):
        raise ValueError(f"unknown likelihood {lik.kind!r}; use 'student_t' or 'normal'")
    if not lik.df > 0:
        raise ValueError(f"the Student-t degrees of freedom must be positive, got {lik.df}")
    return lik


# one shared object: model specs (and so compiled programs) are cached on prior identity
_NOISE_PRIOR = dist.LogNormal(math.log(0.02), 1.0)


def default_noise_prior() -> dist.Distribution:
    """sigma ~ LogNormal(log 0.02, 1): residuals of 0.4% to 10% in loss (90%), median 2%.

    The prior avoids zero on purpose. With about as many points as law
    parameters the law can pass through every point, and a prior with mass at
    ``sigma = 0`` (a half-normal) then makes the posterior a funnel into
    ``sigma -> 0`` that NUTS cannot explore (divergences, r_hat > 1.01); a
    zero-avoiding prior keeps few-run posteriors regular (Chung et al. 2013,
    "A nondegenerate penalized likelihood estimator for variance parameters
    in multilevel models", Psychometrika).
    """
    return _NOISE_PRIOR


def latent_name(name: str) -> str:
    """Sampler coordinate of a rescaled parameter."""
    return f"log_{name}_ref"


class ModelSpec(NamedTuple):
    """Everything that defines the model, hashable so compiled programs can be cached on it."""

    law: Law
    priors: tuple[tuple[str, dist.Distribution], ...]
    likelihood: Likelihood

    @property
    def prior_dict(self) -> dict[str, dist.Distribution]:
        return dict(self.priors)

    @property
    def sample_order(self) -> tuple[str, ...]:
        """Parameters in sampling order: exponents before the amplitudes they rescale."""
        plain = [p.name for p in self.law.params if not p.scale_by]
        scaled = [p.name for p in self.law.params if p.scale_by]
        return tuple(plain + scaled)


def param_values(
    spec: ModelSpec, log_refs: Mapping[str, Any], given: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Sample (inside a NumPyro trace) every law parameter in natural units.

    Parameters in ``given`` (already sampled elsewhere, e.g. through a
    hierarchical prior) are used as they are.
    """
    priors = spec.prior_dict
    values: dict[str, Any] = dict(given or {})
    for name in spec.sample_order:
        if name in values:
            continue
        param = spec.law.param(name)
        if not param.scale_by:
            values[name] = numpyro.sample(name, priors[name])
            continue
        z = numpyro.sample(latent_name(name), dist.ImproperUniform(constraints.real, (), ()))
        log_value = z + log_shift(param, values, log_refs)
        value = jnp.exp(log_value)
        numpyro.factor(f"{name}_prior", priors[name].log_prob(value) + log_value)
        values[name] = numpyro.deterministic(name, value)
    return values


def natural_params(spec: ModelSpec, z, log_refs: Mapping[str, Any]) -> dict[str, Any]:
    """Law parameters in natural units from the sampler's coordinates ``z`` (sites in sample order).

    The deterministic counterpart of :func:`param_values`, without priors, for
    point fits that need only the map from coordinates to parameters.
    """
    from numpyro.distributions.transforms import biject_to

    priors = spec.prior_dict
    values: dict[str, Any] = {}
    for i, name in enumerate(spec.sample_order):
        param = spec.law.param(name)
        if param.scale_by:
            values[name] = jnp.exp(z[..., i] + log_shift(param, values, log_refs))
        else:
            values[name] = biject_to(priors[name].support)(z[..., i])
    return values


def log_mean(law: Law, values: Mapping[str, Any], inputs: Mapping[str, Any]) -> Any:
    """``log L(theta; x)``, floored so a degenerate draw gives a finite, terrible fit."""
    mean = law.fn(values, inputs)
    return jnp.log(jnp.maximum(mean, jnp.finfo(jnp.result_type(mean)).tiny))


def build_model(spec: ModelSpec) -> Callable[..., None]:
    """The NumPyro model of one curve: ``model(inputs, log_y, mask, log_refs)``."""
    noise_prior = spec.prior_dict[NOISE]

    def model(inputs, log_y, mask, log_refs):
        values = param_values(spec, log_refs)
        sigma = numpyro.sample(NOISE, noise_prior)
        loc = log_mean(spec.law, values, inputs)
        with numpyro.plate("points", log_y.shape[-1]), numpyro.handlers.mask(mask=mask):
            numpyro.sample(OBSERVED, spec.likelihood.dist(loc, sigma), obs=log_y)

    return model


@functools.partial(jax.jit, static_argnums=0)
def pointwise_log_likelihood(spec: ModelSpec, values, sigma, inputs, log_y):
    """Log density of each observed loss (on the loss scale, so ``- log y`` is included)."""
    loc = log_mean(spec.law, values, inputs)
    return spec.likelihood.dist(loc, sigma).log_prob(log_y) - log_y
