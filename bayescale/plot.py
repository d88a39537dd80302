"""Plots of fits (matplotlib). Each function returns the Figure; save it with ``fig.savefig``."""

from __future__ import annotations

import numpy as np

from bayescale.results import Fit


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline") and not _has_display():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _has_display() -> bool:
    import os

    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def predictive(fit: Fit, interval: float = 0.9, extend: float = 100.0, ax=None, kind: str = "mean"):
    """Data on log-log axes with the posterior predictive band, extrapolation shaded.

    One-input laws: loss against ``x`` from the smallest observed size to
    ``extend`` times the largest. Laws of N and D: loss against compute
    C = 6ND, with the band of the compute-optimal loss (the frontier every
    run lies above) up to ``extend`` times the largest observed budget.
    """
    if fit.grouped:
        raise ValueError("plot one curve at a time: fit[label]")
    plt = _pyplot()
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6.4, 4.4))
    if fit.law.inputs == ("x",):
        x = fit.inputs["x"]
        grid = np.geomspace(x.min(), x.max() * extend, 200)
        band = fit.predict({"x": grid}, interval=interval, kind=kind)
        ax.scatter(x, fit.y, s=14, color="k", zorder=3, label="observed")
        xlabel, x_max = fit.columns.inputs["x"], x.max()
    elif {"N", "D"} <= set(fit.law.inputs):
        from bayescale.allocate import compute_optimal

        c_obs = 6.0 * fit.inputs["N"] * fit.inputs["D"]
        grid = np.geomspace(c_obs.min(), c_obs.max() * extend, 60)
        opt = compute_optimal(fit, grid, interval=interval)
        band = opt.rename(columns={"loss": "median", "loss_lower": "lower", "loss_upper": "upper", "compute": "x"})
        grid = band["x"].to_numpy()
        sc = ax.scatter(c_obs, fit.y, s=12, c=np.log10(fit.inputs["N"]), cmap="viridis", zorder=3)
        fig.colorbar(sc, ax=ax, label="log10 parameters N")
        xlabel, x_max = "compute C = 6ND (FLOP)", c_obs.max()
    else:
        raise ValueError(f"no predictive plot for a law of {list(fit.law.inputs)}")
    ax.fill_between(grid, band["lower"], band["upper"], alpha=0.3, color="C1", label=f"{interval:.0%} band")
    ax.plot(grid, band["median"], color="C1", label="posterior median")
    ax.axvspan(x_max, grid.max(), color="0.9", zorder=0, label="extrapolation")
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=fit.columns.y, title=f"{fit.law.name} ({fit.method})")
    _plain_ticks(ax.yaxis)
    ax.legend(loc="upper right", fontsize=8)
    return fig


def _plain_ticks(axis) -> None:
    from matplotlib.ticker import ScalarFormatter

    for setter in (axis.set_major_formatter, axis.set_minor_formatter):
        fmt = ScalarFormatter()
        fmt.set_scientific(False)
        setter(fmt)


def frontier(fit: Fit, compute, interval: float = 0.9, ax=None):
    """Compute-optimal N_opt(C) and D_opt(C) with their posterior bands."""
    from bayescale.allocate import compute_optimal

    plt = _pyplot()
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6.4, 4.4))
    opt = compute_optimal(fit, compute, interval=interval)
    for name, color in (("N_opt", "C0"), ("D_opt", "C2")):
        ax.fill_between(opt["compute"], opt[f"{name}_lower"], opt[f"{name}_upper"], alpha=0.3, color=color)
        ax.plot(opt["compute"], opt[name], color=color, label=name)
    ax.set(xscale="log", yscale="log", xlabel="compute C (FLOP)", ylabel="parameters / tokens")
    ax.set_title(f"compute-optimal allocation ({interval:.0%} bands)")
    ax.legend()
    return fig
