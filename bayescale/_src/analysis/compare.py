"""``bs.compare``: rank fits of the same data by PSIS-LOO and by extrapolation cross-validation.

Two questions, two scores:

- **Which law predicts a new point like the ones observed?** Pareto-smoothed
  importance-sampling leave-one-out cross-validation (PSIS-LOO; Vehtari,
  Gelman & Gabry 2017, "Practical Bayesian model evaluation using
  leave-one-out cross-validation and WAIC", Statistics and Computing) through
  ``arviz.loo`` / ``arviz.compare`` on each fit's ``idata`` (its
  ``log_likelihood`` group is the density of each observed loss). Where the
  Pareto shape ``k`` of a point exceeds 0.7 the estimate is unreliable and a
  :class:`~bayescale._src.fit.diagnostics.FitWarning` says so.
- **Which law extrapolates?** What scaling laws are for. Each law is refitted
  on the smaller-x part of each curve and scored on the held-out larger-x
  part (Alabdulmohsin et al. 2022 argue for exactly this score): the RMSE of
  log loss of the median prediction, and how often the held-out losses fall
  inside the central 50/80/90/95% bands of a new observation. A well-calibrated
  law has coverage near the nominal levels.

"Larger x" is ``x`` for one-input laws and the sum of the log inputs (about
log compute for ``N, D``) for the others.
"""

from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import arviz as az
import numpy as np
import pandas as pd

from bayescale._src import engines
from bayescale._src.fit import fitting
from bayescale._src.fit.diagnostics import FitWarning
from bayescale._src.fit.results import Fit
from bayescale._src.precision import float64

INTERVALS = (0.5, 0.8, 0.9, 0.95)
PARETO_K_MAX = 0.7


def named_fits(fits: Mapping[str, Fit] | Sequence[Fit]) -> dict[str, Fit]:
    """``{name: Fit}`` from a dict or a list (named by law), checking every fit saw the same losses."""
    if isinstance(fits, Mapping):
        out = dict(fits)
    else:
        out = {}
        for f in fits:
            name = f.law.name if isinstance(f, Fit) else str(f)
            if name in out:
                raise ValueError(f"two fits of law {name!r}: pass a dict of name -> Fit to tell them apart")
            out[name] = f
    if len(out) < 1:
        raise ValueError("compare needs at least one fit")
    first_name, first = next(iter(out.items()))
    for name, f in out.items():
        if not isinstance(f, Fit):
            raise TypeError(f"fit {name!r} is a {type(f).__name__}, not a bayescale Fit")
        if f.y.shape != first.y.shape or not np.array_equal(f.y, first.y):
            raise ValueError(f"fits {first_name!r} and {name!r} were fitted to different losses; compare fits of the same data")
        if not f.is_posterior:
            raise ValueError(f"fit {name!r} is a {f.method!r} fit (a point, not a posterior): PSIS-LOO needs "
                             f"posterior draws; fit with one of {', '.join(_posterior_methods())}")
    return out


def loo_table(fits: Mapping[str, Fit]) -> pd.DataFrame:
    """PSIS-LOO of each fit (``arviz.compare``, stacking weights), with the worst Pareto ``k``; warns where it is poor."""
    idatas = {name: f.idata for name, f in fits.items()}
    with warnings.catch_warnings():
        # arviz's own Pareto-k warning is replaced by the FitWarning below, which names the fit
        warnings.filterwarnings("ignore", message=".*[Pp]areto.*", category=UserWarning)
        loos = {name: az.loo(idata, pointwise=True) for name, idata in idatas.items()}
        table = az.compare(loos, ic="loo", method="stacking") if len(fits) > 1 else None
    rows = {}
    for name, loo in loos.items():
        k = np.asarray(loo.pareto_k)
        bad = int((k > PARETO_K_MAX).sum())
        if bad:
            warnings.warn(
                f"fit {name!r}: {bad} of {k.size} point(s) have Pareto k > {PARETO_K_MAX} (max {k.max():.2f}); "
                "its PSIS-LOO estimate is unreliable (a point the fit depends on strongly; refit without it, "
                "or trust the extrapolation score)",
                FitWarning,
                stacklevel=3,
            )
        rows[name] = {"elpd_loo": float(loo.elpd_loo), "se": float(loo.se), "p_loo": float(loo.p_loo),
                      "pareto_k_max": float(k.max()), "pareto_k_bad": bad}
    out = pd.DataFrame(rows).T
    if table is None:
        out["elpd_diff"], out["weight"] = 0.0, 1.0
    else:
        out["elpd_diff"] = table["elpd_diff"].astype(float)
        out["weight"] = table["weight"].astype(float)
    return out


def _size(fit: Fit) -> np.ndarray:
    if fit.law.inputs == ("x",):
        return fit.inputs["x"]
    return sum(np.log(v) for v in fit.inputs.values())


def _table(fit: Fit, rows: np.ndarray) -> pd.DataFrame:
    """The fit's data (rows ``rows``) as a table under the fit's own column names."""
    df = pd.DataFrame({fit.columns.inputs[k]: v[rows] for k, v in fit.inputs.items()})
    df[fit.columns.y] = fit.y[rows]
    if fit.grouped:
        labels = np.empty(len(fit.y), dtype=object)
        for label, idx in zip(fit.groups, fit.rows):
            labels[idx] = label
        df[fit.columns.group] = labels[rows]
    if fit.runs is not None:  # the run codes stand for the labels: they say which rows share a run
        df[fit.columns.run] = fit.runs[rows]
    return df


