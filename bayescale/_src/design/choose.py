"""``bs.design.next_runs`` and its baselines: which candidate runs to train next, under a cost or a budget.

Each function returns the candidate table with the same added columns, so that
a design and a baseline read side by side: ``cost``, ``pick`` (1, 2, ... in the
order of a greedy batch, ``<NA>`` for runs not chosen) and ``cumulative_cost``
of the picks. ``next_runs`` adds the expected value of each run and its
components (see :mod:`bayescale._src.design.criterion`).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bayescale._src.model.data import bucket_size
from bayescale._src.design import criterion as crit
from bayescale._src.fit import discrepancy as discrepancy_mod
from bayescale._src.fit.results import curve_draws
from bayescale._src.model.model import NOISE, ModelSpec, log_mean
from bayescale._src.precision import float64

CostSpec = str | Callable[[pd.DataFrame], Any] | np.ndarray | None
WORLDS = 32


def input_frame(fit, table: Any, what: str) -> dict[str, np.ndarray]:
    """The law's inputs from ``table`` (a DataFrame or dict), found under the fit's column names or the law's."""
    frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(dict(table))
    if len(frame) == 0:
        raise ValueError(f"the {what} table is empty")
    out = {}
    for name in fit.law.inputs:
        column = name if name in frame.columns else fit.columns.inputs.get(name, name)
        if column not in frame.columns:
            raise ValueError(f"the {what} table has no column {column!r} (input {name!r} of law {fit.law.name!r})")
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"column {column!r} of the {what} table has missing or non-numeric values")
        out[name] = values
    return out


def run_cost(law, candidates: pd.DataFrame, inputs: Mapping[str, np.ndarray], cost: CostSpec) -> np.ndarray:
    """The cost of each candidate: a column name, a callable of the table, an array, or (default) 6 N D FLOP."""
    if cost is None:
        if not {"N", "D"} <= set(law.inputs):
            raise ValueError(f"law {law.name!r} has no inputs N and D, so the default cost (6 N D FLOP) does not "
                             "apply; pass cost= as a column name, a callable of the candidates table, or an array")
        values = 6.0 * inputs["N"] * inputs["D"]
    elif isinstance(cost, str):
        if cost not in candidates.columns:
            raise ValueError(f"cost column {cost!r} is not in the candidates table ({list(candidates.columns)})")
        values = pd.to_numeric(candidates[cost], errors="coerce").to_numpy(float)
    elif callable(cost):
        values = np.asarray(cost(candidates), float)
    else:
        values = np.asarray(cost, float)
    values = np.broadcast_to(values, (len(candidates),)) if values.ndim == 0 else values
    if values.shape != (len(candidates),):
        raise ValueError(f"cost must give one value per candidate ({len(candidates)}), got shape {values.shape}")
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError("every candidate's cost must be positive and finite")
    return values


def batch_size(k: int | None, budget: float | None) -> int | None:
    """How many picks at most: ``k``, else none when only a budget bounds the batch, else one."""
    return k if k is not None else (None if budget is not None else 1)


def _check_batch(k: int | None, budget: float | None) -> None:
    if k is not None and (int(k) != k or k < 1):
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if budget is not None and not budget > 0:
        raise ValueError(f"budget must be positive, got {budget!r}")


def greedy(value: Callable[[np.ndarray], np.ndarray], cost: np.ndarray, k: int | None, budget: float | None,
           after: Callable[[int], None] = lambda pick: None) -> list[int]:
    """Pick candidates one at a time by ``value(available) / cost`` until ``k`` picks or the budget is spent.

    ``value`` scores every candidate given the picks so far (``after(pick)`` tells it of each pick);
    a candidate that does not fit in what is left of the budget is skipped, and the batch stops
    early when nothing left fits or nothing left has positive value.
    """
    picks: list[int] = []
    spent = 0.0
    limit = len(cost) if k is None else int(k)
    available = np.isfinite(cost)  # an infinite cost marks padding
    while len(picks) < limit:
        if budget is not None:
            available &= cost <= budget - spent
        if not available.any():
            break
        ratio = np.where(available, value(available) / cost, -np.inf)
        best = int(np.argmax(ratio))
        if not ratio[best] > 0:
            break
        picks.append(best)
        spent += cost[best]
        available[best] = False
        after(best)
    return picks


