"""The design of the next runs: candidates in the (N, D) plane by value per cost, and the target's band."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayescale.plot._style import check_single, pyplot

LABELLED = 10  # picks numbered in the plane


def design(fit, table: pd.DataFrame, target, interval: float = 0.9):
    """Candidates coloured by value per cost with the picks marked, and the target's band now and after.

    Left: the runs of a law of ``N`` and ``D`` in the (N, D) plane: the fitted runs (grey crosses),
    the candidates of ``table`` (a :func:`bayescale.design.next_runs` result) coloured by
    log10 ``value_per_cost``, the picks ringed and numbered, the target (stars). Right: at each
    target point, the posterior predictive band of the law's value now, and the band expected
    after observing the picks (the Gaussian update of the draws, which does not depend on the
    outcomes: :func:`bayescale._src.design.choose.target_sd`), centred on today's median.

    Parameters
    ----------
    fit
        The single-curve fit ``next_runs`` scored with.
    table
        ``next_runs``' output (``value_per_cost`` and ``pick`` columns).
    target
        The target points (dict or DataFrame of the inputs).
    interval
        Central probability of the bands.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from scipy.stats import norm

    from bayescale._src.design.choose import input_frame, target_sd

    check_single(fit, "design")
    if not {"N", "D"} <= set(fit.law.inputs):
        raise ValueError(f"the design plot draws the (N, D) plane; law {fit.law.name!r} takes {list(fit.law.inputs)}")
    for column in ("value_per_cost", "pick"):
        if column not in table:
            raise ValueError(f"table has no column {column!r}: pass the output of bs.design.next_runs")
    x = input_frame(fit, table, "candidates")
    x_target = input_frame(fit, target, "target")
    picked = table["pick"].notna().to_numpy()
    fig, (left, right) = pyplot().subplots(1, 2, figsize=(11, 4.4), layout="constrained",
                                           gridspec_kw={"width_ratios": [1.4, 1]})
    left.scatter(fit.inputs["N"], fit.inputs["D"], marker="x", color="0.5", s=18, label="fitted runs")
    value = np.log10(np.maximum(table["value_per_cost"].to_numpy(float), np.finfo(float).tiny))
    points = left.scatter(x["N"], x["D"], c=value, cmap="viridis", s=22, label="candidates")
    fig.colorbar(points, ax=left, label="log10 value per cost")
    left.scatter(x["N"][picked], x["D"][picked], s=90, facecolors="none", edgecolors="C3", lw=1.5, label="picked")
    for n, d, k in zip(x["N"][picked], x["D"][picked], table["pick"][picked]):
        if k > LABELLED:
            continue  # numbers beyond the first picks only clutter the plane
        left.annotate(str(int(k)), (n, d), textcoords="offset points", xytext=(5, 5), fontsize=8, color="C3")
    left.scatter(x_target["N"], x_target["D"], marker="*", s=160, color="C1", edgecolors="k", label="target")
    left.set(xscale="log", yscale="log", xlabel="parameters N", ylabel="tokens D",
             title=f"candidates by value per cost ({int(picked.sum())} picked)")
    left.legend(fontsize=8, loc="best")

    sd = target_sd(fit, table[picked], target)
    median = np.median(fit.predictive_draws(x_target)[0], axis=0)
    z = norm.ppf(0.5 + interval / 2)
    positions = np.arange(len(median))
    for shift, column, color, label in ((-0.12, "sd_now", "0.4", "now"), (0.12, "sd_after", "C3", "after the picks")):
        lo, hi = median * np.exp(-z * sd[column]), median * np.exp(z * sd[column])
        right.errorbar(positions + shift, median, yerr=[median - lo, hi - median], fmt="o", color=color, capsize=4,
                       label=label)
    right.set_xticks(positions, [f"N={n:.2g}\nD={d:.2g}" for n, d in zip(x_target["N"], x_target["D"])], fontsize=8)
    right.set(ylabel="loss", title=f"target: {interval:.0%} band of the law's value")
    right.legend(fontsize=8)
    return fig
