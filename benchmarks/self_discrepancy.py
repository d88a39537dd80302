r"""Learn the discrepancy's rate from a fit's own held-out structure: the law's error on this data set.

A study, not part of the library: on the bundled held-out splits the rate it learns does not predict the rate
that forecasts the real held-out points better (``bench_heldout.py --learn``, ``benchmarks/README.md``, section
``bench_heldout.py``), so ``bs.evaluate`` and ``Fit.predict`` keep the corpus's default.

The default scales of the discrepancy (:data:`bayescale._src.fit.discrepancy.DEFAULT`) were learned once, by
empirical Bayes over held-out splits of a corpus of real curves. How much error a law makes beyond the data
differs between data sets, so a fit whose curves have points enough can learn its own rate from them, by the
prequential principle (Dawid 1984, "Present position and potential developments: the prequential approach",
JRSS A 147(2)): judge a forecast system by how it forecast what came next. Inside the fitted data the larger
points of each curve are what came next after its smaller ones:

1. each curve ``c``'s fitted points are split at ``share`` of its span in the scale coordinate ``t``
   (:func:`~bayescale._src.fit.discrepancy.coordinates`: ``log10 x``, ``log10 6 N D``, else the sum of the
   inputs' ``log10``): the points with ``t <= t_min + share (t_max - t_min)`` are fitted again (one batched
   ``bs.fit`` with the fit's own options), the others, ``j in H_c``, are forecast; a curve with fewer than
   ``p + 1`` points below the split (``p`` the law's parameters) or none above takes no part;
2. every candidate rate ``r`` (a grid on ``log r``) scores the forecast of the held-out points by the log
   predictive density of a new observation (Gneiting, Balabdaoui and Raftery 2007, "Probabilistic
   forecasts, calibration and sharpness", JRSS B 69(2)), each curve counting once, since a curve's points
   share one draw of the drift: ``S(r) = sum_c |H_c|^{-1} sum_{j in H_c} log p_r(y_j | y_{c, fitted})``;
3. the rate is the mode of ``S(r)`` plus the log of a log-normal hyperprior centred at the corpus's rate
   ``r_0``,

.. math::

    \hat r = \arg\max_r \; S(r) - \frac{(\log r - \log r_0)^2}{2 \tau^2},

the corpus acting as the prior of an empirical-Bayes estimate (Kennedy and O'Hagan 2001, "Bayesian
calibration of computer models", JRSS B 63(3), learn the discrepancy's hyperparameters from the data; here the
corpus shrinks them): a fit with one short curve and no internal held-out points keeps ``r_0``, a fit of
many curves whose larger points the law forecasts badly (or well) moves it up (or down). ``tau`` is the
spread of the rate between data sets. With several shares (origins, as in rolling-origin evaluation of
forecasts) ``S`` is their mean, each origin counting once. The other scales (spread, floor, growth, information,
source) are the corpus's; with ``floors`` the floor's scale is chosen on the same grid with a half-normal
hyperprior.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bayescale._src.analysis import scores
from bayescale._src.analysis.compare import _table
from bayescale._src.fit import discrepancy as discrepancy_mod, fitting
from bayescale._src.fit.results import Fit
from bayescale._src.model.data import bucket_size
from bayescale._src.precision import float64

#: the share of each curve's span (in the scale coordinate) fitted again; the rest is forecast
SHARE = 0.65
#: ``tau``: the standard deviation of the log-normal hyperprior on the rate, centred at the corpus's rate
RATE_SD = 0.5
#: the scale of the half-normal hyperprior on the floor's scale (only where ``floors`` are searched)
FLOOR_SCALE = 0.1
#: the rate grid, as factors on the corpus's rate (steps of 2^(1/4), 1/4 to 4 times)
RATE_FACTORS = tuple(2.0 ** (k / 4) for k in range(-8, 9))


class Learned(NamedTuple):
    """A discrepancy learned from a fit's own held-out structure (:func:`learn_discrepancy`).

    Attributes
    ----------
    discrepancy
        The learned :class:`~bayescale.Discrepancy`: the corpus's scales with the learned rate (and floor).
    scores
        One row per candidate: ``rate``, ``floor``, ``log_score`` (``S``: the sum over the curves of the mean
        log predictive density of their internal held-out points), ``log_prior`` and ``objective`` (their sum).
        Empty where no curve had internal held-out points.
    curves, points
        How many curves took part, and their internal held-out points.
    """

    discrepancy: discrepancy_mod.Discrepancy
    scores: pd.DataFrame
    curves: int
    points: int


def split_rows(fit: Fit, share: float = SHARE) -> tuple[list[int], list[np.ndarray], list[np.ndarray]]:
    """Per curve that takes part (its position in ``fit.groups``), the rows fitted again and those forecast:
    the rows at most ``share`` of the curve's span up its scale coordinate, and the rest."""
    if not 0 < share < 1:
        raise ValueError(f"share must be between 0 and 1, got {share!r}")
    t = discrepancy_mod.coordinates(fit.law, fit.inputs).sum(axis=-1)
    need = len(fit.law.param_names) + 1
    index, below, above = [], [], []
    for i, rows in enumerate(fit.rows):
        lo, hi = t[rows].min(), t[rows].max()
        inside = t[rows] <= lo + share * (hi - lo) + 1e-12 * max(1.0, abs(hi))
        if inside.sum() >= need and (~inside).sum() >= 1:
            index.append(i)
            below.append(rows[inside])
            above.append(rows[~inside])
    return index, below, above