def with_picks(candidates: pd.DataFrame, cost: np.ndarray, picks: list[int]) -> pd.DataFrame:
    """The candidates with ``cost``, ``pick`` and ``cumulative_cost`` columns, the picks first in order."""
    out = candidates.copy()
    out["cost"] = cost
    order = np.full(len(out), -1)
    order[picks] = np.arange(1, len(picks) + 1)
    out["pick"] = pd.array([o if o > 0 else None for o in order], dtype="Int64")
    cumulative = np.full(len(out), np.nan)
    cumulative[picks] = np.cumsum(cost[picks])
    out["cumulative_cost"] = cumulative
    return out


def location_draws(spec: ModelSpec, params: Mapping[str, np.ndarray], x: Mapping[str, np.ndarray]) -> np.ndarray:
    """Draws of the likelihood's location (``log L`` by default) at inputs ``x``: ``[draws, points]``."""
    return np.asarray(_locations(spec, {k: jnp.asarray(v) for k, v in params.items()},
                                 {k: jnp.asarray(v) for k, v in x.items()}))


def _locations_impl(spec: ModelSpec, params, x):
    return jax.vmap(lambda p: spec.likelihood.locate(log_mean(spec.law, p, x)))(params)


_locations = jax.jit(_locations_impl, static_argnums=0)


def one_curve(fit) -> None:
    if fit.grouped and len(fit.groups) > 1:
        raise ValueError(f"the fit has {len(fit.groups)} curves (groups of {fit.columns.group!r}); "
                         "design runs for one of them: pass fit[label]")


