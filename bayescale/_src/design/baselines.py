"""The choices a design must beat: random runs, the cheapest runs first, and D-optimal runs of the point fit.

Each returns the candidates table with ``cost``, ``pick`` and ``cumulative_cost``
(see :mod:`bayescale._src.design.choose`), so its picks read like ``next_runs``'.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bayescale._src.design.choose import (CostSpec, _check_batch, batch_size, greedy, input_frame, one_curve, ranked,
                                          run_cost, with_picks)
from bayescale._src.model.model import NOISE, ModelSpec, log_mean
from bayescale._src.precision import float64

RIDGE = 1e-6  # relative to the largest diagonal entry: keeps the information of fewer runs than parameters invertible


def _frame(candidates: Any) -> pd.DataFrame:
    return candidates if isinstance(candidates, pd.DataFrame) else pd.DataFrame(dict(candidates))


@float64
def random_runs(candidates: Any, law, cost: CostSpec = None, k: int | None = None, budget: float | None = None,
                seed: int = 0, columns: dict[str, str] | None = None) -> pd.DataFrame:
    """Runs in a random order, each kept if it fits in what is left of the budget (``k`` at most).

    ``law`` (a name or Law) names the inputs for the default cost, 6 N D; ``columns`` maps
    input names to the table's columns when they differ.
    """
    table, costs = _costs(candidates, law, cost, columns)
    _check_batch(k, budget)
    order = np.random.default_rng(seed).permutation(len(table))
    return ranked(with_picks(table, costs, _in_order(order, costs, batch_size(k, budget), budget)), "cost")


@float64
def cheapest_runs(candidates: Any, law, cost: CostSpec = None, k: int | None = None, budget: float | None = None,
                  columns: dict[str, str] | None = None) -> pd.DataFrame:
    """The cheapest runs first, while they fit in the budget (``k`` at most): the habit of small pilot sweeps."""
    table, costs = _costs(candidates, law, cost, columns)
    _check_batch(k, budget)
    order = np.argsort(costs, kind="stable")
    return ranked(with_picks(table, costs, _in_order(order, costs, batch_size(k, budget), budget)), "cost")


def _in_order(order: np.ndarray, costs: np.ndarray, k: int | None, budget: float | None) -> list[int]:
    picks, spent = [], 0.0
    for i in order:
        if k is not None and len(picks) >= k:
            break
        if budget is None or spent + costs[i] <= budget:
            picks.append(int(i))
            spent += costs[i]
    return picks


def _costs(candidates, law, cost, columns):
    from bayescale import laws

    law = laws.get(law) if isinstance(law, str) else law
    table = _frame(candidates)
    mapping = dict(columns or {})
    x = {}
    for name in law.inputs:
        column = name if name in table.columns else mapping.get(name, name)
        if cost is None and name in ("N", "D"):
            if column not in table.columns:
                raise ValueError(f"the candidates table has no column {column!r} (input {name!r} of law {law.name!r})")
            x[name] = pd.to_numeric(table[column], errors="coerce").to_numpy(float)
    return table, run_cost(law, table, x, cost)


@float64
def d_optimal_runs(fit, candidates: Any, cost: CostSpec = None, k: int | None = None,
                   budget: float | None = None) -> pd.DataFrame:
    """Greedy D-optimal runs for the point fit: the largest gain in log det of the Fisher information per cost.

    At the posterior mode ``theta`` (the fit's point estimate), a run at ``x`` with noise variance
    ``sigma^2`` adds ``g g^T / sigma^2`` to the information ``M`` of the observed runs, with ``g`` the
    gradient of ``log L(theta; x)`` in the log parameters, and so
    ``log det`` grows by ``log(1 + g^T M^{-1} g / sigma^2)`` (the matrix determinant lemma;
    Atkinson, Donev and Tobias 2007, "Optimum Experimental Designs, with SAS", chapter 11, on
    locally D-optimal designs for nonlinear models). Each pick updates ``M``. A ridge of
    ``1e-6`` times the largest diagonal entry keeps ``M`` invertible with fewer runs than parameters.

    Adds ``d_gain`` (the log det gain of each run alone) to the table.
    """
    one_curve(fit)
    table = _frame(candidates)
    x_cand = input_frame(fit, table, "candidates")
    costs = run_cost(fit.law, table, x_cand, cost)
    _check_batch(k, budget)
    theta = point_estimate(fit)
    sigma2 = float(theta.pop(NOISE)) ** 2
    grad_obs = log_gradients(fit.spec, theta, {k: v for k, v in fit.inputs.items()})
    grad_cand = log_gradients(fit.spec, theta, x_cand)
    info = grad_obs.T @ grad_obs / sigma2
    info += RIDGE * max(float(np.max(np.diag(info))), 1.0) * np.eye(len(info))
    state = {"info": info}

    def value(available):
        solved = np.linalg.solve(state["info"], grad_cand.T)  # [P, M]
        return np.log1p(np.einsum("mp,pm->m", grad_cand, solved) / sigma2)

    def after(pick):
        g = grad_cand[pick]
        state["info"] = state["info"] + np.outer(g, g) / sigma2

    d_gain = value(None)
    picks = greedy(value, costs, batch_size(k, budget), budget, after)
    out = with_picks(table, costs, picks)
    out["d_gain"] = d_gain
    out["value_per_cost"] = d_gain / costs
    return ranked(out)


def point_estimate(fit) -> dict[str, float]:
    """The posterior mode of the law's parameters and sigma (the posterior median when the engine kept no mode)."""
    names = [*fit.law.param_names, NOISE]
    if all(n in fit.mode for n in names) and np.all(np.isfinite([fit.mode[n][0] for n in names])):
        return {n: float(fit.mode[n][0]) for n in names}
    return {n: float(np.median(fit.draws(n)[0])) for n in names}


def log_gradients(spec: ModelSpec, theta: dict[str, float], x: dict[str, np.ndarray]) -> np.ndarray:
    """``d log L(theta; x_i) / d log |theta_p|``: ``[points, parameters]`` (scale-free in each parameter)."""
    names = list(spec.law.param_names)
    values = jnp.asarray([theta[n] for n in names])
    xs = {k: jnp.asarray(v) for k, v in x.items()}

    def f(v):
        return log_mean(spec.law, dict(zip(names, v)), xs)

    return np.asarray(jax.jacfwd(f)(values) * values[None, :])