@float64
def learn_discrepancy(fit: Fit, *, share: float | Sequence[float] = SHARE, center: Any = "default",
                      rate_sd: float = RATE_SD, rates: Sequence[float] | None = None,
                      floors: Sequence[float] | None = None, draws: int = 1000, seed: int = 0) -> Learned:
    """Learn the discrepancy's rate (and floor) from the fit's own curves (module docstring).

    Parameters
    ----------
    fit
        A fit; its law is fitted again, with the fit's own options, on the lower ``share`` of each curve.
    share
        The share of each curve's span in the scale coordinate fitted again (0 < share < 1), or several.
    center
        The corpus's scales, the hyperprior's centre and the scales not learned: ``"default"`` or a
        :class:`~bayescale.Discrepancy` with a rate above 0.
    rate_sd
        ``tau``, the standard deviation of the hyperprior on ``log rate`` (``inf``: no shrinkage).
    rates
        The candidate rates (default: ``center.rate`` times 2^(k/4), k = -8..8).
    floors
        Candidate floor scales, with a half-normal hyperprior of scale 0.1; default: ``center.floor`` alone.
    draws
        Posterior draws per curve used to score (evenly thinned).
    seed
        Seed of the discrepancy's random numbers (common to every candidate) and of the refit.

    Returns
    -------
    :class:`Learned`
    """
    base = discrepancy_mod.resolve(center)
    if base is None or not base.rate > 0:
        raise ValueError(f"center must be 'default' or a bs.Discrepancy with a rate above 0, got {center!r}")
    if not rate_sd > 0:
        raise ValueError(f"rate_sd must be above 0, got {rate_sd!r}")
    rates = np.asarray([base.rate * f for f in RATE_FACTORS] if rates is None else rates, float)
    floors = np.asarray([base.floor] if floors is None else floors, float)
    if not (rates.size and np.all(rates > 0) and np.all(np.isfinite(rates))):
        raise ValueError(f"rates must be finite numbers above 0, got {rates.tolist()}")
    if not (floors.size and np.all(floors >= 0) and np.all(np.isfinite(floors))):
        raise ValueError(f"floors must be finite numbers >= 0, got {floors.tolist()}")
    if int(draws) < 1:
        raise ValueError(f"draws must be at least 1, got {draws!r}")
    shares = np.atleast_1d(np.asarray(share, float))
    per_origin, curves, points = [], 0, 0
    for origin in shares:
        index, below, above = split_rows(fit, float(origin))
        if not index:
            continue
        per_origin.append(_origin_scores(fit, base, index, below, above, rates, floors, draws, seed))
        curves, points = max(curves, len(index)), points + int(sum(len(r) for r in above))
    if not per_origin:
        return Learned(base, pd.DataFrame(columns=["rate", "floor", "log_score", "log_prior", "objective"]), 0, 0)
    rows = []
    log_score = np.mean(per_origin, axis=0)  # [floors, rates]: each origin counts once
    for a, floor in enumerate(floors):
        for b, rate in enumerate(rates):
            log_prior = rate_log_prior(rate, base.rate, rate_sd)
            if floors.size > 1:
                log_prior -= 0.5 * (floor / FLOOR_SCALE) ** 2
            rows.append({"rate": float(rate), "floor": float(floor), "log_score": float(log_score[a, b]),
                         "log_prior": float(log_prior)})
    table = pd.DataFrame(rows)
    table["objective"] = table["log_score"] + table["log_prior"]
    best = table.loc[table["objective"].idxmax()]
    learned = base._replace(rate=float(best["rate"]), floor=float(best["floor"]))
    return Learned(learned, table, curves, points)