@float64
def next_runs(
    fit,
    candidates: Any,
    target: Any,
    cost: CostSpec = None,
    k: int | None = None,
    budget: float | None = None,
    criterion: str = "gaussian",
    worlds: int = WORLDS,
    seed: int = 0,
    discrepancy: Any = "default",
) -> pd.DataFrame:
    """Rank candidate runs by how much they would sharpen the forecast at ``target``, per unit of cost.

    Parameters
    ----------
    fit
        A :class:`~bayescale.Fit` of one curve (the runs trained so far) with posterior draws
        (``method`` other than ``"map"``).
    candidates
        DataFrame of runs one could train: the law's inputs (under the fit's column names or the
        law's), any other columns are kept.
    target
        Dict or DataFrame of the inputs where the forecast matters (the planned large run, a
        compute-optimal frontier...). With several points the value is summed over them.
    cost
        Column name, callable of the candidates table, or array; default ``6 N D`` FLOP for laws of N and D.
    k, budget
        Pick a batch greedily: up to ``k`` runs and (with ``budget``) no more than fit in the budget.
        Without either, the one best run is picked. Each pick conditions the next
        (:mod:`~bayescale._src.design.criterion`).
    criterion
        ``"gaussian"`` (linearized; the default, 0.2 s for 1,000 candidates x 1,000 draws),
        ``"reweight"`` (importance reweighting of the draws over ``worlds`` simulated outcomes; about
        25x slower) or ``"shortlist"`` (the Gaussian ranking, then each pick among the
        ``criterion.SHORTLIST`` = 16 best candidates per cost by reweighting; about 3x the Gaussian
        time). Measured against each other by benchmarks/bench_design.py.
    seed
        Seed of the simulated outcomes of ``"reweight"`` and ``"shortlist"`` and of the discrepancy's draws.
    discrepancy
        The law's own error in the draws the criterion reduces: ``"default"`` (the learned
        :class:`~bayescale.Discrepancy`, as in :meth:`Fit.predict <bayescale.Fit.predict>`), a
        :class:`~bayescale.Discrepancy`, or ``None`` for the law taken as exact. Each posterior draw
        ``theta_s`` becomes the distorted curve of :mod:`bayescale._src.fit.discrepancy`,

        .. math:: f_s(x) = \\log \\tilde L_s(x), \\qquad
                  \\tilde L_s(x) = \\tilde E_s + (L_{\\mathrm{ref},s} - \\tilde E_s)\\,
                  \\rho_s(x)^{e^{\\eta_s}}

        beyond the fitted runs' progress (``rho_s < 1``) and ``L(x; theta_s)`` elsewhere, with one
        ``eta_s`` (and floor move) per draw shared by the candidates and the target. The variance at the
        target then holds the law's error, and a candidate beyond the fitted progress covaries with it
        through ``eta_s``: the criterion values runs that measure how the law extrapolates, not only
        its parameters. Under a wrong law that matters: on the paper's repeated-data sweep
        (``bs.datasets.load("datablations")``) fitted with ``chinchilla``, which ignores repetition, the
        law-only design's runs forecast the 26 held-out longest runs worse than random runs of the same
        budget (10% of the pool's cost: R^2 of log loss 0.815 against 0.831), the discrepancy's better
        (0.839); with the right law, ``data_constrained``, 0.896 against the law-only 0.883 and random
        0.906 (benchmarks/bench_design_wrong_law.py).

    Returns
    -------
    DataFrame: the candidates with ``cost``, ``gain`` (the expected reduction of the predictive
    variance of log loss at the target, summed over its points, from this run alone),
    ``value_per_cost`` (``gain / cost``, the ranking key; for ``"shortlist"`` both are the Gaussian
    ones, and ``conditional_gain`` the reweighted gain that chose the pick), ``gain_share`` (``gain`` over the
    target's current variance), ``candidate_sd`` and ``covariance`` (the components: what the
    run would measure, and how much of it is about the target), ``pick``,
    ``conditional_gain`` (the gain of each pick given the picks before it) and
    ``cumulative_cost``. Rows: the picks in order, then the others by ``value_per_cost``.
    """
    if criterion not in crit.CRITERIA:
        raise ValueError(f"criterion must be one of {crit.CRITERIA}, got {criterion!r}")
    _check_batch(k, budget)
    one_curve(fit)
    if NOISE not in fit.posterior or fit.draws(NOISE).shape[1] < 2:
        raise ValueError("next_runs needs posterior draws; fit with method='laplace', 'importance', 'auto' or 'nuts'")
    table = candidates if isinstance(candidates, pd.DataFrame) else pd.DataFrame(dict(candidates))
    x_cand = input_frame(fit, table, "candidates")
    x_target = input_frame(fit, target, "target")
    costs = run_cost(fit.law, table, x_cand, cost)
    # candidates padded to a power of two, so that pools of similar size share compiled programs
    m = len(table)
    padded = {name: np.pad(v, (0, bucket_size(m) - m), mode="edge") for name, v in x_cand.items()}
    state = design_state(fit, padded, x_target, criterion, worlds, seed, discrepancy)
    scores = crit.score(state, fit.spec.likelihood)
    picks, gains = design_picks(state, fit.spec.likelihood, np.pad(costs, (0, bucket_size(m) - m), constant_values=np.inf),
                                batch_size(k, budget), budget)
    out = with_picks(table, costs, picks)
    gain = np.asarray(scores.gain)[:m]
    out["gain"] = gain
    out["value_per_cost"] = gain / costs
    out["gain_share"] = gain / float(scores.target_variance)
    out["candidate_sd"] = np.sqrt(np.asarray(scores.candidate_variance)[:m])
    out["covariance"] = np.asarray(scores.covariance)[:m]
    conditional = np.full(len(out), np.nan)
    conditional[picks] = gains
    out["conditional_gain"] = conditional
    return ranked(out)


