"""Loss against scale: the data, the posterior predictive band and the extrapolation region.

A one-input law is drawn as loss against ``x``. A law of parameters N and
tokens D is drawn against compute C = 6ND: each run's loss lies on or above
the compute-optimal loss (Hoffmann et al. 2022, Fig. 3), whose band is drawn,
and the law is also traced along lines of constant tokens per parameter D/N,
the direction in which a family of runs is usually scaled (Chinchilla's
"20 tokens per parameter"); runs are coloured by their own D/N so each sits
near the line of its ratio.
"""

from __future__ import annotations

import numpy as np

from bayescale._src.fit.results import Fit
from bayescale.plot._style import axes, check_single, plain_ticks, pyplot

POINTS = 120


def predictive(
    fit: Fit,
    interval: float = 0.9,
    extend: float = 100.0,
    ax=None,
    kind: str = "mean",
    ratios=(2.0, 200.0),
):
    """Data on log-log axes with the posterior predictive band, extrapolation shaded.

    Parameters
    ----------
    fit
        A single-curve fit (``fit[label]`` of a grouped fit).
    interval
        Central probability of the bands.
    extend
        The curve runs to ``extend`` times the largest observed size (or
        compute); everything beyond the largest observation is shaded as the
        extrapolation region.
    ax
        Axes to draw on (a new figure when None).
    kind
        ``"mean"`` (the law, uncertain through its parameters) or
        ``"observation"`` (a new run's loss, adding the fitted noise).
    ratios
        Laws of N and D only: tokens-per-parameter ratios D/N along which the
        law is also drawn with its band (empty for the compute-optimal band alone).

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_single(fit, "predictive")
    if not extend >= 1:
        raise ValueError(f"extend must be >= 1 (a multiple of the largest observed size), got {extend!r}")
    fig, ax = axes(ax)
    _draw(ax, fit, interval, extend, kind, ratios, legend=True, colorbar=True)
    ax.set_title(f"{fit.law.name} ({fit.method}): {interval:.0%} posterior band")
    return fig


def grid(
    fit: Fit,
    max_panels: int = 12,
    ncols: int = 4,
    groups=None,
    interval: float = 0.9,
    extend: float = 10.0,
    kind: str = "mean",
):
    """Small multiples for a batched fit: each panel one curve's data and predictive band.

    Parameters
    ----------
    fit
        A grouped fit (``bs.fit(..., group=col)``).
    max_panels
        Most panels to draw; with more curves, ``max_panels`` of them evenly
        spaced through the fit's group order are shown.
    ncols
        Panels per row.
    groups
        Labels of the curves to draw, instead of the evenly spaced choice.
    interval, extend, kind
        As in :func:`predictive`; laws of N and D show the compute-optimal band.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not fit.grouped:
        raise ValueError("grid draws the curves of a grouped fit (bs.fit(..., group=col)); use predictive for one")
    if int(max_panels) != max_panels or max_panels < 1:
        raise ValueError(f"max_panels must be a positive integer, got {max_panels!r}")
    if groups is None:
        idx = np.unique(np.linspace(0, len(fit.groups) - 1, min(int(max_panels), len(fit.groups))).round().astype(int))
        groups = [fit.groups[i] for i in idx]
    else:
        groups = list(groups)
        missing = [g for g in groups if g not in fit.groups]
        if missing:
            raise KeyError(f"no group {missing[0]!r} in column {fit.columns.group!r}")
    ncols = max(1, min(int(ncols), len(groups)))
    nrows = -(-len(groups) // ncols)
    plt = pyplot()
    fig, axs = plt.subplots(nrows, ncols, figsize=(2.9 * ncols, 2.4 * nrows), squeeze=False, layout="constrained")
    for i, (ax, label) in enumerate(zip(axs.flat, groups)):
        xlabel = _draw(ax, fit[label], interval, extend, kind, ratios=(), legend=i == 0, colorbar=False, compact=True)
        ax.set_title(f"{fit.columns.group} = {label}", fontsize=9)
    for ax in axs.flat[len(groups):]:
        ax.set_visible(False)
    shown = f"{len(groups)} of {len(fit.groups)} curves" if len(groups) < len(fit.groups) else f"{len(groups)} curves"
    sep = ": " if ncols >= 3 else "\n"  # a narrow grid gets a two-line title
    fig.suptitle(f"{fit.law.name} ({fit.method}), {shown}{sep}data, {interval:.0%} band, extrapolation shaded",
                 fontsize=11)
    fig.supxlabel(xlabel, fontsize=10)
    fig.supylabel(fit.columns.y, fontsize=10)
    return fig


def _draw(ax, fit: Fit, interval, extend, kind, ratios, legend: bool, colorbar: bool, compact: bool = False):
    if fit.law.inputs == ("x",):
        x_max = _draw_one_input(ax, fit, interval, extend, kind, compact)
        xlabel = fit.columns.inputs["x"]
    elif {"N", "D"} <= set(fit.law.inputs):
        x_max = _draw_compute(ax, fit, interval, extend, kind, ratios, colorbar, compact)
        xlabel = "compute C = 6ND (FLOP)"
    else:
        raise ValueError(f"no predictive plot for a law of {list(fit.law.inputs)}")
    ax.axvspan(x_max, x_max * extend, color="0.92", zorder=0, label="extrapolation")
    ax.set(xscale="log", yscale="log", xlim=(None, x_max * extend))
    if not compact:
        ax.set(xlabel=xlabel, ylabel=fit.columns.y)
    plain_ticks(ax)
    if legend:
        ax.legend(loc="upper right", fontsize=7 if compact else 8)
    return xlabel


def _band(ax, x, band, color, label, lw=1.5, median=None):
    """The band, and its line: ``median`` (the law's own median, the point forecast) where given."""
    ax.fill_between(x, band["lower"], band["upper"], alpha=0.3, color=color, lw=0)
    ax.plot(x, band["median"] if median is None else median, color=color, lw=lw, label=label)


def _law_median(fit: Fit, x) -> np.ndarray:
    """The posterior median of the law itself: the point forecast, whose ordering across inputs is the law's
    (the discrepancy widens the band around it, draw by draw)."""
    return fit.predict(x, kind="mean", discrepancy=None)["median"].to_numpy()


def _draw_one_input(ax, fit: Fit, interval, extend, kind, compact) -> float:
    x = fit.inputs["x"]
    grid = np.geomspace(x.min(), x.max() * extend, POINTS)
    band = fit.predict({"x": grid}, interval=interval, kind=kind)
    ax.scatter(x, fit.y, s=6 if compact else 14, color="k", zorder=3, label="observed")
    _band(ax, grid, band, "C1", "posterior median", lw=1 if compact else 1.5, median=_law_median(fit, {"x": grid}))
    return float(x.max())


def _draw_compute(ax, fit: Fit, interval, extend, kind, ratios, colorbar, compact) -> float:
    from matplotlib import colors

    from bayescale._src.analysis.allocate import compute_optimal

    n, d = fit.inputs["N"], fit.inputs["D"]
    c_obs = 6.0 * n * d
    grid = np.geomspace(c_obs.min(), c_obs.max() * extend, POINTS // 2)
    log_ratio = np.log10(d / n)
    ratios = np.asarray(ratios, dtype=float)
    if np.any(ratios <= 0):
        raise ValueError(f"ratios are tokens per parameter D/N and must be positive, got {ratios.tolist()}")
    norm = colors.Normalize(*np.percentile(np.r_[log_ratio, np.log10(ratios)], [0, 100]))
    cmap = pyplot().get_cmap("viridis")
    sc = ax.scatter(c_obs, fit.y, s=6 if compact else 12, c=log_ratio, cmap=cmap, norm=norm, zorder=3)
    if colorbar:
        ax.figure.colorbar(sc, ax=ax, label="log10 tokens per parameter D/N")
    for r in ratios:
        n_r = np.sqrt(grid / (6.0 * r))
        x = {"N": n_r, "D": r * n_r}
        if "C" in fit.law.inputs:
            x["C"] = grid
        band = fit.predict(x, interval=interval, kind=kind)
        _band(ax, grid, band, cmap(norm(np.log10(r))), f"D/N = {r:g}", lw=1, median=_law_median(fit, x))
    opt = compute_optimal(fit, grid, interval=interval)
    band = opt.rename(columns={"loss": "median", "loss_lower": "lower", "loss_upper": "upper"})
    _band(ax, opt["compute"].to_numpy(), band, "C3", "compute-optimal", lw=1 if compact else 1.5)
    return float(c_obs.max())
