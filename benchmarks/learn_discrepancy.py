"""Learn the default discrepancy scales (``bs.Discrepancy``) from held-out errors by empirical Bayes.

    python benchmarks/learn_discrepancy.py            # the corpus, each model's learned scales, leave-one-set-out
    python benchmarks/learn_discrepancy.py --cache .jax_cache/learn_auto.pkl   # keep the fits between runs
    python benchmarks/learn_discrepancy.py --method laplace --models rate --no-grid   # on Laplace fits
    python benchmarks/learn_discrepancy.py --cache .jax_cache/learn_auto.pkl --misfit   # rates from the misfit

The discrepancy (bayescale/_src/fit/discrepancy.py) distorts a draw of the law beyond the fitted data: the
reducible part's progress beyond the data, ``u = -log(R / R_0)``, becomes ``int_0^u exp(eta_0 + eta_1 v /
u_span) dv``, with ``u_span`` the progress the fitted data covered, ``eta_0 = rate m z_0``, ``eta_1 = growth
m z_1``, ``m = exp(spread eps)``; the floor moves by ``zeta = floor z'`` in logit of its share of the law's
value at the edge of the data. ``rate`` is a drift of the rate of decline that is the same at any distance;
``growth`` one that grows with the distance beyond the data relative to the span the data covered. The scales
are hyperparameters that the fitting data cannot inform (no point lies beyond its own range), so they are
chosen by type-II maximum likelihood on held-out data (empirical Bayes): the scales that maximize the mean
held-out log predictive density over a corpus of leave-the-largest-out splits of the bundled curves,

- ``revisiting_lang/<domain>`` (BB, LM, NMT): the bundled split of the 20 language curves of Alabdulmohsin et
  al. (2022), ``revisiting_lang_half/<domain>`` and ``revisiting_lang_quarter/<domain>``, each curve fitted on
  the lower half (quarter), in log x, of its fitting points and scored on all the rest;
- ``chinchilla``: the bundled split (the 23 largest-compute runs held out), ``chinchilla_1e20`` and
  ``chinchilla_1e19``: runs of at most 1e20 (1e19) FLOP fitted, the rest (up to 1.3e22) held out;
- ``datablations``: the bundled split (the 26 longest runs), ``datablations_70`` and ``datablations_40``: the
  70% (40%) smallest-compute runs fitted;
- ``bnsl_addition``: its bundled split (3 points past a break).

The splits cover extrapolations from a few percent to several times the fitted span. Each set counts once in
the objective (a set's score is the mean over its curves of their mean log score), so the 20 language curves
do not outweigh the one-curve sets. Fits are made once per split with the law-only bands, by the engine
``bs.evaluate`` uses (``--method``; the discrepancy's scales depend on it, since engines differ in how wide the
law's own posterior is); the discrepancy does not change the fit, so each candidate is scored from the same
posterior draws and the same random numbers (common random numbers make the objective smooth in the scales).
The models are learned by Nelder-Mead on the log scales: ``rate`` (a drift of the rate of decline alike at every
distance), ``rate+growth`` and ``rate+information``; ``rate`` is also scored on a grid of rate x spread x floor,
widened where the maximum sits on an edge. The learned scales are compared with the shipped default set by set
(a paired difference: its standard error over the sets is the noise a change must beat). Leave-one-data-set-out:
for each family of sets (the splits of one data set), the scales learned on the others are scored on it; that
held-out score picks the model.

``--misfit`` scores instead rates that depend on each curve's in-sample misfit (:func:`misfit_stats`, the models
in :data:`MISFIT`): Kennedy and O'Hagan (2001, "Bayesian calibration of computer models", JRSS B 63(3)) learn a
discrepancy's amplitude from the structured part of the residuals, which white noise lacks. Each model has the
shared rate and one coefficient ``b`` of a statistic: the lack-of-fit amplitude (von Neumann's ratio) or the noise
scale relative to the law's fall over the fitted data, ``sqrt(rate^2 + (b stat)^2)``, or the lag-1
autocorrelation of the residuals, ``rate exp(b stat)``; every draw stays a valid curve (only the scale of
``eta_0`` changes). Each is scored on a grid of ``rate x b`` and judged leave-one-data-set-out against the shipped
default, both with the rate and ``b`` learned on the other data sets and with ``b`` alone (the rate held at the
default's), the second isolating the term.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import os
import pickle
import time
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import scipy.optimize
import scipy.stats

import bayescale as bs
from bayescale._src.analysis import evaluate as evaluate_mod
from bayescale._src.analysis.evaluate import Evaluation
from bayescale._src.fit import discrepancy as discrepancy_mod
from bayescale._src.model.model import ModelSpec
from bayescale._src.model.noise import standard_noise
from bayescale._src.precision import float64_context
from common import environment

FAMILIES = ("revisiting_lang", "chinchilla", "datablations", "bnsl_addition")
MODELS = {"rate": ("rate", "spread", "floor"), "rate+growth": ("rate", "spread", "floor", "growth"),
          "rate+information": ("rate", "spread", "floor", "information")}
START = bs.Discrepancy(rate=0.2, spread=1.0, floor=0.05, growth=0.05, information=0.5)
SIGNED = ("information",)  # optimized as is; the other scales on the log scale


def _lower(table: pd.DataFrame, column: str, share: float, by_curve: bool) -> pd.DataFrame:
    """``table`` with ``Training`` kept only on the lowest ``share`` (in log ``column``) of its fitting rows."""
    out = table.copy()
    logx = np.log10(out[column])
    fitted = out["Training"] == 1
    if by_curve:
        lo = logx[fitted].groupby(out["curve"]).transform("min").reindex(out.index)
        hi = logx[fitted].groupby(out["curve"]).transform("max").reindex(out.index)
    else:
        lo, hi = logx[fitted].min(), logx[fitted].max()
    out["Training"] = (fitted & (logx <= lo + share * (hi - lo))).astype(int)
    return out


def corpus() -> dict[str, tuple[pd.DataFrame, dict, str | None]]:
    """``{split name: (table with a Training column, evaluate options, by column or None)}``."""
    out = {}
    lang = bs.datasets.heldout("revisiting_lang")
    opts = dict(lang.attrs["evaluate"])
    out["revisiting_lang"] = (lang, opts, "Domain")
    out["revisiting_lang_half"] = (_lower(lang, "Seen Examples", 0.5, True), opts, "Domain")
    out["revisiting_lang_quarter"] = (_lower(lang, "Seen Examples", 0.25, True), opts, "Domain")
    chin = bs.datasets.heldout("chinchilla")
    copts = dict(chin.attrs["evaluate"])
    out["chinchilla"] = (chin, copts, None)
    out["chinchilla_1e20"] = (chin.assign(Training=(chin["C"] <= 1e20).astype(int)), copts, None)
    out["chinchilla_1e19"] = (chin.assign(Training=(chin["C"] <= 1e19).astype(int)), copts, None)
    dat = bs.datasets.heldout("datablations")
    dopts = dict(dat.attrs["evaluate"])
    out["datablations"] = (dat, dopts, None)
    compute = dat["params_N"] * dat["tokens_D"]
    out["datablations_70"] = (dat.assign(Training=(compute <= compute.quantile(0.7)).astype(int)), dopts, None)
    out["datablations_40"] = (dat.assign(Training=(compute <= compute.quantile(0.4)).astype(int)), dopts, None)
    bnsl = bs.datasets.heldout("bnsl_addition")
    out["bnsl_addition"] = (bnsl, dict(bnsl.attrs["evaluate"]), None)
    return out


def family(split: str) -> str:
    """The data set a split (or a split's domain set) comes from, for leave-one-set-out."""
    for name in FAMILIES:
        if split.startswith(name):
            return name
    raise ValueError(split)


class Prepared(NamedTuple):
    """One split's held-out curves, ready to be scored under any discrepancy: the law's draws and values."""

    spec: object
    params: dict
    new: jax.Array  # the law's values at the held-out points [C, S, M]
    reference: jax.Array  # smallest / largest oriented value at the fitted points [C, S]
    start: jax.Array
    sigma: jax.Array  # [C, S]
    observed: jax.Array  # [C, M] (padded with 1)
    mask: np.ndarray  # [C, M]
    relative: np.ndarray  # decades beyond the data / decades the data span, [C, M]
    sets: list  # the set each curve belongs to
    fitted: dict  # each curve's fitted inputs [C, W] (padded by repeating its first point)
    fitted_y: np.ndarray  # the observed values at them [C, W]
    fitted_mask: np.ndarray  # [C, W]


def prepare(ev: Evaluation, heldout: pd.DataFrame, by: str | None, name: str) -> Prepared:
    fit = next(iter(ev.fits.values()))
    index, rows = evaluate_mod._heldout_rows(fit, heldout)
    idx = np.asarray(index)
    x = evaluate_mod._padded_inputs(fit, heldout, rows)
    y = heldout[fit.columns.y].to_numpy(float)
    observed = evaluate_mod._padded(y, rows, 1.0)
    mask = evaluate_mod._padded(np.ones(len(y), bool), rows, False)
    params = {p: jnp.asarray(fit.draws(p)[idx]) for p in fit.law.param_names}
    fit_rows = [fit.rows[i] for i in index]
    fitted = discrepancy_mod.fitted_inputs(fit.law, fit.inputs, fit_rows)
    new, reference, start = discrepancy_mod._law_at(fit.spec, params, fitted, {k: jnp.asarray(v) for k, v in x.items()})
    known = discrepancy_mod.coordinates(fit.law, fit.inputs)
    span = np.asarray([np.ptp(known[r], axis=0).max() for r in fit_rows])
    distance = discrepancy_mod.distances(fit.law, fit.inputs, fit_rows, x)
    sets = [name] * len(index) if by is None else [f"{name}/{v}" for v in ev.curves[by]]
    fitted_y = evaluate_mod._padded(np.asarray(fit.y, float), fit_rows, 1.0)
    fitted_mask = evaluate_mod._padded(np.ones(len(fit.y), bool), fit_rows, False)
    width = fitted_y.shape[1]
    fitted = {k: np.pad(v, ((0, 0), (0, width - v.shape[1])), mode="edge") for k, v in fitted.items()}
    return Prepared(fit.spec, params, new, reference, start, jnp.asarray(fit.observation_scale()[idx]),
                    jnp.asarray(observed), mask, distance / np.maximum(span, 1e-9)[:, None], sets,
                    fitted, fitted_y, fitted_mask)


LEVELS = np.asarray(evaluate_mod.MSCE_LEVELS)


def curve_scores(prepared: Prepared, prior: bs.Discrepancy | None, seed: int = 0, rate=None) -> pd.DataFrame:
    """Per held-out curve: its set, mean log score of log y, 90% coverage and MSCE (from the PIT).

    ``rate`` (``[C]``, optional): each curve's own rate in place of ``prior.rate`` (the misfit models)."""
    p = prepared
    lik = p.spec.likelihood
    key = jax.random.PRNGKey(seed)
    loc = lik.locate(jnp.log(p.new))
    if prior is not None and rate is None:
        loc = loc + discrepancy_mod.value_shifts(prior, p.spec, p.params, p.new, p.reference, p.start,
                                                 jax.random.fold_in(key, 1))
    elif prior is not None:  # the same random numbers as value_shifts, a rate per curve
        dtype = jnp.result_type(p.new)
        scales = (jnp.asarray(rate, dtype)[:, None], *(jnp.asarray(v, dtype) for v in prior.scales[1:]))
        loc = loc + discrepancy_mod._shifts(p.spec, discrepancy_mod.floor_name(p.spec.law), scales, dict(p.params),
                                            p.new, p.reference, p.start, jax.random.fold_in(key, 1))
    noise = standard_noise(lik, jax.random.fold_in(key, 2), loc.shape, loc.dtype)
    full = lik.natural(loc + p.sigma[..., None] * noise)
    density = np.asarray(evaluate_mod._log_score(lik, loc, p.sigma, full, p.observed, True))
    pit = np.asarray(jnp.mean(full <= p.observed[:, None, :], axis=1))
    count = p.mask.sum(axis=1)
    inside = np.abs(pit[..., None] - 0.5) <= LEVELS / 2  # [C, M, levels]
    coverage = np.where(p.mask[..., None], inside, 0).sum(axis=1) / count[:, None]
    return pd.DataFrame({"set": p.sets, "log_score": np.where(p.mask, density, 0).sum(axis=1) / count,
                         "coverage_90": coverage[:, list(LEVELS).index(0.9)],
                         "msce": ((coverage - LEVELS) ** 2).mean(axis=1)})


def set_scores(prepared: dict[str, Prepared], prior, seed: int = 0, rates=None) -> pd.DataFrame:
    """One row per set: the mean over its curves (each set counts once in the objective); ``rates``
    (``{split: [C]}``, optional): each curve's own rate."""
    with float64_context():
        table = pd.concat([curve_scores(p, prior, seed, None if rates is None else rates[k])
                           for k, p in prepared.items()])
    if table["log_score"].isna().any():
        raise RuntimeError(f"log score NaN on {sorted(set(table['set'][table['log_score'].isna()]))}")
    return table.groupby("set", sort=False).mean()


def unpack(theta, names) -> bs.Discrepancy:
    values = {k: float(t if k in SIGNED else np.exp(t)) for k, t in zip(names, theta)}
    return bs.Discrepancy(**{**{k: 0.0 for k in ("floor", "growth", "information")}, **values})


def learn(prepared: dict[str, Prepared], names, sets=None) -> tuple[bs.Discrepancy, float]:
    """Nelder-Mead on the log scales ``names``: the maximum of the mean set log score over ``sets`` (all)."""

    def loss(theta):
        table = set_scores(prepared, unpack(theta, names))
        return -table.loc[sets if sets is not None else table.index, "log_score"].mean()

    theta0 = np.asarray([getattr(START, k) if k in SIGNED else np.log(getattr(START, k)) for k in names])
    result = scipy.optimize.minimize(loss, theta0, method="Nelder-Mead",
                                     options={"xatol": 0.05, "fatol": 1e-4, "maxfev": 100})
    return unpack(result.x, names), -result.fun


METHOD = inspect.signature(bs.evaluate).parameters["method"].default  # the engine bs.evaluate fits with


GRID = {"rate": (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.45), "spread": (0.0, 0.5, 1.0, 1.5),
        "floor": (0.0, 0.05, 0.1, 0.2, 0.4)}


def grid(prepared: dict[str, Prepared], axes=None, widen: int = 3) -> pd.DataFrame:
    """Every set's log score (columns) on a grid of rate x spread x floor (the index).

    Where the maximum of the mean over the sets sits on an axis's upper edge (or on a lower edge above 0), that
    axis is extended by one step (x1.5 beyond the top, /2 below the bottom) and the new points are scored, at
    most ``widen`` times.
    """
    axes = {k: list(v) for k, v in (axes or GRID).items()}
    scored: dict[tuple, pd.Series] = {}
    for _ in range(widen + 1):
        for point in itertools.product(*axes.values()):
            if point not in scored:
                scored[point] = set_scores(prepared, bs.Discrepancy(*point))["log_score"]
        best = max(scored, key=lambda k: scored[k].mean())
        edges = False
        for i, name in enumerate(axes):
            values = axes[name]
            if best[i] == values[-1]:
                values.append(round(values[-1] * 1.5, 4))
                edges = True
            elif best[i] == values[0] and values[0] > 0:
                values.insert(0, round(values[0] / 2, 4))
                edges = True
        if not edges:
            break
    table = pd.DataFrame(scored).T
    table.index.names = list(axes)
    return table


def paired(prepared: dict[str, Prepared], a, b, seeds=(0, 1, 2, 3)) -> pd.DataFrame:
    """Per set (rows) and seed of the discrepancy's random numbers (columns), the log score of ``b`` minus
    that of ``a``: the spread over the sets is the corpus's noise, the spread over the seeds Monte Carlo's."""
    diffs = pd.concat({seed: set_scores(prepared, b, seed)["log_score"] - set_scores(prepared, a, seed)["log_score"]
                       for seed in seeds}, axis=1)
    return diffs


def misfit_stats(p: Prepared) -> pd.DataFrame:
    """Per curve, the law's in-sample misfit and what it is measured against.

    ``r`` are the residuals of the posterior median of the law in log loss, ``log y - median log L``, at the
    fitted points ordered along the discrepancy's scale coordinate (ties by the inputs). Their mean square
    splits into a white part and a smooth part by von Neumann's ratio: white noise has ``mean(diff(r)^2) / 2
    = mean(r^2)``, so ``lack = sqrt(max(0, mean(r^2) - mean(diff(r)^2) / 2))`` is the size of the structured
    (lack-of-fit) part, the part Kennedy and O'Hagan (2001) learn the discrepancy's amplitude from;
    ``autocorr`` is the lag-1 autocorrelation ``sum r_i r_{i+1} / sum r_i^2``. ``log_span`` is the log of
    the law's own fall over the fitted points, ``log(L_start / L_ref)`` (medians over the draws), ``u_span``
    that of the reducible part (the discrepancy's fitted progress), ``sigma`` the posterior median noise scale.
    """
    with float64_context():
        fitted = {k: jnp.asarray(v) for k, v in p.fitted.items()}
        values, reference, start = discrepancy_mod._law_at(p.spec, p.params, fitted, fitted)
        floor = discrepancy_mod.floor_name(p.spec.law)
        base = np.asarray(p.params[floor]) if floor is not None else 0.0
        base = np.minimum(base, np.asarray(reference) * (1 - 1e-9))
        u_span = np.median(np.log((np.asarray(start) - base) / (np.asarray(reference) - base)), axis=1)
        log_span = np.median(np.log(np.asarray(start) / np.asarray(reference)), axis=1)
        median = np.median(np.log(np.asarray(values)), axis=1)  # [C, W]
    coordinate = discrepancy_mod.coordinates(p.spec.law, p.fitted)[..., 0]
    rows = []
    for c in range(len(p.sets)):
        keep = np.flatnonzero(p.fitted_mask[c])
        order = keep[np.lexsort([*(p.fitted[k][c, keep] for k in reversed(p.spec.law.inputs)),
                                 coordinate[c, keep]])]
        r = np.log(p.fitted_y[c, order]) - median[c, order]
        square = np.mean(r ** 2)
        white = np.mean(np.diff(r) ** 2) / 2 if len(r) > 1 else square
        rows.append({"set": p.sets[c], "points": len(r), "rms": np.sqrt(square), "curve": c,
                     "lack": np.sqrt(max(0.0, square - white)),
                     "autocorr": float(np.sum(r[:-1] * r[1:]) / max(np.sum(r ** 2), 1e-300)),
                     "sigma": float(np.median(np.asarray(p.sigma[c]))),
                     "log_span": max(log_span[c], SPAN_MIN), "u_span": max(u_span[c], SPAN_MIN)})
    return pd.DataFrame(rows)


#: the smallest fitted fall (log_span, u_span) a statistic is divided by, as the discrepancy's growth term does:
#: a curve of one point, or of points the law puts at one value, fell by 0 over its data
SPAN_MIN = 0.02


#: The misfit models: each curve's rate from the shared ``rate`` and one learned ``b`` and the curve's statistics
#: (:func:`misfit_stats`); the drift's other scales are the default's. The statistic is relative to the law's
#: fall over the fitted data, ``log_span``: a misfit of ``m`` in log loss over that fall is a drift of the rate
#: of decline of about ``m / log_span``.
MISFIT = {
    "lack": lambda rate, b, t: np.sqrt(rate ** 2 + (b * t["lack"] / t["log_span"]) ** 2),
    "lack_u": lambda rate, b, t: np.sqrt(rate ** 2 + (b * t["lack"] / t["u_span"]) ** 2),
    "noise": lambda rate, b, t: np.sqrt(rate ** 2 + (b * t["sigma"] / t["log_span"]) ** 2),
    "noise_u": lambda rate, b, t: np.sqrt(rate ** 2 + (b * t["sigma"] / t["u_span"]) ** 2),
    "autocorr": lambda rate, b, t: rate * np.exp(b * t["autocorr"]),
}
MISFIT_GRID = {"rate": (0.0, 0.05, 0.1, 0.15, 0.2, 0.3),
               "b": {"lack": (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0), "lack_u": (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0),
                     "noise": (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0), "noise_u": (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0),
                     "autocorr": (-1.0, -0.5, 0.0, 0.5, 1.0, 2.0)}}


def misfit_study(prepared: dict[str, Prepared], models=tuple(MISFIT), seeds=(0, 1, 2, 3)) -> None:
    """Score each misfit model on a grid of ``rate x b`` and judge it leave-one-data-set-out against the shipped
    default: for each data set, the grid point best on the other data sets, scored on its sets; paired
    differences with the default per set (the standard error over the sets, and over ``seeds``)."""
    stats = {k: misfit_stats(p) for k, p in prepared.items()}
    table = pd.concat(stats.values())
    shipped = bs.Discrepancy()
    constant = pd.DataFrame({r: set_scores(prepared, shipped._replace(rate=r))["log_score"]
                             for r in (0.0, 0.05, 0.1, 0.14, 0.2, 0.28, 0.4, 0.57, 0.8)})
    summary = table.drop(columns="curve").groupby("set", sort=False).median()
    summary["lack / log_span"] = (table["lack"] / table["log_span"]).groupby(table["set"], sort=False).median()
    summary["sigma / log_span"] = (table["sigma"] / table["log_span"]).groupby(table["set"], sort=False).median()
    summary["best rate"] = constant.idxmax(axis=1)
    summary["its gain"] = constant.max(axis=1) - constant[shipped.rate]
    print("\nin-sample misfit per set (medians over its curves) and the set's best constant rate (spread 1, floor 0; "
          "its gain in log score over rate 0.2):")
    print(summary.round(4).to_string())
    for stat in ("lack / log_span", "sigma / log_span", "autocorr"):
        rho = scipy.stats.spearmanr(summary[stat], summary["best rate"]).statistic
        print(f"  Spearman correlation of {stat} with the set's best rate: {rho:+.2f}")
    base = set_scores(prepared, shipped)["log_score"]
    for model in models:
        start = time.perf_counter()
        scored = {}
        for rate, b in itertools.product(MISFIT_GRID["rate"], MISFIT_GRID["b"][model]):
            rates = {k: MISFIT[model](rate, b, t).to_numpy() for k, t in stats.items()}
            scored[(rate, b)] = set_scores(prepared, shipped, rates=rates)["log_score"]
        scores = pd.DataFrame(scored).T
        scores.index.names = ["rate", "b"]
        if scores.isna().any().any():
            raise RuntimeError(f"model {model}: a set scores NaN")
        mean = scores.mean(axis=1)
        print(f"\nmodel {model} ({len(mean)} grid points, {time.perf_counter() - start:.0f} s): in-sample best "
              f"rate/b {'/'.join(f'{v:g}' for v in mean.idxmax())} {mean.max():.4f} (shipped default "
              f"{base.mean():.4f}); best over rate, by b: "
              + ", ".join(f"{b:g}: {v:.4f}" for b, v in mean.groupby(level="b").max().items()))
        for fixed in (False, True):  # rate and b learned; b alone, the rate held at the shipped default's
            grid_ = scores.xs(shipped.rate, level="rate", drop_level=False) if fixed else scores
            rows, diffs = [], []
            for held in FAMILIES:
                test = [s for s in scores.columns if family(s) == held]
                rate, b = grid_.drop(columns=test).mean(axis=1).idxmax()
                rates = {k: MISFIT[model](rate, b, t).to_numpy() for k, t in stats.items()}
                per_seed = pd.concat({seed: set_scores(prepared, shipped, seed, rates)["log_score"]
                                      - set_scores(prepared, shipped, seed)["log_score"] for seed in seeds}, axis=1)
                diffs.append(per_seed.loc[test])
                rows.append({"data set": held, "learned rate/b": f"{rate:g}/{b:g}",
                             "log score": scores.loc[(rate, b), test].mean(), "shipped default": base[test].mean(),
                             "paired diff": per_seed.loc[test].mean(axis=1).mean()})
            print(f"  leave-one-data-set-out, {'b alone (rate 0.2)' if fixed else 'rate and b'}:")
            print(pd.DataFrame(rows).round(4).to_string(index=False))
            diffs = pd.concat(diffs)
            per_set = diffs.mean(axis=1)
            print(f"  minus the shipped default, mean over the {len(per_set)} sets: {per_set.mean():+.4f} (standard "
                  f"error over the sets {per_set.std(ddof=1) / np.sqrt(len(per_set)):.4f}, over {diffs.shape[1]} "
                  f"seeds {diffs.mean().std(ddof=1):.4f}); mean over the data sets "
                  f"{np.mean([r['paired diff'] for r in rows]):+.4f}", flush=True)


def fit_corpus(splits, method: str = METHOD) -> dict[str, Prepared]:
    out = {}
    for name, (table, opts, by) in splits.items():
        start = time.perf_counter()
        ev = bs.evaluate(table, discrepancy=None, by=by, method=method, **opts)
        out[name] = prepare(ev, table[table["Training"] == 0], by, name)
        print(f"  {name}: {len(ev.curves)} curve(s), {len(ev.points)} held-out points, held-out distance / "
              f"fitted span {np.median(out[name].relative[out[name].mask]):.2f} (median), "
              f"{time.perf_counter() - start:.1f} s", flush=True)
    return out


def thin(p: Prepared, draws: int) -> Prepared:
    """At most ``draws`` posterior draws, evenly spaced (the objective is evaluated many times)."""
    keep = np.linspace(0, p.new.shape[1] - 1, min(draws, p.new.shape[1])).astype(int)
    return p._replace(params={k: v[:, keep] for k, v in p.params.items()}, new=p.new[:, keep],
                      reference=p.reference[:, keep], start=p.start[:, keep], sigma=p.sigma[:, keep])


def show(prior) -> str:
    return "law only" if prior is None else "/".join(f"{v:.3g}" for v in prior)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=1000, help="posterior draws per curve kept for scoring")
    parser.add_argument("--cache", help="pickle of the prepared fits: read if it exists, else written")
    parser.add_argument("--method", default=METHOD,
                        help=f"the engine of the fits (default: {METHOD!r}, the one bs.evaluate uses)")
    parser.add_argument("--models", nargs="*", choices=list(MODELS), default=list(MODELS),
                        help="the models learned by Nelder-Mead (default: all)")
    parser.add_argument("--misfit", nargs="*", choices=list(MISFIT), default=None,
                        help="only the misfit models (default: none; no value: all), leave-one-data-set-out")
    parser.add_argument("--grid", action=argparse.BooleanOptionalAction, default=True,
                        help="score the grid of rate x spread x floor (default: yes)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    pd.set_option("display.width", 250, "display.max_columns", 30)
    print(environment())
    models = {m: MODELS[m] for m in args.models}
    if args.cache and os.path.exists(args.cache):
        with open(args.cache, "rb") as f:
            stored = pickle.load(f)
        if stored.get("method") != args.method:
            raise SystemExit(f"{args.cache} holds fits with method={stored.get('method')!r}, not {args.method!r}")
        prepared = {k: p._replace(spec=ModelSpec(bs.laws.get(p.spec[0]), (), p.spec[1]))
                    for k, p in stored["prepared"].items()}
        print(f"fits (law only, method={args.method!r}) read from {args.cache}")
    else:
        print(f"fitting the corpus (law only, method={args.method!r}):")
        with float64_context():
            prepared = fit_corpus(corpus(), args.method)
        if args.cache:  # the law holds local functions: store its name, rebuild it on load
            with open(args.cache, "wb") as f:
                pickle.dump({"method": args.method, "prepared": {
                    k: p._replace(spec=(p.spec.law.name, p.spec.likelihood)) for k, p in prepared.items()}}, f)
    prepared = {k: thin(p, args.draws) for k, p in prepared.items()}
    if args.misfit is not None:
        misfit_study(prepared, args.misfit or tuple(MISFIT))
        return
    sets = list(set_scores(prepared, None).index)
    print("\nscales (rate/spread/floor/growth) learned on all sets, by model:")
    learned = {}
    for model, names in models.items():
        start = time.perf_counter()
        learned[model], value = learn(prepared, names)
        print(f"  {model}: {show(learned[model])}, mean set log score {value:.4f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    if args.grid:
        start = time.perf_counter()
        scores = grid(prepared)
        mean = scores.mean(axis=1).sort_values(ascending=False)
        print(f"\ngrid of rate x spread x floor, widened where the maximum sat on an edge "
              f"({len(mean)} points, {time.perf_counter() - start:.0f} s); the best 15 by mean set log score:")
        print(mean.head(15).round(4).to_string())
        for axis in GRID:  # the profile: the best over the other two axes at each value of this one
            best = mean.groupby(level=axis).max()
            print(f"  best by {axis}: " + ", ".join(f"{k:g}: {v:.4f}" for k, v in best.items()))
        learned["grid"] = bs.Discrepancy(*mean.index[0])
        print("\nleave-one-data-set-out on the grid (the grid's best on the other data sets, scored on this one):")
        rows = []
        for held in FAMILIES:
            test = [s for s in scores.columns if family(s) == held]
            point = scores.drop(columns=test).mean(axis=1).idxmax()
            rows.append({"data set": held, "learned": "/".join(f"{v:g}" for v in point),
                         "log score": scores.loc[point, test].mean(),
                         "shipped default": scores.loc[tuple(bs.Discrepancy()[:3]), test].mean()
                         if tuple(bs.Discrepancy()[:3]) in scores.index else np.nan})
        print(pd.DataFrame(rows).round(4).to_string(index=False))
    shipped = bs.Discrepancy()
    for model, prior in learned.items():
        diffs = paired(prepared, shipped, prior)
        mean = diffs.mean(axis=1)
        print(f"\n{model} ({show(prior)}) minus the shipped default ({show(shipped)}), mean set log score: "
              f"{mean.mean():+.4f}; standard error over the {len(mean)} sets "
              f"{mean.std(ddof=1) / np.sqrt(len(mean)):.4f}"
              f"; over {diffs.shape[1]} seeds of the discrepancy's random numbers {diffs.mean().std(ddof=1):.4f}; "
              f"by data set: " + ", ".join(f"{f} {mean[[family(s) == f for s in mean.index]].mean():+.4f}"
                                          for f in FAMILIES))
    candidates = {"law only": None, "shipped default": shipped, **learned}
    table = pd.concat({name: set_scores(prepared, prior) for name, prior in candidates.items()}, axis=1)
    print("\nevery set under each setting (in-sample for the learned ones):")
    print(table.round(4).to_string())

    if not models:
        return
    print("\nleave-one-data-set-out (scales learned by Nelder-Mead on the other data sets, scored on this one):")
    rows = []
    for held in FAMILIES:
        train = [s for s in sets if family(s) != held]
        test = [s for s in sets if family(s) == held]
        for model, names in models.items():
            prior, _ = learn(prepared, names, train)
            out = set_scores(prepared, prior).loc[test]
            for s in test:
                rows.append({"set": s, "model": model, "learned": show(prior), **out.loc[s].to_dict()})
    loso = pd.DataFrame(rows)
    print(loso.round(4).to_string(index=False))
    print("\nmean over sets, leave-one-data-set-out:")
    print(loso.groupby("model")[["log_score", "coverage_90", "msce"]].mean().round(4).to_string())


if __name__ == "__main__":
    main()