def split_larger(fit: Fit, holdout: float) -> tuple[np.ndarray, np.ndarray]:
    """Row positions (train, test): per curve, the ``holdout`` fraction with the largest x is held out.

    At least one point per curve is held out and at least ``len(law params) + 1`` are kept.
    """
    size = _size(fit)
    train, test = [], []
    for idx in fit.rows:
        order = idx[np.argsort(size[idx], kind="stable")]
        n_test = max(1, int(round(holdout * len(idx))))
        n_test = min(n_test, len(idx) - (len(fit.law.params) + 1))
        if n_test < 1:
            raise ValueError(
                f"a curve of {len(idx)} points is too short to hold out its largest-x points and refit "
                f"law {fit.law.name!r} ({len(fit.law.params)} parameters)"
            )
        train.append(order[:-n_test])
        test.append(order[-n_test:])
    return np.concatenate(train), np.concatenate(test)


def extrapolation_scores(fit: Fit, holdout: float = 0.25, intervals: Sequence[float] = INTERVALS,
                         seed: int = 0) -> dict[str, float]:
    """Refit ``fit``'s law on the smaller-x part of each curve; score the held-out larger-x part.

    Returns ``rmse_log`` (RMSE of log loss of the posterior-median prediction),
    ``coverage_<p>`` (fraction of held-out losses inside the central ``p``
    band of a new observation) and ``n_holdout``.
    """
    train, test = split_larger(fit, holdout)
    refit = fitting.run_fit(_table(fit, train), fitting.options_of(fit), progress=None)
    errors, inside = [], {p: [] for p in intervals}
    test_set = set(test.tolist())
    for i, idx in enumerate(fit.rows):
        held = np.array([r for r in idx if r in test_set])
        sub = refit[fit.groups[i]] if fit.grouped else refit
        x = {k: v[held] for k, v in fit.inputs.items()}
        mean = sub.predictive_draws(x, kind="mean", seed=seed)[0]
        obs = sub.predictive_draws(x, kind="observation", seed=seed)[0]
        y = fit.y[held]
        errors.append(np.log(np.median(mean, axis=0)) - np.log(y))
        for p in intervals:
            lo, hi = np.quantile(obs, [(1 - p) / 2, (1 + p) / 2], axis=0)
            inside[p].append((lo <= y) & (y <= hi))
    errors = np.concatenate(errors)
    out = {"rmse_log": float(np.sqrt(np.mean(errors**2)))}
    out.update({f"coverage_{round(100 * p)}": float(np.concatenate(inside[p]).mean()) for p in intervals})
    out["n_holdout"] = int(errors.size)
    return out


@float64
def compare(
    fits: Mapping[str, Fit] | Sequence[Fit],
    *,
    extrapolation: bool = True,
    holdout: float = 0.25,
    intervals: Sequence[float] = INTERVALS,
    sort_by: str = "loo",
    seed: int = 0,
) -> pd.DataFrame:
    """Rank fits of the same data by PSIS-LOO and by extrapolation cross-validation.

    Parameters
    ----------
    fits
        ``{name: Fit}``, or a list of fits (named by their law). All must be
        fits (``"laplace"`` or ``"nuts"``) of the same losses.
    extrapolation
        Also refit each law on the smaller-x part of each curve and score the
        held-out rest (costs one refit per law, with the fit's own settings).
    holdout
        Fraction of each curve (largest x) held out.
    intervals
        Band probabilities whose coverage of the held-out points is reported.
    sort_by
        ``"loo"`` (expected log predictive density, higher first) or
        ``"extrapolation"`` (``rmse_log``, lower first).

    Returns
    -------
    DataFrame, one row per fit, best first: ``rank``, ``elpd_loo`` and its
    ``se``, ``elpd_diff`` (to the best), ``p_loo`` (effective number of
    parameters), ``pareto_k_max``, ``pareto_k_bad`` (points with k > 0.7),
    ``weight`` (stacking weight, Yao et al. 2018), and with ``extrapolation``:
    ``rmse_log``, ``coverage_50`` ... ``coverage_95``, ``n_holdout``.
    """
    if sort_by not in ("loo", "extrapolation"):
        raise ValueError(f"sort_by must be 'loo' or 'extrapolation', got {sort_by!r}")
    if sort_by == "extrapolation" and not extrapolation:
        raise ValueError("sort_by='extrapolation' needs extrapolation=True")
    if not 0 < holdout < 1:
        raise ValueError(f"holdout must be a fraction between 0 and 1, got {holdout!r}")
    for p in intervals:
        if not 0 < p < 1:
            raise ValueError(f"intervals must be probabilities between 0 and 1, got {p!r}")
    named = named_fits(fits)
    table = loo_table(named)
    if extrapolation:
        scores = {name: extrapolation_scores(f, holdout, intervals, seed) for name, f in named.items()}
        table = table.join(pd.DataFrame(scores).T)
        table["n_holdout"] = table["n_holdout"].astype(int)
    if sort_by == "loo":
        table = table.sort_values("elpd_loo", ascending=False)
    else:
        table = table.sort_values("rmse_log", ascending=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table["pareto_k_bad"] = table["pareto_k_bad"].astype(int)
    table.index.name = "fit"
    return table


def _posterior_methods() -> list[str]:
    return [m for m in engines.names() if engines.get(m).posterior]
