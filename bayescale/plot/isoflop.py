"""IsoFLOP profiles with their posterior optima, and the frontier through them beside Approach 3's."""

from __future__ import annotations

import numpy as np

from bayescale.plot._style import plain_ticks, pyplot


def isoflop(result, reference=None, ax=None, points: int = 60):
    """Left: each budget's runs (loss against N), the fitted profile with its band and the posterior
    optimum (median, with its interval in N); for ``method="envelope"``, each run's checkpoints and
    fitted curve against compute, and the lower envelope (the loss at the optimum, with its band). Right: the optima against compute with the fitted power
    law ``N_opt = k_N C^a`` and its band, beside Approach 3's frontier (:func:`bayescale.compute_optimal`).

    Parameters
    ----------
    result
        A :class:`bayescale.IsoFLOP`.
    reference
        A single-curve fit of a law of N and D whose compute-optimal frontier is drawn for comparison
        (Hoffmann et al.'s Approach 3); by default the result's own surface fit when
        ``method="surface"``, else none.
    ax
        Two axes to draw on (a new figure when None).
    points
        Grid points per profile.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from bayescale._src.analysis.allocate import compute_optimal

    if ax is None:
        fig, ax = pyplot().subplots(1, 2, figsize=(12, 4.6), layout="constrained")
    else:
        if len(ax) != 2:
            raise ValueError(f"ax must be two axes (profiles, frontier), got {len(ax)}")
        fig = ax[0].figure
    left, right = ax
    budgets = result.budgets
    if result.method == "envelope":
        _envelope_panel(result, left, points)
    else:
        _profile_panel(result, left, points)

    c = budgets["budget"].to_numpy()
    grid = np.geomspace(c.min() / 3, c.max() * 3, 60)
    front = result.frontier(grid)
    a = result.exponents.loc["a"]
    right.fill_between(grid, front["N_opt_lower"], front["N_opt_upper"], color="C0", alpha=0.25, lw=0)
    right.plot(grid, front["N_opt"], color="C0",
               label=f"IsoFLOP: a = {a['median']:.3f} ({a['lower']:.3f}-{a['upper']:.3f})")
    right.errorbar(c, budgets["N_opt"], yerr=[budgets["N_opt"] - budgets["N_opt_lower"],
                                              budgets["N_opt_upper"] - budgets["N_opt"]],
                   fmt="o", ms=4, color="C0", capsize=2,
                   label="envelope's optimum per C" if result.method == "envelope" else "optimum per budget")
    if reference is None and result.method == "surface":
        reference = result.fit
    if reference is not None:
        opt = compute_optimal(reference, grid, flops_per_param_token=result.flops_per_param_token,
                              interval=result.interval)
        right.fill_between(grid, opt["N_opt_lower"], opt["N_opt_upper"], color="C3", alpha=0.15, lw=0)
        right.plot(grid, opt["N_opt"], color="C3", ls="--", label=f"Approach 3 ({reference.law.name} surface)")
    right.set(xscale="log", yscale="log", xlabel=f"compute C = {result.flops_per_param_token:g}ND (FLOP)",
              ylabel="compute-optimal N")
    right.legend(fontsize=8, loc="upper left")
    right.set_title(f"frontier N_opt = k_N C^a ({result.interval:.0%} bands)")
    return fig


def _profile_panel(result, left, points):
    budgets = result.budgets
    colors = pyplot().get_cmap("viridis")(np.linspace(0.0, 0.9, len(budgets)))
    prof = result.profiles(points=points)
    for color, (_, row) in zip(colors, budgets.iterrows()):
        b = row["budget"]
        runs = result.runs[result.runs["budget"] == b]
        these = prof[prof["budget"] == b]
        left.scatter(runs["N"], runs["loss"], s=10, color=color, alpha=0.7, lw=0)
        left.fill_between(these["N"], these["lower"], these["upper"], color=color, alpha=0.25, lw=0)
        left.plot(these["N"], these["median"], color=color, lw=1, label=f"{b:.2g}")
        left.errorbar(row["N_opt"], row["loss"], xerr=[[row["N_opt"] - row["N_opt_lower"]],
                                                        [row["N_opt_upper"] - row["N_opt"]]],
                      fmt="D", ms=4, color=color, mec="k", mew=0.5, capsize=2)
    left.set(xscale="log", yscale="log", xlabel="parameters N", ylabel="loss")
    plain_ticks(left)
    left.legend(title="budget (FLOP)", fontsize=7, title_fontsize=7, ncol=2)
    left.set_title(f"IsoFLOP profiles ({result.method}; diamonds: optimum, {result.interval:.0%} interval)")


def _envelope_panel(result, left, points):
    curves = result.profiles(points=points)
    sizes = np.unique(result.runs["N"])
    colors = dict(zip(sizes, pyplot().get_cmap("viridis")(np.linspace(0.0, 0.9, len(sizes)))))
    for name, these in curves.groupby("run", sort=False):
        color = colors[these["N"].iloc[0]]
        ckpt = result.runs[result.runs["run"] == name]
        left.scatter(ckpt["C"], ckpt["loss"], s=8, color=color, alpha=0.7, lw=0)
        left.fill_between(these["C"], these["lower"], these["upper"], color=color, alpha=0.25, lw=0)
        left.plot(these["C"], these["median"], color=color, lw=1)
    for size in sizes:
        left.plot([], [], color=colors[size], label=f"{size:.2g}")
    env = result.budgets
    left.fill_between(env["budget"], env["loss_lower"], env["loss_upper"], color="k", alpha=0.2, lw=0)
    left.plot(env["budget"], env["loss"], color="k", lw=1.5, ls="--", label="envelope")
    left.set(xscale="log", yscale="log", xlabel=f"compute C = {result.flops_per_param_token:g}ND (FLOP)",
             ylabel="loss")
    plain_ticks(left)
    left.legend(title="model size N", fontsize=7, title_fontsize=7, ncol=2)
    left.set_title(f"runs' fitted curves and their lower envelope ({result.interval:.0%} bands)")
