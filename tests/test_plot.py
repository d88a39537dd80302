"""bs.plot: each plot returns a Figure with the expected axes and artists, saves to PNG, warns about nothing."""

import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection, PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bayescale import plot  # noqa: E402


@pytest.fixture(autouse=True)
def _no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
    matplotlib.pyplot.close("all")


def _saves(fig, tmp_path, name):
    assert isinstance(fig, Figure)
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=60)
    assert path.stat().st_size > 5000  # a real image, not an empty canvas


def _bands(ax):
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def test_predictive_one_input_band_and_extrapolation(power_laplace, tmp_path):
    fit = power_laplace[0]
    fig = plot.predictive(fit, extend=10.0)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    scatter = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(scatter) == 1 and len(scatter[0].get_offsets()) == len(fit.y)
    (band,) = [c for c in _bands(ax) if c.get_label() != "extrapolation"]
    # the band's upper edge lies above the median line everywhere
    (median,) = [ln for ln in ax.lines if ln.get_label() == "posterior median"]
    x_line, y_line = median.get_data()
    assert x_line.max() == pytest.approx(10 * fit.inputs["x"].max())
    upper = band.get_paths()[0].vertices
    assert upper[:, 1].max() >= y_line.max()
    labels = ax.get_legend_handles_labels()[1]
    assert "extrapolation" in labels
    (span,) = [p for p in ax.patches if p.get_label() == "extrapolation"]
    x0 = span.get_x() if hasattr(span, "get_x") else span.get_xy()[0][0]
    assert x0 == pytest.approx(fit.inputs["x"].max())
    _saves(fig, tmp_path, "predictive")


def test_predictive_two_inputs_iso_ratio_and_optimal_bands(chinchilla_laplace, tmp_path):
    fit = chinchilla_laplace
    fig = plot.predictive(fit, ratios=(2.0, 20.0, 200.0), extend=100.0)
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert {"D/N = 2", "D/N = 20", "D/N = 200", "compute-optimal", "extrapolation"} <= set(labels)
    lines = {ln.get_label(): ln.get_data()[1] for ln in ax.lines}
    # the compute-optimal loss is the lower envelope of every fixed-ratio line
    for r in ("2", "20", "200"):
        assert np.all(lines["compute-optimal"] <= lines[f"D/N = {r}"] * (1 + 1e-6))
    assert len(fig.axes) == 2  # the colour bar of tokens per parameter
    _saves(fig, tmp_path, "predictive_nd")


def test_predictive_refuses_grouped_fit(power_laplace):
    with pytest.raises(ValueError, match=r"fit\[label\]"):
        plot.predictive(power_laplace)


def test_grid_draws_one_panel_per_curve(power_laplace, chinchilla_two_copies, tmp_path):
    curves_fit = power_laplace
    fig = plot.grid(curves_fit, ncols=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 3 and len(fig.axes) == 4
    assert [ax.get_title() for ax in visible] == ["run = 0", "run = 1", "run = 2"]
    for ax in visible:
        assert ax.get_xscale() == "log" and len(_bands(ax)) >= 1
    _saves(fig, tmp_path, "grid")
    fig = plot.grid(curves_fit, max_panels=2)
    assert [ax.get_title() for ax in fig.axes] == ["run = 0", "run = 2"]  # evenly spaced, ends included
    assert "2 of 3 curves" in fig.get_suptitle()
    fig = plot.grid(chinchilla_two_copies)
    assert sum(ax.get_visible() for ax in fig.axes) == 2
    with pytest.raises(KeyError, match="no group 7"):
        plot.grid(curves_fit, groups=[7])
    with pytest.raises(ValueError, match="grouped fit"):
        plot.grid(curves_fit[0])


def test_frontier_bands_contain_median(chinchilla_laplace, tmp_path):
    fit = chinchilla_laplace
    fig = plot.frontier(fit, [1e19, 1e24])
    ax = fig.axes[0]
    lines = {ln.get_label(): ln.get_data() for ln in ax.lines}
    assert set(lines) == {"parameters N_opt", "tokens D_opt"}
    c, n_opt = lines["parameters N_opt"]
    _, d_opt = lines["tokens D_opt"]
    # per draw N D = C/6 exactly; the separate medians of N and D sit on the budget line to 0.1%
    np.testing.assert_allclose(6 * n_opt * d_opt, c, rtol=1e-3)
    assert len(_bands(ax)) == 2
    _saves(fig, tmp_path, "frontier")


def test_prior_posterior_panels(power_laplace, tmp_path):
    curves_fit = power_laplace
    fig = plot.prior_posterior(curves_fit, group=1)
    names = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert names == list(curves_fit.param_names)
    ax_a = fig.axes[names.index("A")]
    assert ax_a.get_xscale() == "log"  # an amplitude's prior spans decades
    for ax in fig.axes[: len(names)]:
        assert len(_bands(ax)) == 2  # prior and posterior densities
    _saves(fig, tmp_path, "prior_posterior")
    fig = plot.prior_posterior(curves_fit, params=["alpha"], group=0)
    assert [ax.get_title() for ax in fig.axes] == ["alpha"]
    with pytest.raises(ValueError, match="group="):
        plot.prior_posterior(curves_fit)
    with pytest.raises(KeyError, match="no parameter 'gamma'"):
        plot.prior_posterior(curves_fit, params=["gamma"], group=0)


def test_prior_posterior_of_single_draw_marks_the_mode(power_map, tmp_path):
    """A map fit has one draw per curve: no density, a line at the mode."""
    one = single = power_map[0]
    assert single.posterior["alpha"].shape == (1, 1, 1)
    fig = plot.prior_posterior(single, params=["alpha"])
    (line,) = fig.axes[0].lines
    assert line.get_xdata()[0] == pytest.approx(float(one.posterior["alpha"][0, 0, 0]))
    assert len(_bands(fig.axes[0])) == 1  # the prior's density only
    _saves(fig, tmp_path, "prior_posterior_map")
