"""The compute-optimal frontier: N_opt(C) and D_opt(C) with posterior bands."""

from __future__ import annotations

import numpy as np

from bayescale._src.fit.results import Fit
from bayescale.plot._style import axes, check_single


def frontier(fit: Fit, compute, interval: float = 0.9, ax=None, flops_per_param_token: float = 6.0):
    """Compute-optimal parameters N_opt(C) and tokens D_opt(C), with their posterior bands.

    Under the budget :math:`C = k N D` the optimum of the fitted law is found per
    posterior draw (:func:`bayescale.compute_optimal`; closed form for
    Chinchilla, Hoffmann et al. 2022 eq. 4), so the bands carry the posterior
    uncertainty of the exponents into the allocation. The observed runs are
    drawn at their own (C, N) and (C, D); budgets beyond the largest observed
    run are shaded as extrapolation.

    Parameters
    ----------
    fit
        A single-curve fit of a law with inputs ``N`` and ``D``.
    compute
        FLOP budgets C; a smooth curve is drawn between the smallest and largest.
    interval
        Central probability of the bands.
    ax
        Axes to draw on (a new figure when None).
    flops_per_param_token
        ``k`` in C = k N D.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from bayescale._src.analysis.allocate import compute_optimal

    check_single(fit, "frontier")
    budgets = np.atleast_1d(np.asarray(compute, dtype=float))
    if budgets.size >= 2:
        budgets = np.geomspace(budgets.min(), budgets.max(), 60)
    fig, ax = axes(ax)
    opt = compute_optimal(fit, budgets, flops_per_param_token=flops_per_param_token, interval=interval)
    c_obs = flops_per_param_token * fit.inputs["N"] * fit.inputs["D"]
    for name, color, label in (("N_opt", "C0", "parameters N_opt"), ("D_opt", "C2", "tokens D_opt")):
        ax.fill_between(opt["compute"], opt[f"{name}_lower"], opt[f"{name}_upper"], alpha=0.3, color=color, lw=0)
        ax.plot(opt["compute"], opt[name], color=color, label=label)
        ax.scatter(c_obs, fit.inputs[name[0]], s=6, color=color, alpha=0.35, lw=0)
    if budgets.max() > c_obs.max():
        ax.axvspan(c_obs.max(), budgets.max(), color="0.92", zorder=0, label="extrapolation")
    ax.set(xscale="log", yscale="log", xlabel=f"compute C = {flops_per_param_token:g}ND (FLOP)",
           ylabel="parameters N / tokens D")
    ax.set_title(f"compute-optimal allocation, {fit.law.name} ({interval:.0%} bands; dots: runs)")
    ax.legend(loc="upper left", fontsize=8)
    return fig
