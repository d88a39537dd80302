"""Population priors: what many curves say about a new one (the hierarchical model's predictive).

A partially pooled fit of a corpus of curves (:mod:`bayescale._src.pooling`)
gives each pooled parameter a population in its unconstrained space,
``T^{-1}(theta_g) = mu + tau * eps_g``. A new curve from the same population
has ``T^{-1}(theta_new) = mu + tau * z``, ``z ~ N(0, 1)``, with ``(mu, tau)``
drawn from the hyper-posterior. Its moments are exact:

.. math::

    \\mathrm E[T^{-1}\\theta_{new}] = \\mathrm E[\\mu], \\qquad
    \\mathrm{Var}[T^{-1}\\theta_{new}] = \\mathrm{Var}[\\mu] + \\mathrm E[\\tau^2],

and the prior is the normal with those moments, mapped back by ``T`` (a
log-normal for a positive parameter, a logit-normal for one in (0, 1)). It
integrates over what the corpus leaves unknown about the population: a corpus
of 3 curves gives a wider prior than one of 30 with the same spread.

Parameters that are not pooled (the amplitudes, which the sampler rescales by
the reference size and which cannot be pooled) get the same moment match of
the mixture of the curves' posteriors: the mean and the total variance
(between curves plus within) of their draws in the unconstrained space.

This is the Bayesian counterpart of a prior-fitted network's synthetic prior
(Adriaensen et al. 2023, "Efficient Bayesian learning curve extrapolation
using prior-data fitted networks", NeurIPS), learned from real curves and
inspectable with ``bs.priors.table(law, priors)``. Parameters are independent
under the returned prior: the correlations inside the population are dropped,
as in :func:`bayescale.priors.from_fit`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from numpyro.distributions.transforms import biject_to

from bayescale._src.model import NOISE
from bayescale._src.pooling import mu_name, tau_name
from bayescale.priors.transfer import unconstrained_normal


def from_curves(
    data: Any,
    law: Any,
    group: str,
    pooled: Sequence[str] | None = None,
    **fit_options: Any,
) -> dict:
    """Priors for a new curve, learned by a partially pooled fit of the curves in ``data``.

    Parameters
    ----------
    data
        A table of many curves (the corpus), e.g. one domain of
        ``bs.datasets.load("revisiting_lang")``.
    law
        The law (name or :class:`~bayescale.laws.Law`).
    group
        The column naming each curve.
    pooled
        Parameters given a population (default: every law parameter that is
        not an amplitude, plus ``sigma``). The others get the moment match
        of the curves' posteriors (see the module docstring).
    **fit_options
        Passed to :func:`bayescale.fit` (``x``, ``y``, ``columns``,
        ``likelihood``, ``method``, ``priors``, ``seed``, sampler settings).

    Returns
    -------
    dict of parameter name -> NumPyro distribution (every law parameter and
    ``sigma``), ready for ``bs.fit(new_curve, law, priors=...)`` and
    ``bs.priors.table(law, priors)``.
    """
    from bayescale import laws
    from bayescale._src.fitting import fit as run_fit

    law = laws.get(law)
    if pooled is None:
        pooled = [p.name for p in law.params if not p.scale_by] + [NOISE]
    fit = run_fit(data, law=law, group=group, pooling="partial", pooled=list(pooled), **fit_options)
    return population_priors(fit)


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