def ranked(table: pd.DataFrame, key: str = "value_per_cost") -> pd.DataFrame:
    """Picks first in pick order, then the rest by ``key`` (descending)."""
    picked = table[table["pick"].notna()].sort_values("pick")
    rest = table[table["pick"].isna()]
    rest = rest.sort_values(key, ascending=False, kind="stable") if key in rest else rest
    cols = [c for c in table.columns if c not in ("pick", "conditional_gain", "cumulative_cost")]
    return pd.concat([picked, rest])[cols + [c for c in ("pick", "conditional_gain", "cumulative_cost") if c in table]]


def design_state(fit, x_cand, x_target, criterion: str, worlds: int, seed: int, discrepancy: Any = None):
    """The criterion's state from the fit's draws at the candidates and the target (with ``discrepancy``,
    the draws of the law's value plus its discrepancy, one distortion per draw shared by every point)."""
    if discrepancy_mod.resolve(discrepancy) is None:
        params = {k: fit.draws(k)[0] for k in fit.law.param_names}
        f_cand = location_draws(fit.spec, params, x_cand)
        f_target = location_draws(fit.spec, params, x_target)
    else:
        m = len(next(iter(x_cand.values())))
        both = {k: np.concatenate([np.asarray(x_cand[k], float), np.asarray(x_target[k], float)]) for k in x_cand}
        key = jax.random.PRNGKey(seed)
        location = curve_draws(fit, [0], both, key, False, discrepancy, jax.random.fold_in(key, 1))[2][0]
        f_cand, f_target = location[:, :m], location[:, m:]
    return crit.start_state(criterion, f_cand, f_target, fit.draws(NOISE)[0], fit.spec.likelihood, worlds,
                            jax.random.PRNGKey(seed))


def design_picks(state, likelihood, costs: np.ndarray, k: int | None, budget: float | None):
    """Greedy picks by conditional gain per cost; returns the picks and each one's gain when picked."""
    current = {"state": state}
    gains: list[float] = []
    last: dict[str, np.ndarray] = {}

    def value(available):
        last["gain"] = np.asarray(crit.score(current["state"], likelihood).gain)
        if isinstance(state, crit.ShortlistState):
            last["gain"] = shortlist_gain(current["state"], likelihood, last["gain"], costs, available)
        return last["gain"]

    def after(pick):
        gains.append(float(last["gain"][pick]))
        current["state"] = crit.condition(current["state"], pick, likelihood)

    picks = greedy(value, costs, k, budget, after)
    return picks, gains


def shortlist_gain(state, likelihood, gain: np.ndarray, costs: np.ndarray, available: np.ndarray) -> np.ndarray:
    """The reweighted gain of the ``SHORTLIST`` available candidates of best Gaussian gain per cost; 0 elsewhere."""
    ratio = np.where(available, gain / costs, -np.inf)
    top = np.argsort(-ratio, kind="stable")[:crit.SHORTLIST]
    out = np.zeros_like(gain)
    out[top] = np.asarray(crit.rescore(state, jnp.asarray(top), likelihood))
    return np.where(available, out, 0.0)


@float64
def target_sd(fit, chosen: Any, target: Any) -> pd.DataFrame:
    """The predictive sd of log L at each target point now, and expected after observing the ``chosen`` runs.

    The expectation is the Gaussian one (:func:`~bayescale._src.design.criterion.gaussian_condition`
    applied pick by pick): exact for a jointly Gaussian posterior, whatever the runs' outcomes.
    Returns a table of the target's inputs with ``sd_now`` and ``sd_after``.
    """
    one_curve(fit)
    table = chosen if isinstance(chosen, pd.DataFrame) else pd.DataFrame(dict(chosen))
    x_target = input_frame(fit, target, "target")
    state = design_state(fit, input_frame(fit, table, "chosen"), x_target, "gaussian", 0, 0)
    s = state.zt.shape[0] - 1
    now = np.sqrt(np.asarray(jnp.sum(state.zt**2, axis=0)) / s)
    for pick in range(len(table)):
        state = crit.condition(state, pick, fit.spec.likelihood)
    after = np.sqrt(np.asarray(jnp.sum(state.zt**2, axis=0)) / s)
    out = pd.DataFrame(x_target)
    out["sd_now"], out["sd_after"] = now, after
    return out
