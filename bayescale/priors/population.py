r"""Population priors: what many curves say about a new one.

Two estimates of the population a new curve is drawn from.

**Empirical Bayes from per-curve fits** (:func:`from_curves`, :func:`from_fits`).
Each curve of the corpus is fitted on its own (one batched Laplace fit by
default). Its posterior mean in the joint prior's coordinates
(:mod:`bayescale._src.model.joint_prior`: ``log`` of each positive parameter, the
amplitudes as the log of their term at the corpus's reference inputs ``x_0``,
``log sigma``) is one draw ``c_g`` from the population. With a
normal-inverse-Wishart prior on the population's mean and covariance (flat on
the mean, ``Sigma ~ IW(k D, d + 1 + k)`` with ``D`` the diagonal of the
sample covariance, so that ``E[Sigma] = D``: a ridge toward independent
coordinates worth ``k`` pseudo-curves), the predictive of a new curve is the
multivariate Student-t

.. math::

    c_{new} \sim t_{n + k + 2}\Big(\bar c,\;
    \frac{(n + 1)\,(k D + S)}{n\,(n + k + 2)}\Big), \qquad
    S = \sum_g (c_g - \bar c)(c_g - \bar c)^T

(Gelman et al. 2013, *Bayesian Data Analysis*, 3rd ed., section 3.6). It keeps
the correlations between parameters that are strong across curves (``E``
against ``alpha``, the amplitude against both) and widens for a small corpus
through its heavy tails. The estimate of each ``c_g`` carries its own
estimation noise, so ``S`` over-states the population's spread a little: the
prior errs wide.

**The hyper-posterior of a partially pooled fit** (:func:`population_priors`).
A partially pooled fit (:mod:`bayescale._src.model.pooling`) gives each pooled
parameter a population ``T^{-1}(theta_g) = mu + tau * eps_g``; a new curve
has ``mu + tau * z``, whose moments are exact,

.. math::

    \mathrm E[T^{-1}\theta_{new}] = \mathrm E[\mu], \qquad
    \mathrm{Var}[T^{-1}\theta_{new}] = \mathrm{Var}[\mu] + \mathrm E[\tau^2],

and the prior is the normal with those moments, mapped back by ``T``, one per
parameter (independent). Parameters that are not pooled (the amplitudes) get
the moment match of the mixture of the curves' posteriors.

Both are the Bayesian counterpart of a prior-fitted network's synthetic prior
(Adriaensen et al. 2023, "Efficient Bayesian learning curve extrapolation
using prior-data fitted networks", NeurIPS), learned from real curves and
inspectable (``bs.priors.used(law, priors)``, ``priors.correlation()``).
"""

from __future__ import annotations

from typing import Any, Mapping

import warnings

import numpy as np
from numpyro.distributions.transforms import biject_to

from bayescale._src.model.joint_prior import JointPrior, PopulationPrior
from bayescale._src.model.model import NOISE
from bayescale._src.model.pooling import mu_name, tau_name
from bayescale.priors import shipped
from bayescale.priors.transfer import unconstrained_normal
from bayescale._src.precision import float64


PSEUDO_CURVES = 1.0
MARGINAL_DRAWS = 4000


@float64
def from_curves(
    data: Any,
    law: Any,
    group: str,
    *,
    method: str = "laplace",
    pseudo_curves: float = PSEUDO_CURVES,
    **fit_options: Any,
) -> PopulationPrior:
    """A joint prior for a new curve, learned from the curves in ``data`` (empirical Bayes).

    Parameters
    ----------
    data
        A table of many curves (the corpus), e.g. one domain of
        ``bs.datasets.load("revisiting_lang")``.
    law
        The law (name or :class:`~bayescale.laws.Law`).
    group
        The column naming each curve.
    method
        How each curve is fitted (``bs.fit``'s ``method``; Laplace by default:
        one batched optimization of every curve).
    pseudo_curves
        ``k``, the weight of the ridge toward independent coordinates (see the
        module docstring).
    **fit_options
        Passed to :func:`bayescale.fit` (``x``, ``y``, ``columns``,
        ``likelihood``, ``priors``, ``seed``, sampler settings).

    Returns
    -------
    PopulationPrior
        A mapping of parameter -> marginal prior (every law parameter and
        ``sigma``) carrying the joint prior, for ``bs.fit(new_curve, law,
        priors=...)``; see :func:`from_fits`.
    """
    from bayescale._src.fit.fitting import fit as run_fit

    return from_fits(run_fit(data, law=law, group=group, method=method, **fit_options), pseudo_curves)


