"""Shared plumbing: a headless-safe pyplot, new axes, plain tick labels."""

from __future__ import annotations

import os

import numpy as np


def pyplot():
    """``matplotlib.pyplot``, switched to Agg when there is no display and no notebook backend."""
    import matplotlib

    backend = matplotlib.get_backend().lower()
    if backend not in ("agg", "module://matplotlib_inline.backend_inline") and not _has_display():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def axes(ax=None, figsize=(6.4, 4.4)):
    """``(figure, ax)``: the given axes and its figure, or a new single-axes figure."""
    if ax is not None:
        return ax.figure, ax
    fig, ax = pyplot().subplots(figsize=figsize, layout="constrained")
    return fig, ax


def plain_ticks(ax) -> None:
    """Decimal tick labels (2.5, 3) instead of 2.5x10^0 on a log y axis spanning a decade or two.

    On a short axis every minor tick is labelled; up to about 1.5 decades only
    the 2s and 5s, as more labels collide; longer axes keep matplotlib's labels.
    """
    from matplotlib.ticker import FuncFormatter, ScalarFormatter

    lo, hi = ax.get_ylim()  # also triggers the autoscaling the decision needs
    if not 0 < lo < hi or hi / lo > 30:
        return
    major = ScalarFormatter()
    major.set_scientific(False)
    ax.yaxis.set_major_formatter(major)
    if hi / lo < 4:
        minor = ScalarFormatter()
        minor.set_scientific(False)
    else:
        def minor_label(v, _):
            mantissa = v / 10 ** np.floor(np.log10(v))
            return f"{v:g}" if np.isclose(mantissa, 2) or np.isclose(mantissa, 5) else ""

        minor = FuncFormatter(minor_label)
    ax.yaxis.set_minor_formatter(minor)


def check_single(fit, what: str) -> None:
    if fit.grouped:
        raise ValueError(
            f"{what} draws one curve; pick one with fit[label] (labels in column {fit.columns.group!r}) "
            "or use bayescale.plot.grid for many"
        )
