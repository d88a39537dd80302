"""``bs.evaluate``: fit on one part of every curve, score the forecast of the held-out rest.

The protocol of Alabdulmohsin, Neyshabur and Zhai (2022, "Revisiting Neural
Scaling Laws in Language and Vision", NeurIPS, arXiv:2209.06640): fit each
curve on its fitting points (``Training == 1``), predict its held-out,
larger-scale points (``Training == 0``), and score per curve

.. math::

    \\mathrm{RMSLE} &= \\Big(\\tfrac{1}{m} \\sum_{j=1}^{m}
        \\big(\\log \\hat y_j - \\log y_j\\big)^2\\Big)^{1/2}, \\\\
    \\mathrm{cov}_p &= \\tfrac{1}{m} \\sum_{j=1}^{m}
        \\mathbf 1\\big[q_{(1-p)/2}(x_j) \\le y_j \\le q_{(1+p)/2}(x_j)\\big], \\\\
    \\mathrm{MSCE} &= \\tfrac{1}{|P|} \\sum_{p \\in P} (\\mathrm{cov}_p - p)^2,
    \\quad P = \\{0.50, 0.51, \\dots, 0.99\\},

where ``y_j`` are the ``m`` held-out losses, ``\\hat y_j`` the posterior median
of the law's value (the point forecast is the law's: neither the observation
noise nor the discrepancy term moves it) and ``q_a`` the
quantiles of the full predictive (the central bands of a
new observation by default; MSCE as in Lee et al. 2025, "Bayesian Neural
Scaling Law Extrapolation with Prior-Data Fitted Networks", ICML). Coverage is
read off the probability integral transform ``u_j = P(y_rep < y_j)``: ``y_j``
is inside the central ``p`` band when ``|u_j - 1/2| <= p/2``.

Scoring is one compiled, vectorized call over all curves: each curve's
held-out inputs are padded to a common width with a mask, the predictive draws
``[curves, draws, points]`` are made at once, and the metrics are reduced
without a Python loop over curves.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import scipy.special

from bayescale import laws
from bayescale._src.analysis import scores
from bayescale._src.fit import discrepancy as discrepancy_mod
from bayescale._src.model.data import _as_frame, _numeric_column, bucket_size
from bayescale._src.fit.results import Fit, curve_draws
from bayescale._src.fit import fitting
from bayescale._src.analysis.stacking import mix_draws, stack
from bayescale._src.precision import float64, float64_methods

LEVELS = (0.5, 0.8, 0.9, 0.95, 0.99)
# a padded batch of at most this many fitting points is fitted in one width (20 revisiting_lang curves: 2,560)
ONE_WIDTH_POINTS = 2**16
MSCE_LEVELS = tuple(np.round(np.arange(50, 100) / 100, 2))


@float64_methods
@dataclasses.dataclass(eq=False, repr=False)
class Evaluation:
    """Held-out scores of a forecast.

    Attributes
    ----------
    curves
        One row per scored curve: ``points_fit``, ``points_heldout``,
        ``rmsle``, ``coverage_50`` ... ``coverage_99`` (the ``levels``),
        ``msce``, the proper scores averaged over the curve's held-out points
        (:mod:`bayescale._src.analysis.scores`): ``log_score`` (log predictive
        density of log y, higher is better), ``crps`` (of log y),
        ``interval_50`` ... (interval score of each central band, a share of
        the loss), the mean relative width ``width_50`` ... of each band
        (``(upper - lower) / y``), and the ``by`` columns of the table.
    points
        One row per held-out point: the group, the inputs, the observed loss
        ``y``, the point forecast ``median`` (of the law), ``lower`` and ``upper`` of the 90%
        band, ``pit`` (the predictive probability below ``y``),
        ``distance`` (decades beyond the curve's fitted data, see
        :mod:`bayescale._src.fit.discrepancy`), ``log_score``, ``crps`` and
        ``interval_90``.
    calibration
        Per curve (rows as ``curves``), the coverage of the central bands at
        each level of ``MSCE_LEVELS`` (0.50 ... 0.99, the columns).
    fits
        ``{law name: Fit}`` of the fitting rows.
    weights
        Stacking weights over the laws (one law: weight 1).
    seconds
        ``{"fit": ..., "score": ...}`` wall-clock seconds (compiles included).
    """

    curves: pd.DataFrame
    points: pd.DataFrame
    calibration: pd.DataFrame
    fits: dict[str, Fit]
    weights: pd.Series
    seconds: dict[str, float]

    @property
    def seconds_per_curve(self) -> float:
        """Fit and scoring time divided by the number of curves."""
        return sum(self.seconds.values()) / max(len(self.curves), 1)

    def summary(self, by: str | Sequence[str] | None = None) -> pd.DataFrame:
        """Scores of a set of curves (all, or each ``by`` group), each curve counting once.

        ``rmsle``, ``coverage_*`` and the proper scores ``log_score``,
        ``crps``, ``interval_*`` and ``width_*`` are means over the curves;
        ``msce`` is the calibration error of the set, the mean over levels of
        (mean coverage - level)^2, and ``msce_per_curve`` the mean of the
        curves' own MSCE. The two differ: a curve with one held-out point
        covers it or not, so its own MSCE is at least 0.086 however good the
        forecast (0.13 on average for a calibrated one), while a set of
        calibrated curves has an MSCE near zero. ``width_rmsle`` is the set's
        mean 90% width over its mean RMSLE: about 3.3 for a calibrated
        Gaussian forecast (``2 z_{0.95}``), larger for a band wider than its
        errors.

        ``curves`` counts the set's curves and ``unscored`` those among them
        whose forecast is not finite (:func:`score`): the means are over the
        others, and a warning says how many were left out.
        """
        table = self.curves
        proper = [c for c in table.columns if c in ("log_score", "crps") or c.startswith(("interval_", "width_"))]
        scores = ["rmsle"] + [c for c in table.columns if c.startswith("coverage_")] + proper
        levels = np.asarray(self.calibration.columns, float)
        keys = pd.Series(0, index=table.index) if by is None else [table[b] for b in ([by] if isinstance(by, str) else by)]
        grouped = table.groupby(keys, sort=True)
        out = grouped[scores].mean()
        out.insert(0, "curves", grouped.size())
        failed = table["rmsle"].isna()
        out.insert(1, "unscored", failed.groupby(keys, sort=True).sum().astype(int))
        if failed.any():
            points = int(table["unscored"].sum()) if "unscored" in table else None
            warnings.warn(f"{int(failed.sum())} of {len(table)} curve(s) have no finite forecast and are left out of "
                          f"the means (column 'unscored'{f'; {points} held-out point(s)' if points else ''})",
                          UserWarning, stacklevel=3)
        mean_coverage = self.calibration.set_index(table.index).groupby(keys, sort=True).mean()
        out["msce"] = ((mean_coverage.to_numpy() - levels) ** 2).mean(axis=1)
        out["msce_per_curve"] = grouped["msce"].mean()
        if "width_90" in out:
            out["width_rmsle"] = out["width_90"] / out["rmsle"]
        return out.reset_index(drop=by is None)

    def __repr__(self) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = self.summary().iloc[0]
        unscored = f" ({int(s['unscored'])} not scored)" if s["unscored"] else ""
        return (f"<Evaluation {len(self.curves)} curves{unscored}: RMSLE {s['rmsle']:.4f}, MSCE {s['msce']:.4f}, "
                f"{self.seconds_per_curve:.3f} s per curve>")


@float64
def evaluate(
    data: Any,
    law: str | laws.Law | Sequence[str | laws.Law] | Mapping[str, Mapping[str, Any]] = "power_law",
    *,
    split: str | Sequence[bool] = "Training",
    y: str = "loss",
    x: str | None = None,
    columns: Mapping[str, str] | None = None,
    group: str | None = None,
    by: str | Sequence[str] | None = None,
    kind: str = "observation",
    discrepancy: Any = "default",
    levels: Sequence[float] = LEVELS,
    method: str = "auto",
    seed: int = 0,
    **fit_options: Any,
) -> Evaluation:
    """Fit every curve on its fitting rows and score the forecast of its held-out rows.

    Parameters
    ----------
    data
        Table with the law's inputs, the loss and (optionally) a group column.
    law
        A law (name or :class:`~bayescale.laws.Law`); several (a list, or a dict
        ``{name: options for bs.fit}``, e.g. ``{"m4": {"likelihood":
        "logit_student_t"}}``) are fitted separately and their predictives
        combined with stacking weights (:func:`bayescale.stack`).
    split
        Column whose true / 1 rows are fitted and false / 0 rows held out (the
        Revisiting benchmark's ``Training``), or a boolean sequence, one per row.
    y, x, columns, group
        As in :func:`bayescale.fit`.
    by
        Column(s), constant within a curve, copied into ``curves`` (e.g.
        ``"Domain"``), for :meth:`Evaluation.summary`.
    kind
        ``"observation"`` (default): bands of a new observation, the held-out
        loss's own predictive; ``"mean"``: bands of the law's value.
    discrepancy
        The law's error growing with the distance from the fitted data
        (:mod:`bayescale._src.fit.discrepancy`): ``"default"``, a
        :class:`~bayescale.Discrepancy`, or ``None`` (the law assumed exact).
    levels
        Central band probabilities whose coverage is reported.
    method
        The engine of the fits: ``"auto"`` by default, as :func:`bayescale.fit`
        (importance-corrected Laplace, NUTS where that fails). On the bundled
        held-out splits its bands are better calibrated than ``"laplace"``'s
        (pooled 90% coverage 0.94 against 0.86, log score 3.55 against 3.49,
        the default discrepancy) at about 1.4 times the fitting time, and on
        4-run fits with a Chinchilla preset ``"laplace"`` fails outright (90%
        coverage 0.26-0.42 against 0.96), where auto, serving most curves with
        NUTS, takes about 10 times as long (benchmarks/README.md, sections
        ``bench_heldout.py`` and ``bench_forecast_checks.py``). ``"laplace"`` is
        faster; a fit warns where its Pareto k says the Gaussian misses the
        posterior.
    seed
        Seed of the fits and of the predictive draws.
    **fit_options
        Passed to :func:`bayescale.fit` (``method``, ``priors``,
        ``likelihood``, ``draws``, ...).

    Returns
    -------
    :class:`Evaluation`
    """
    frame = _as_frame(data)
    keep = _split_mask(frame, split)
    train, heldout = frame[keep], frame[~keep]
    if len(heldout) == 0:
        raise ValueError(f"no held-out rows: every row of the table is a fitting row of split {split!r}")
    specs = _law_options(law)
    start = time.perf_counter()
    fits = {}
    for name, options in specs.items():
        # keyed by the name: a Law object (a tuple) as a key of the weights' pandas index would read as a
        # MultiIndex, and the stacked log score would be NaN
        label = name.name if isinstance(name, laws.Law) else name
        fits[label] = _fit(train, name, options, y=y, x=x, columns=columns, group=group, method=method, seed=seed,
                           **fit_options)
    fitted = time.perf_counter()
    weights = _stacking_weights(fits)
    curves, points, calibration = score(fits, heldout, weights=weights, kind=kind, discrepancy=discrepancy,
                                        levels=levels, seed=seed, by=by)
    seconds = {"fit": fitted - start, "score": time.perf_counter() - fitted}
    return Evaluation(curves, points, calibration, fits, weights, seconds)


def _fit(train, name, options, **common):
    """``bs.fit`` of the fitting rows with one law's own options over the common ones, every curve padded to
    one width when that is at most ONE_WIDTH_POINTS points (one compiled program per engine step instead of
    one per bucket of lengths: the compiles are most of a first call's time on a few curves)."""
    keywords = {**common, **options}
    progress = keywords.pop("progress", None)
    fit_options = fitting.FitOptions.from_keywords("evaluate", law=name, **keywords)
    one_width = ONE_WIDTH_POINTS if fit_options.chunk_size is None else 0
    return fitting.run_fit(train, fit_options, progress, one_width=one_width)


def _law_options(law) -> dict[str, dict[str, Any]]:
    if isinstance(law, Mapping):
        return {_law_name(k): dict(v or {}) for k, v in law.items()}
    if isinstance(law, (str, laws.Law)):
        return {_law_name(law): {}}
    items = list(law)
    if not items:
        raise ValueError("law= names no law")
    return {_law_name(k): {} for k in items}


def _law_name(law) -> Any:
    return law if isinstance(law, laws.Law) else laws.get(law).name


def _split_mask(frame: pd.DataFrame, split) -> np.ndarray:
    """True for the fitting rows."""
    if isinstance(split, str):
        if split not in frame.columns:
            raise ValueError(f"split column {split!r} not found; the table has columns {list(frame.columns)}")
        values = frame[split].to_numpy()
        where = f"split column {split!r}"
    else:
        values = np.asarray(split)
        where = "split"
        if values.shape != (len(frame),):
            raise ValueError(f"split must have one value per row ({len(frame)}), got shape {values.shape}")
    if values.dtype == bool:
        return values
    ok = pd.Series(values).isin([0, 1]).to_numpy()
    if not ok.all():
        bad = values[~ok][0]
        raise ValueError(f"{where} must hold 1 (fit) or 0 (held out) or booleans, got {bad!r}")
    return values.astype(int) == 1


def _stacking_weights(fits: Mapping[str, Fit]) -> pd.Series:
    if len(fits) == 1:
        return pd.Series({next(iter(fits)): 1.0}, name="weight")
    return stack(dict(fits)).weights


# ---------------------------------------------------------------- scoring
@float64
def score(
    fits: Fit | Mapping[str, Fit],
    heldout: Any,
    *,
    weights: pd.Series | None = None,
    kind: str = "observation",
    discrepancy: Any = "default",
    levels: Sequence[float] = LEVELS,
    seed: int = 0,
    by: str | Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Score fitted curves on held-out rows: the ``(curves, points, calibration)`` tables of :class:`Evaluation`.

    ``fits`` is one :class:`Fit` or ``{name: Fit}`` of the same curves (mixed
    with ``weights``, default equal); ``heldout`` has the fits' input, loss and
    group columns. Curves without held-out rows are left out.

    A curve whose forecast is not finite at some held-out point (a draw of
    the law, of the discrepancy or of the noise that is NaN or infinite) is
    not scored: every score of its row in ``curves`` and ``calibration`` and
    the ``pit`` of those points is NaN, its ``unscored`` column counts the
    points, and a warning names the curves. :meth:`Evaluation.summary` counts
    such curves in its ``unscored`` column.
    """
    if kind not in ("mean", "observation"):
        raise ValueError(f"kind must be 'mean' or 'observation', got {kind!r}")
    levels = tuple(float(v) for v in levels)
    if not all(0 < v < 1 for v in levels):
        raise ValueError(f"levels must be between 0 and 1, got {levels}")
    fits = {"fit": fits} if isinstance(fits, Fit) else dict(fits)
    first = next(iter(fits.values()))
    if weights is None:
        weights = pd.Series(1.0 / len(fits), index=list(fits))
    prior = discrepancy_mod.resolve(discrepancy)
    frame = _as_frame(heldout)
    index, rows = _heldout_rows(first, frame)
    y = _numeric_column(frame, first.columns.y, "the held-out loss")
    key = jax.random.PRNGKey(seed)
    observation = kind == "observation"
    observed, mask = _padded(y, rows, 1.0), _padded(np.ones(len(y), bool), rows, False)
    draws, points_draws, densities, dist = [], [], [], None
    for k, (name, fit) in enumerate(fits.items()):
        x = _padded_inputs(fit, frame, rows)
        distance = discrepancy_mod.distances(fit.law, fit.inputs, [fit.rows[i] for i in index], x)
        dist = distance if dist is None else dist
        law_only, full, loc, sigma = curve_draws(fit, index, x, jax.random.fold_in(key, 2 * k), observation, prior,
                                                 jax.random.fold_in(key, 2 * k + 1))
        points_draws.append(law_only)
        draws.append(full)
        densities.append(np.asarray(_log_score(fit.spec.likelihood, jnp.asarray(loc), sigma, jnp.asarray(full),
                                               jnp.asarray(observed), observation)))
    mixture = weights.reindex(list(fits)).to_numpy()
    values, point_values = _mix(draws, mixture, seed), _mix(points_draws, mixture, seed)
    # the stacked predictive's density is the weighted sum of the laws' own: exact, not through the mixed draws
    with np.errstate(divide="ignore"):
        log_weights = np.log(mixture / mixture.sum())
    log_score = scipy.special.logsumexp(np.stack(densities) + log_weights[:, None, None], axis=0)
    metrics = _metrics(jnp.asarray(values), jnp.asarray(point_values), jnp.asarray(observed), jnp.asarray(mask),
                       jnp.asarray(levels + MSCE_LEVELS), jnp.asarray(levels))
    median, lower, upper, pit, coverage, rmsle, crps, interval, width = (np.array(m) for m in metrics)
    labels = [first.groups[i] for i in index]
    count = mask.sum(axis=1)
    # a forecast that is not finite at a point is not scored, and neither is its curve: a mean over its other
    # points (or a set's mean over its other curves) would be a score of less than was asked, without a word
    finite = (np.isfinite(values).all(axis=1) & np.isfinite(point_values).all(axis=1) & np.isfinite(log_score)
              & np.isfinite(crps) & np.isfinite(interval).all(axis=-1)) | ~mask
    unscored = (~finite).sum(axis=1)
    failed = unscored > 0
    pit[~finite] = np.nan
    for array in (rmsle, coverage):
        array[failed] = np.nan
    if failed.any():
        names = [str(labels[i]) for i in np.flatnonzero(failed)]
        which = " / ".join(fit.law.name for fit in fits.values())
        warnings.warn(f"the forecast of {len(names)} of {len(index)} curve(s) is not finite at {int(unscored.sum())} "
                      f"of {int(count.sum())} held-out point(s) (a NaN or infinite draw of {which}): these curves "
                      f"are not scored (their scores are NaN, column 'unscored'): "
                      f"{', '.join(names[:10])}{' ...' if len(names) > 10 else ''}",
                      UserWarning, stacklevel=3)
    curves = pd.DataFrame({"points_fit": [len(first.rows[i]) for i in index],
                           "points_heldout": [len(r) for r in rows], "unscored": unscored, "rmsle": rmsle})
    for j, level in enumerate(levels):
        curves[f"coverage_{100 * level:g}"] = coverage[:, j]
    curves["msce"] = ((coverage[:, len(levels):] - np.asarray(MSCE_LEVELS)) ** 2).mean(axis=1)
    nan = np.where(failed, np.nan, 1.0)  # the proper scores of a curve not scored are NaN, as its others
    curves["log_score"] = np.where(mask, log_score, 0.0).sum(axis=1) / count * nan
    curves["crps"] = np.where(mask, crps, 0.0).sum(axis=1) / count * nan
    for j, level in enumerate(levels):
        curves[f"interval_{100 * level:g}"] = np.where(mask, interval[..., j], 0.0).sum(axis=1) / count * nan
    for j, level in enumerate(levels):
        curves[f"width_{100 * level:g}"] = np.where(mask, width[..., j], 0.0).sum(axis=1) / count * nan
    group = first.columns.group
    if group is not None:
        curves.insert(0, group, labels)
        for column in [by] if isinstance(by, str) else list(by or []):
            curves[column] = [frame[column].iloc[r[0]] for r in rows]
    points = _points_table(first, frame, rows, labels, y, median, lower, upper, pit, dist, log_score, crps,
                           interval[..., levels.index(0.9)] if 0.9 in levels else None)
    calibration = pd.DataFrame(coverage[:, len(levels):], columns=pd.Index(MSCE_LEVELS, name="level"))
    return curves, points, calibration


def _heldout_rows(fit: Fit, frame: pd.DataFrame) -> tuple[list[int], list[np.ndarray]]:
    """Positions in ``fit.groups`` of the curves with held-out rows, and those rows (``iloc``)."""
    group = fit.columns.group
    if group is None:
        return [0], [np.arange(len(frame))]
    if group not in frame.columns:
        raise ValueError(f"group column {group!r} not found in the held-out rows")
    position = {label: i for i, label in enumerate(fit.groups)}
    labels = frame[group].to_numpy()
    unknown = sorted({str(v) for v in labels if v not in position})
    if unknown:
        raise ValueError(f"held-out rows of group(s) {unknown[:5]} of column {group!r} have no fitting rows")
    codes = np.array([position[v] for v in labels])
    index = sorted(set(codes.tolist()))
    missing = len(fit.groups) - len(index)
    if missing:
        warnings.warn(f"{missing} curve(s) have no held-out rows and are not scored", UserWarning, stacklevel=4)
    return index, [np.flatnonzero(codes == i) for i in index]


def _padded(values: np.ndarray, rows: Sequence[np.ndarray], fill) -> np.ndarray:
    width = bucket_size(max(len(r) for r in rows))
    out = np.full((len(rows), width), fill, dtype=values.dtype)
    for i, r in enumerate(rows):
        out[i, : len(r)] = values[r]
    return out


def _padded_inputs(fit: Fit, frame: pd.DataFrame, rows) -> dict[str, np.ndarray]:
    """Each law input as ``[curves, width]``; padding repeats the curve's first held-out point."""
    out = {}
    for k, column in fit.columns.inputs.items():
        values = _numeric_column(frame, column, f"input {k!r} of law {fit.law.name!r}")
        padded = _padded(values, rows, 1.0)
        for i, r in enumerate(rows):
            padded[i, len(r):] = values[r[0]]
        out[k] = padded
    return out


@functools.partial(jax.jit, static_argnums=(0, 5))
def _log_score(lik, loc, sigma, full, observed, observation: bool):
    """Log predictive density of ``log y`` at the held-out losses ``observed [C, M]``: ``[C, M]``.

    A new observation's predictive is the mixture, over the draws, of the
    likelihood at each draw's location ``loc [C, S, M]`` and scale ``sigma
    [C, S]``: its density is exact given the draws. The law's value alone
    (``kind="mean"``) has no density of its own; it is a Gaussian kernel
    density of the draws ``full`` in the likelihood's space
    (:func:`~bayescale._src.analysis.scores.kde_log_density`). Either density
    of the likelihood's variable ``z`` (log y, or logit y) is carried to one
    of ``log y`` by the Jacobian ``|dz / d log y|``.
    """
    log_y = jnp.log(observed)
    z = lik.observe(log_y)
    if observation:
        density = scores.mixture_log_density(lik.dist(loc, sigma[..., None]).log_prob(z[:, None, :]))
    else:
        # ``locate`` keeps a bounded law's draws that round to 1 just below it (their logit is finite)
        density = scores.kde_log_density(lik.locate(jnp.log(full)), z)
    return density + lik.log_jacobian(log_y) + log_y


def _mix(draws: list[np.ndarray], weights: np.ndarray, seed: int) -> np.ndarray:
    """The stacked mixture of the laws' draws (:func:`~bayescale._src.analysis.stacking.mix_draws`); one law's as they are."""
    return draws[0] if len(draws) == 1 else mix_draws(draws, weights, seed)


@jax.jit
def _metrics(values, point_values, observed, mask, levels, band_levels):
    """Per curve, from draws ``[C, S, M]``: the median (of ``point_values``), the 90% band, the PIT, the
    coverage per level of ``levels``, the RMSLE of the median, and per point the CRPS of log y, the interval
    score and the width of the central band of each of ``band_levels`` (the last two as shares of y)."""
    median = jnp.median(point_values, axis=1)
    lower, upper = jnp.quantile(values, jnp.asarray([0.05, 0.95]), axis=1)
    below = jnp.mean(values < observed[:, None, :], axis=1)
    ties = jnp.mean(values == observed[:, None, :], axis=1)
    pit = below + 0.5 * ties
    inside = jnp.abs(pit - 0.5)[..., None] <= levels / 2  # [C, M, L]
    count = mask.sum(axis=1)
    coverage = jnp.sum(inside & mask[..., None], axis=1) / count[:, None]
    error = jnp.where(mask, jnp.log(median) - jnp.log(observed), 0.0)
    rmsle = jnp.sqrt(jnp.sum(error**2, axis=1) / count)
    crps = scores.crps(jnp.log(values), jnp.log(observed))
    ends = jnp.quantile(values, jnp.concatenate([(1 - band_levels) / 2, (1 + band_levels) / 2]), axis=1)
    low, high = jnp.moveaxis(ends[: len(band_levels)], 0, -1), jnp.moveaxis(ends[len(band_levels):], 0, -1)
    interval = scores.interval_score(low, high, observed[..., None], band_levels) / observed[..., None]
    width = (high - low) / observed[..., None]
    return median, lower, upper, pit, coverage, rmsle, crps, interval, width


def _points_table(fit, frame, rows, labels, y, median, lower, upper, pit, distance, log_score, crps,
                  interval_90) -> pd.DataFrame:
    frames = []
    for i, r in enumerate(rows):
        m = len(r)
        df = pd.DataFrame({c: frame[c].to_numpy()[r] for c in fit.columns.inputs.values()})
        if fit.columns.group is not None:
            df.insert(0, fit.columns.group, labels[i])
        df["y"] = y[r]
        df["median"], df["lower"], df["upper"] = median[i, :m], lower[i, :m], upper[i, :m]
        df["pit"], df["distance"] = pit[i, :m], distance[i, :m]
        df["log_score"], df["crps"] = log_score[i, :m], crps[i, :m]
        if interval_90 is not None:
            df["interval_90"] = interval_90[i, :m]
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
