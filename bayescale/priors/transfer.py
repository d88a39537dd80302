"""Posterior-as-prior transfer: turn what one fit learned into priors for the next.

For each parameter the posterior draws are mapped to the unconstrained space
of the parameter's support (``log`` for positive parameters, the identity for
real ones), where they are summarized by their mean ``m`` and standard
deviation ``s``; the new prior is a normal ``N(m, (k s)^2)`` there, mapped back
(a log-normal for a positive parameter). The inflation ``k > 1`` widens it
because a new data set is not the old one (another tokenizer, architecture or
data mix moves the parameters more than the old posterior's width); ``k = 1``
would treat the new runs as more of the same experiment.

The priors are independent across parameters: the correlations of a posterior
(between an exponent and its amplitude, say) belong to the old design and do
not carry over.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.transforms import biject_to
from bayescale._src.precision import float64


@float64
def from_fit(fit, params: Iterable[str] | None = None, inflate: float = 2.0, group: Any = None) -> dict:
    """Priors, moment-matched in the unconstrained space, from the posterior of ``fit``.

    Parameters
    ----------
    fit
        A :class:`~bayescale._src.fit.results.Fit`.
    params
        Parameters to transfer (default: every law parameter). Usually the
        exponents, which travel across data sets better than amplitudes or
        irreducible losses.
    inflate
        Factor ``k >= 1`` on the standard deviation in the unconstrained space.
    group
        For a grouped fit of several curves, the label of the curve to use.

    Returns
    -------
    dict of parameter name -> NumPyro distribution, ready for ``bs.fit(..., priors=...)``.
    """
    if not (np.isfinite(inflate) and inflate >= 1):
        raise ValueError(f"inflate must be a finite number >= 1, got {inflate!r}")
    if fit.grouped:
        if group is None:
            if len(fit.groups) != 1:
                raise ValueError(
                    f"this fit has {len(fit.groups)} curves (column {fit.columns.group!r}); "
                    "pass group=<label> to choose the one whose posterior becomes the prior"
                )
            group = fit.groups[0]
        fit = fit[group]
    names = list(fit.law.param_names if params is None else params)
    priors = fit.spec.prior_dict
    out = {}
    for name in names:
        if name not in priors:
            raise ValueError(f"law {fit.law.name!r} has no parameter {name!r}; it has {list(priors)}")
        support = priors[name].support
        z = np.asarray(biject_to(support).inv(fit.draws(name)[0]))
        loc, scale = float(z.mean()), float(z.std(ddof=1)) * float(inflate)
        if not (np.isfinite(loc) and np.isfinite(scale) and scale > 0):
            raise ValueError(f"the posterior of {name!r} has no spread to transfer (sd {scale})")
        out[name] = unconstrained_normal(loc, scale, support)
    return out


def unconstrained_normal(loc: float, scale: float, support) -> dist.Distribution:
    if support is constraints.real:
        return dist.Normal(loc, scale)
    if support is constraints.positive:
        return dist.LogNormal(loc, scale)
    return dist.TransformedDistribution(dist.Normal(loc, scale), biject_to(support))