@float64
def from_fits(fit, pseudo_curves: float = PSEUDO_CURVES) -> PopulationPrior:
    """The population predictive (module docstring) of the curves of a grouped, unpooled ``fit``."""
    if not fit.grouped or len(fit.groups) < 2:
        raise ValueError(f"a population prior needs a grouped fit of at least 2 curves; this one has {len(fit.groups)}")
    if fit.hyper:
        raise ValueError("from_fits reads curves fitted on their own; for a partially pooled fit use population_priors")
    if not (np.isfinite(pseudo_curves) and pseudo_curves > 0):
        raise ValueError(f"pseudo_curves must be a positive number, got {pseudo_curves!r}")
    law, priors = fit.law, fit.spec.prior_dict
    names = (*law.param_names, NOISE)
    log_reference = reference_inputs(law, fit.inputs)
    shifts = tuple(tuple((exponent, log_reference[inp]) for inp, exponent in law.param(n).scale_by)
                   if n != NOISE else () for n in names)
    shell = JointPrior(law.name, names, (), (), np.inf, shifts, tuple(log_reference.items()))
    supports = {n: priors[n].support for n in names}
    draws = {n: fit.draws(n) for n in names}  # [curves, draws]
    points = np.asarray(shell.coordinates(draws, supports), dtype=np.float64).mean(axis=1)  # [curves, d]
    bad = ~np.isfinite(points).all(axis=1)
    if bad.any():
        raise ValueError(f"the fits of curve(s) {[g for g, b in zip(fit.groups, bad) if b]} are not finite")
    loc, scale, df = student_t_predictive(points, pseudo_curves)
    joint = shell._replace(loc=tuple(loc), scale_tril=tuple(map(tuple, np.linalg.cholesky(scale))), df=df)
    return PopulationPrior(marginal_priors(joint, supports), joint)


def reference_inputs(law, inputs: Mapping[str, np.ndarray]) -> dict[str, float]:
    """``log x_0``: the mean log of each input that an amplitude is rescaled by, over all rows."""
    used = sorted({inp for p in law.params for inp, _ in p.scale_by})
    out = {}
    for inp in used:
        x = np.asarray(inputs[inp], dtype=np.float64)
        if not (x > 0).all():
            raise ValueError(f"input {inp!r} must be positive to serve as the amplitudes' reference")
        out[inp] = float(np.log(x).mean())
    return out


def student_t_predictive(points: np.ndarray, pseudo_curves: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Location, scale matrix and degrees of freedom of the normal-inverse-Wishart predictive of a new point."""
    n, d = points.shape
    centre = points.mean(axis=0)
    resid = points - centre
    scatter = resid.T @ resid
    target = np.diag(np.diag(scatter) / max(n - 1, 1))
    if not (np.diag(target) > 0).all():
        raise ValueError("the curves agree exactly on some parameter: no spread to learn a prior from")
    df = n + pseudo_curves + 2.0
    scale = (pseudo_curves * target + scatter) * (n + 1) / (n * df)
    return centre, scale, float(df)


def marginal_priors(joint: JointPrior, supports: Mapping[str, Any], seed: int = 0) -> dict:
    """Per parameter, the normal in its unconstrained space with the joint prior's mean and sd there.

    The amplitudes' ``log A = c_A + alpha log x_0`` is not Student-t; its moments come from
    ``MARGINAL_DRAWS`` draws (NumPy, so that no JAX sampler is compiled for a table).
    """
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((MARGINAL_DRAWS, len(joint.names))) @ np.asarray(joint.scale_tril).T
    if np.isfinite(joint.df):
        z *= np.sqrt(joint.df / rng.chisquare(joint.df, (MARGINAL_DRAWS, 1)))
    draws = joint.natural(np.asarray(joint.loc) + z, supports)
    out = {}
    for name in joint.names:
        free = np.asarray(biject_to(supports[name]).inv(draws[name]), dtype=np.float64)
        out[name] = unconstrained_normal(float(free.mean()), float(free.std()), supports[name])
    return out


@float64
def population_priors(fit) -> dict:
    """The moment-matched population predictive of a partially pooled ``fit`` (see the module docstring)."""
    if not fit.hyper:
        raise ValueError("population priors need a partially pooled fit (bs.fit(..., pooling='partial'))")
    if len(fit.groups) < 2:
        raise ValueError(f"population priors need at least 2 curves; the fit has {len(fit.groups)}")
    supports = {name: prior.support for name, prior in fit.spec.prior_dict.items()}
    out = {}
    for name, support in supports.items():
        if mu_name(name) in fit.hyper:
            mu, tau = np.ravel(fit.hyper[mu_name(name)]), np.ravel(fit.hyper[tau_name(name)])
            loc, var = mu.mean(), mu.var() + np.mean(tau**2)
        else:
            free = np.asarray(biject_to(support).inv(fit.draws(name)), dtype=np.float64)
            loc, var = free.mean(), free.var()
        scale = float(np.sqrt(var))
        if not (np.isfinite(loc) and np.isfinite(scale) and scale > 0):
            raise ValueError(f"the population of {name!r} has no finite spread to make a prior of (sd {scale})")
        out[name] = unconstrained_normal(float(loc), scale, support)
    return out


@float64
def relearn(name: str) -> PopulationPrior:
    """Learn the shipped prior ``name`` (:mod:`bayescale.priors.shipped`) again from the bundled data, by the
    recipe in its file."""
    return learn(shipped.recipe(name))


@float64
def learn(how: dict) -> PopulationPrior:
    """:func:`~bayescale.priors.from_curves` on the rows of a bundled data set that a recipe names (keys
    ``dataset``, ``domain_column``, ``domain``, ``group``, ``x``, ``y``, ``law``, ``settings``)."""
    from bayescale import datasets

    data = datasets.load(how["dataset"])
    corpus = data[data[how["domain_column"]] == how["domain"]]
    with warnings.catch_warnings():
        # the corpus's Laplace fits of real curves may warn per curve: those are not warnings about the prior
        warnings.simplefilter("ignore")
        return from_curves(corpus, how["law"], group=how["group"], x=how["x"], y=how["y"], **how["settings"])
