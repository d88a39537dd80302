"""Prior against posterior, one panel per parameter.

Drawing the prior next to the posterior shows at a glance which parameters
the data determined and which the prior still decides: with a few runs the
irreducible loss or an amplitude often stays where the prior put it (Gabry
et al. 2019, "Visualization in Bayesian workflow", JRSS A). Densities are
kernel density estimates from arviz (``az.kde``), each scaled to a peak of
one so a vague prior stays visible next to a sharp posterior; parameters that are
positive and spread over more than a decade under the prior are drawn on a
log axis, the density then being that of ``log10`` of the parameter.
"""

from __future__ import annotations

import arviz as az
import jax
import numpy as np

from bayescale._src.fit.results import Fit
from bayescale.plot._style import pyplot

LOG_SPREAD = 10.0  # prior 1%-99% ratio above which a positive parameter is drawn on a log axis


def prior_posterior(fit: Fit, params=None, group=None, num_prior_draws: int = 4000, ncols: int = 3, seed: int = 0):
    """Prior and posterior density of each parameter.

    Parameters
    ----------
    fit
        A fit; for a grouped fit name the curve with ``group``.
    params
        Parameter names to draw (default: the law's parameters and ``sigma``).
    group
        Label of the curve of a grouped fit.
    num_prior_draws
        Draws from each prior (the fit's own priors, ``fit.spec.prior_dict``).
    ncols
        Panels per row.
    seed
        Seed of the prior draws.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The prior is the per-parameter prior of the fit's spec, in natural units.
    In a partially pooled fit the pooled parameters' effective prior is the
    population distribution, which this plot does not show. A ``map`` fit has
    one draw per curve; its posterior is marked as a vertical line at the mode.
    """
    if fit.grouped:
        if group is None:
            raise ValueError(f"name the curve of this grouped fit with group=<label in column {fit.columns.group!r}>")
        fit = fit[group]
    names = list(fit.param_names if params is None else params)
    if not names:
        raise ValueError("params is empty; name at least one parameter")
    priors = fit.spec.prior_dict
    unknown = [p for p in names if p not in priors]
    if unknown:
        raise KeyError(f"no parameter {unknown[0]!r}; the fit has {fit.param_names}")
    if int(num_prior_draws) != num_prior_draws or num_prior_draws < 10:
        raise ValueError(f"num_prior_draws must be an integer >= 10, got {num_prior_draws!r}")
    ncols = max(1, min(int(ncols), len(names)))
    nrows = -(-len(names) // ncols)
    fig, axs = pyplot().subplots(nrows, ncols, figsize=(3.2 * ncols, 2.5 * nrows), squeeze=False, layout="constrained")
    keys = jax.random.split(jax.random.PRNGKey(seed), len(names))
    for i, (ax, name) in enumerate(zip(axs.flat, names)):
        prior = np.asarray(priors[name].sample(keys[i], (int(num_prior_draws),)), dtype=float)
        posterior = fit.draws(name)[0].astype(float)
        _panel(ax, name, prior, posterior, legend=i == 0)
    for ax in axs.flat[len(names):]:
        ax.set_visible(False)
    fig.suptitle(f"{fit.law.name} ({fit.method}): prior vs posterior")
    return fig


def _panel(ax, name, prior, posterior, legend):
    prior = prior[np.isfinite(prior)]
    log = bool(np.all(prior > 0) and np.all(posterior > 0)
               and np.quantile(prior, 0.99) > LOG_SPREAD * np.quantile(prior, 0.01))
    t, inv = (np.log10, lambda v: 10.0**v) if log else (np.asarray, np.asarray)
    # the x range: the bulk of the prior and all of the posterior (a vague prior must not squash the posterior)
    lo = min(np.quantile(t(prior), 0.01), t(posterior).min())
    hi = max(np.quantile(t(prior), 0.99), t(posterior).max())
    kept = t(prior)[(t(prior) >= lo) & (t(prior) <= hi)]
    # each density scaled to peak 1: an informative posterior is orders of magnitude taller than its prior
    grid, density = az.kde(kept)
    ax.fill_between(inv(grid), density / density.max(), color="0.6", alpha=0.4, lw=0, label="prior")
    if np.ptp(posterior) > 0:
        grid, density = az.kde(t(posterior))
        ax.fill_between(inv(grid), density / density.max(), color="C0", alpha=0.5, lw=0, label="posterior")
        ax.plot(inv(grid), density / density.max(), color="C0", lw=1)
    else:
        ax.axvline(posterior[0], color="C0", lw=2, label="posterior mode")
    ax.set(xscale="log" if log else "linear", yticks=[], title=name)
    ax.set_xlabel(f"{name} (density of log10)" if log else name, fontsize=8)
    if legend:
        ax.legend(fontsize=7, loc="upper right")
