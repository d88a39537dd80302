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
``log p(A) + log A``. A law that declares :class:`~bayescale.laws.base.Ends`
samples its ``E + A x^-alpha`` core in end-point coordinates instead
(:mod:`bayescale._src.model.coordinates.ends`), with their Jacobian.

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
from numpyro.distributions.transforms import biject_to

from bayescale._src.model import runs as runs_mod
from bayescale._src.model import coordinates
from bayescale._src.model.data import CurveBatch, example_batch
from bayescale._src.model.joint_prior import JointPrior
from bayescale._src.model.prior_records import prior_key
from bayescale._src.model.problem import Pilot, Problem, make_problem
from bayescale.laws import Law
from bayescale.laws.base import log_shift

NOISE = "sigma"
OBSERVED = "log_loss"


LIKELIHOODS = ("student_t", "normal", "logit_student_t", "logit_normal")


class Likelihood(NamedTuple):
    """Observation noise: on log loss (``"student_t"``, robust default, or ``"normal"``), or on logit(y).

    The ``"logit_*"`` kinds are for bounded metrics ``0 < y < 1`` (error
    rates, 1 - accuracy) on their natural scale:

    .. math:: \\mathrm{logit}\\, y_i \\sim \\mathrm{StudentT}_\\nu\\big(\\mathrm{logit}\\, L(\\theta; x_i), \\sigma\\big),

    so the noise shrinks near both ends of the interval and predictions stay
    inside it. Laws built for such metrics (``m4``) keep ``L`` in ``(E, E0)``;
    a law's value at or above 1 is clipped just below 1.
    """

    kind: str = "student_t"
    df: float = 4.0
    runs: bool = False  # residuals correlated along each run (bayescale._src.model.runs); Gaussian kinds only

    @property
    def bounded(self) -> bool:
        """True for the likelihoods on logit(y), which need ``0 < y < 1``."""
        return self.kind.startswith("logit_")

    def dist(self, loc, scale) -> dist.Distribution:
        if self.kind in ("student_t", "logit_student_t"):
            return dist.StudentT(self.df, loc, scale)
        return dist.Normal(loc, scale)

    def observe(self, log_y):
        """The observed variable of the likelihood, from log y: log y itself, or logit y."""
        if not self.bounded:
            return log_y
        return log_y - jnp.log1p(-jnp.exp(log_y))

    def locate(self, log_l):
        """The likelihood's location from the law's log value: log L itself, or logit L (L clipped below 1)."""
        if not self.bounded:
            return log_l
        log_l = jnp.minimum(log_l, jnp.log1p(-jnp.finfo(jnp.result_type(log_l)).eps))
        return log_l - jnp.log1p(-jnp.exp(log_l))

    def log_jacobian(self, log_y):
        """``log |d observed / d y|``: the change of variables back to a density of y."""
        if not self.bounded:
            return -log_y
        return -log_y - jnp.log1p(-jnp.exp(log_y))

    def natural(self, value):
        """Back from the observed variable to y: exp, or the logistic function."""
        if not self.bounded:
            return jnp.exp(value)
        return jax.nn.sigmoid(value)


def default_likelihood(law, likelihood: str | Likelihood | None = None, runs: bool = False) -> str | Likelihood:
    """The likelihood given, else the law's own default (``law.likelihood``, e.g. ``m4``'s Gaussian on log
    loss), else ``"normal"`` with correlated runs (``runs``) and the robust ``"student_t"`` otherwise."""
    if likelihood is not None:
        return likelihood
    return law.likelihood or ("normal" if runs else "student_t")


def make_likelihood(spec: str | Likelihood) -> Likelihood:
    if isinstance(spec, Likelihood):
        lik = spec
    elif isinstance(spec, str):
        lik = Likelihood(kind=spec)
    else:
        raise TypeError(f"likelihood must be one of {', '.join(LIKELIHOODS)} or a Likelihood, got {spec!r}")
    if lik.kind not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood {lik.kind!r}; use one of {', '.join(map(repr, LIKELIHOODS))}")
    if not lik.df > 0:
        raise ValueError(f"the Student-t degrees of freedom must be positive, got {lik.df}")
    return lik


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
    """Everything that defines the model: the static argument of every compiled program.

    Equality and hashing go by value: two specs with the same law, priors of
    the same types and parameters (:func:`~bayescale._src.model.prior_records.prior_key`)
    and the same likelihood are equal, so they share one compiled program even
    when their prior objects were built separately. ``joint``, when given,
    replaces the product of the marginal priors of the parameters it covers
    by their joint density (:mod:`bayescale._src.model.joint_prior`).
    """

    law: Law
    priors: tuple[tuple[str, dist.Distribution], ...]
    likelihood: Likelihood
    joint: JointPrior | None = None

    def _key(self):
        return (self.law, tuple((name, prior_key(p)) for name, p in self.priors), self.likelihood, self.joint)

    def __eq__(self, other):
        return isinstance(other, ModelSpec) and self._key() == other._key()

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self._key())

    @property
    def prior_dict(self) -> dict[str, dist.Distribution]:
        return dict(self.priors)

    @property
    def sample_order(self) -> tuple[str, ...]:
        """Parameters in sampling order: exponents before the amplitudes they rescale."""
        plain = [p.name for p in self.law.params if not p.scale_by]
        scaled = [p.name for p in self.law.params if p.scale_by]
        return tuple(plain + scaled)