def rate_log_prior(rate, centre: float, rate_sd: float):
    """The hyperprior's log density (up to a constant) of ``rate``: normal in ``log rate`` around ``log centre``,
    sd ``rate_sd`` (``inf``: flat)."""
    return -0.5 * ((np.log(rate) - np.log(centre)) / rate_sd) ** 2


def _origin_scores(fit, base, index, below, above, rates, floors, draws, seed) -> np.ndarray:
    """``S`` of every candidate ``[floors, rates]`` for one split of the curves ``index`` into the rows
    ``below`` (fitted again) and ``above`` (forecast)."""
    options = fitting.options_of(fit)._replace(seed=seed)
    refit = fitting.run_fit(_table(fit, np.concatenate(below)), options, progress=None, one_width=2**16)
    position = {label: k for k, label in enumerate(refit.groups)}
    curves = [position[fit.groups[i]] for i in index] if fit.grouped else [0]
    law, spec = fit.law, refit.spec
    total = refit.draws(law.param_names[0]).shape[1]
    keep = np.linspace(0, total - 1, min(int(draws), total)).astype(int)
    params = {k: jnp.asarray(refit.draws(k)[np.asarray(curves)][:, keep]) for k in law.param_names}
    sigma = jnp.asarray(refit.observation_scale()[np.asarray(curves)][:, keep])
    width = bucket_size(max(len(r) for r in above))
    padded = np.stack([np.concatenate([r, np.full(width - len(r), r[0])]) for r in above])
    mask = np.stack([np.arange(width) < len(r) for r in above])
    x = {k: jnp.asarray(np.asarray(fit.inputs[k], float)[padded]) for k in law.inputs}
    observed = jnp.asarray(np.asarray(fit.y, float)[padded])
    fitted = discrepancy_mod.fitted_inputs(law, refit.inputs, [refit.rows[c] for c in curves])
    source = discrepancy_mod.source_inputs(base, spec)
    runs = None if source is None else {k: jnp.asarray(v) for k, v in source.items()}
    new, reference, start = discrepancy_mod._law_at(spec, params, fitted, x, runs)
    lik = spec.likelihood
    location = lik.locate(jnp.log(new))
    log_y = jnp.log(observed)
    z = lik.observe(log_y)
    jacobian = lik.log_jacobian(log_y) + log_y
    key = jax.random.PRNGKey(seed)
    count = mask.sum(axis=1)
    out = np.empty((len(floors), len(rates)))
    for a, floor in enumerate(floors):
        for b, rate in enumerate(rates):
            scales = base._replace(rate=float(rate), floor=float(floor))
            shift = discrepancy_mod.value_shifts(scales, spec, params, new, reference, start, key)
            density = scores.mixture_log_density(lik.dist(location + shift, sigma[..., None]).log_prob(z[:, None, :]))
            density = np.asarray(density + jacobian)
            out[a, b] = (np.where(mask, density, 0.0).sum(axis=1) / count).sum()
    return out