def reference_coordinates(spec: ModelSpec) -> ModelSpec:
    """``spec`` with its law's end-point coordinates turned off (reference-scale coordinates only)."""
    return spec._replace(law=spec.law._replace(coordinates=None)) if spec.law.coordinates is not None else spec


def param_values(
    spec: ModelSpec, log_refs: Mapping[str, Any], given: Mapping[str, Any] | None = None,
    curve: tuple | None = None,
) -> dict[str, Any]:
    """Sample (inside a NumPyro trace) every law parameter in natural units.

    Parameters in ``given`` (already sampled elsewhere, e.g. through a
    hierarchical prior) are used as they are. ``curve``, the curve's
    ``(inputs, log_y, mask)``, places the end-point coordinates of a law that
    declares them.
    """
    priors = spec.prior_dict
    values: dict[str, Any] = dict(given or {})
    coordinate_map = coordinates.for_spec(spec, given)
    if curve is not None and coordinate_map is not None:
        values.update(coordinate_map.sample(spec, *curve))
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
    point fits that need only the map from coordinates to parameters, in
    reference-scale coordinates (see :func:`reference_coordinates`).
    """
    if coordinates.for_spec(spec) is not None:
        raise ValueError(f"natural_params maps reference-scale coordinates; pass reference_coordinates(spec) "
                         f"for law {spec.law.name!r}")
    priors = spec.prior_dict
    values: dict[str, Any] = {}
    for i, name in enumerate(spec.sample_order):
        param = spec.law.param(name)
        if param.scale_by:
            values[name] = jnp.exp(z[..., i] + log_shift(param, values, log_refs))
        else:
            values[name] = biject_to(priors[name].support)(z[..., i])
    return values


def joint_correction(spec: ModelSpec, values: Mapping[str, Any]) -> None:
    """The factor that turns the marginal priors of ``spec.joint``'s parameters into their joint prior.

    The sample sites already carry ``sum_k log p_k(theta_k)`` (with their
    Jacobians); adding ``log p(theta) - sum_k log p_k(theta_k)``, both in
    natural units, leaves the joint density.
    """
    joint = spec.joint
    if joint is None:
        return
    priors = spec.prior_dict
    supports = {name: priors[name].support for name in joint.names}
    marginal = sum(priors[name].log_prob(values[name]) for name in joint.names)
    numpyro.factor("joint_prior", joint.log_prob(values, supports) - marginal)


def prior_draws(spec: ModelSpec, keys, shape: tuple[int, ...]) -> dict[str, jax.Array]:
    """Draws of every site from the prior, ``{name: shape}``: each parameter from its prior with its own key
    (``keys[i]`` for the i-th prior), those of ``spec.joint`` replaced by joint draws (key ``keys[-1]`` folded)."""
    draws = {name: prior.sample(k, shape) for k, (name, prior) in zip(keys, spec.priors)}
    if spec.joint is not None:  # the parameters it covers move together
        supports = {name: prior.support for name, prior in spec.priors}
        draws.update(spec.joint.sample(jax.random.fold_in(keys[-1], 1), shape, supports))
    return draws


def log_mean(law: Law, values: Mapping[str, Any], inputs: Mapping[str, Any]) -> Any:
    """``log L(theta; x)``, floored so a degenerate draw gives a finite, terrible fit."""
    mean = law.fn(values, inputs)
    return jnp.log(jnp.maximum(mean, jnp.finfo(jnp.result_type(mean)).tiny))


def build_model(spec: ModelSpec) -> Callable[..., None]:
    """The NumPyro model of one curve: ``model(inputs, log_y, mask, log_refs, given=None)``.

    ``given`` maps parameter names to values drawn elsewhere; the partially
    pooled model (:mod:`bayescale._src.model.pooling`) runs this model inside a plate
    of curves with the pooled parameters given by their population.
    """
    noise_prior = spec.prior_dict[NOISE]
    if spec.likelihood.runs:
        return _run_model(spec)

    def model(inputs, log_y, mask, log_refs, given=None):
        values = param_values(spec, log_refs, given, (inputs, log_y, mask))
        sigma = given[NOISE] if given is not None and NOISE in given else numpyro.sample(NOISE, noise_prior)
        joint_correction(spec, {**values, NOISE: sigma})
        lik = spec.likelihood
        loc = lik.locate(log_mean(spec.law, values, inputs))
        with numpyro.plate("points", log_y.shape[-1], dim=-1), numpyro.handlers.mask(mask=mask):
            numpyro.sample(OBSERVED, lik.dist(loc, sigma), obs=lik.observe(log_y))

    return model


def _run_model(spec: ModelSpec) -> Callable[..., None]:
    """The model of one curve whose points are checkpoints of runs (:mod:`bayescale._src.model.runs`):
    ``model(inputs, log_y, mask, log_refs, gap, first)``, the observations one vector site."""
    priors = spec.prior_dict

    def model(inputs, log_y, mask, log_refs, gap, first):
        values = param_values(spec, log_refs, curve=(inputs, log_y, mask))
        sigma = numpyro.sample(NOISE, priors[NOISE])
        run_sd, run_length = (numpyro.sample(name, priors[name]) for name in runs_mod.SITES)
        joint_correction(spec, {**values, NOISE: sigma, runs_mod.SITES[0]: run_sd, runs_mod.SITES[1]: run_length})
        lik = spec.likelihood
        loc = lik.locate(log_mean(spec.law, values, inputs))
        numpyro.sample(OBSERVED, runs_mod.CorrelatedRuns(loc, run_sd, run_length, sigma, gap, first, mask),
                       obs=lik.observe(log_y))

    return model


@functools.lru_cache(maxsize=128)
def curve_problem(spec: ModelSpec) -> Problem:
    """The :class:`~bayescale._src.model.problem.Problem` of one curve under ``spec`` (cached by value).

    With correlated runs (``spec.likelihood.runs``) the problem's mode search
    starts from the modes of the same checkpoints as independent points (its
    :class:`~bayescale._src.model.problem.Pilot`, see :func:`run_pilot`), and
    takes its derivatives by forward mode through the filter's scan.
    """
    example = example_batch(spec.law.inputs)
    init = functools.partial(random_starts, spec)
    if not spec.likelihood.runs:
        return make_problem(build_model(spec), ("curve", spec), example, init,
                            prior=functools.partial(prior_particles, spec))
    pilot = run_pilot(spec)
    problem = make_problem(build_model(spec), ("curve", spec), runs_mod.example(example), init, pilot, forward=True)
    if problem.sites != pilot.problem.sites + tuple((name, ()) for name in runs_mod.SITES):
        raise AssertionError(f"the run-aware sites {problem.sites} are not the independent model's "
                             f"{pilot.problem.sites} followed by {runs_mod.SITES}")
    return problem


def independent_spec(spec: ModelSpec) -> ModelSpec:
    """The model of ``spec``'s checkpoints as independent points: the same law, priors and likelihood kind,
    without the run sites."""
    return spec._replace(priors=tuple((name, p) for name, p in spec.priors if name not in runs_mod.SITES),
                         likelihood=spec.likelihood._replace(runs=False))


def run_pilot(spec: ModelSpec) -> Pilot:
    """The pilot of the run-aware problem: the checkpoints as independent points (:func:`independent_spec`),
    each of its end points lifted to the grid of noise values of :func:`~bayescale._src.model.runs.start_grid`."""
    pilot = curve_problem(independent_spec(spec))
    if pilot.sites[-1][0] != NOISE:
        raise AssertionError(f"the independent model's last site is {pilot.sites[-1][0]!r}, not {NOISE!r}")
    priors = spec.prior_dict
    share, length = runs_mod.start_grid()

    def unconstrained(name, value):
        return biject_to(priors[name].support).inv(value)

    def lift(z, data):
        scale = biject_to(priors[NOISE].support)(z[-1])
        noise = [unconstrained(NOISE, scale * jnp.sqrt(1.0 - share)),
                 unconstrained(runs_mod.RUN_SD, scale * jnp.sqrt(share)),
                 unconstrained(runs_mod.RUN_LENGTH, jnp.asarray(length, z.dtype))]
        law = jnp.broadcast_to(z[:-1], (len(share), z.shape[-1] - 1))
        return jnp.concatenate([law, jnp.stack(noise, axis=-1).astype(z.dtype)], axis=-1)

    return Pilot(pilot, lambda data: CurveBatch(*data[:4]), lift)


def random_starts(spec: ModelSpec, key, curve: CurveBatch, num_starts: int) -> jax.Array:
    """Dispersed starting points for one curve, ``[num_starts, sites]``.

    Plain parameters are drawn from their priors. A rescaled amplitude starts
    with its term at the reference size between e^-3 and 1 times the median
    observed loss; other rescaled parameters are drawn from their priors and
    shifted into the sampler's coordinates. End-point coordinates are those of
    the natural values so drawn.
    """
    priors = spec.prior_dict
    names = _site_params(spec)
    keys = jax.random.split(key, len(names))
    log_median = jnp.sum(jnp.where(curve.mask, curve.log_y, 0.0)) / jnp.sum(curve.mask)
    natural: dict[str, jax.Array] = {}
    amplitudes: dict[str, jax.Array] = {}  # the sampler coordinate of each rescaled amplitude, by name
    for k, name in zip(keys, names):
        param = _law_param(spec, name)
        if param is not None and param.scale_by and param.amplitude:
            amplitudes[name] = log_median + jax.random.uniform(k, (num_starts,), minval=-3.0, maxval=0.0)
            natural[name] = jnp.exp(amplitudes[name] + log_shift(param, natural, curve.log_refs))
        else:
            natural[name] = priors[name].sample(k, (num_starts,))
    return _flat(spec, natural, curve, amplitudes)


def prior_particles(spec: ModelSpec, key, curve: CurveBatch, num: int) -> jax.Array:
    """``num`` draws of the model's prior in the sampler's flat coordinates of one curve, ``[num, sites]``.

    The natural values come from :func:`prior_draws` (a joint prior's parameters together), and each is
    mapped to its coordinate as :func:`random_starts` maps its starts, so the draws have the density that
    the model's potential gives the prior (its Jacobians included).
    """
    priors = spec.prior_dict
    names = _site_params(spec)
    natural = prior_draws(spec, jax.random.split(key, len(spec.priors)), (num,))
    missing = [name for name in names if name not in natural or name not in priors]
    if missing:
        raise ValueError(f"prior_particles: no prior draws of {missing}")
    return _flat(spec, natural, curve)


def _site_params(spec: ModelSpec) -> list[str]:
    """The parameters behind the problem's sites, in trace order."""
    extra = list(runs_mod.SITES) if spec.likelihood.runs else []
    return [*spec.sample_order, NOISE, *extra]


def _law_param(spec: ModelSpec, name: str):
    return None if name == NOISE or name in runs_mod.SITES else spec.law.param(name)


def _flat(spec: ModelSpec, natural: Mapping[str, jax.Array], curve: CurveBatch,
          given: Mapping[str, jax.Array] | None = None) -> jax.Array:
    """The sampler's flat coordinates ``[n, sites]`` of natural values ``{name: [n]}`` on ``curve``: a plain
    parameter's unconstrained value, a rescaled one's log shifted to the reference size, end-point
    coordinates through the law's map; ``given``: coordinates already known, by parameter name."""
    priors = spec.prior_dict
    names = _site_params(spec)
    columns: dict[str, jax.Array] = dict(given or {})  # sampler coordinate of each parameter, by parameter name
    for name in names:
        if name in columns:
            continue
        param = _law_param(spec, name)
        if param is None or not param.scale_by:
            columns[name] = biject_to(priors[name].support).inv(natural[name])
        else:
            columns[name] = jnp.log(natural[name]) - log_shift(param, natural, curve.log_refs)
    ordered = [columns[name] for name in names]
    coordinate_map = coordinates.for_spec(spec)
    if coordinate_map is not None:
        rest = [columns[name] for name in names if name not in spec.law.coordinates.params]
        ordered = coordinate_map.start_columns(spec, natural, curve) + rest
    return jnp.stack(ordered, axis=-1).astype(curve.log_y.dtype)


@functools.partial(jax.jit, static_argnums=0)
def pointwise_log_likelihood(spec: ModelSpec, values, sigma, inputs, log_y):
    """Log density of each observed loss (on the loss scale, so the Jacobian, ``- log y``, is included)."""
    lik = spec.likelihood
    loc = lik.locate(log_mean(spec.law, values, inputs))
    return lik.dist(loc, sigma).log_prob(lik.observe(log_y)) + lik.log_jacobian(log_y)


@functools.partial(jax.jit, static_argnums=0)
def run_pointwise_log_likelihood(spec, values, sigma, run_sd, run_length, inputs, log_y, gap, first, mask):
    """Conditional log density of each observed loss given the earlier checkpoints of its run, on the loss
    scale (Jacobian included): ``[..., points]``; the sum over a curve is its exact log-likelihood."""
    lik = spec.likelihood
    loc = lik.locate(log_mean(spec.law, values, inputs))
    resid = lik.observe(log_y) - loc
    return runs_mod.innovations(resid, run_sd, run_length, sigma, gap, first, mask) + lik.log_jacobian(log_y)
