"""Compute-optimal allocation: the N and D that minimize the loss at a FLOP budget.

Under the budget :math:`C = k N D` (``k = 6`` for a dense transformer's forward
and backward pass) the Chinchilla law
:math:`L = E + A N^{-\\alpha} + B D^{-\\beta}` has the closed-form minimum
(Hoffmann et al. 2022, eq. 4; Besiroglu et al. 2024, appendix)

.. math::

    N_{opt} = G\\,(C/k)^{a},\\quad D_{opt} = G^{-1} (C/k)^{b},\\quad
    a = \\frac{\\beta}{\\alpha+\\beta},\\ b = \\frac{\\alpha}{\\alpha+\\beta},\\
    G = \\Big(\\frac{\\alpha A}{\\beta B}\\Big)^{1/(\\alpha+\\beta)}.

N_opt grows as :math:`C^{\\beta/(\\alpha+\\beta)}` (some texts print the exponents
swapped). Any other law with inputs ``N`` and ``D`` is minimized numerically
along the budget line, per posterior draw: a grid over log N spanning tokens per
parameter from 1e-6 to 1e8, then golden-section refinement around the best grid
point. Draws whose minimum sits on the edge of that range (the law has no
interior optimum there) are reported as NaN, with a warning.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bayescale._src.model.model import ModelSpec
from bayescale._src.fit.results import Fit
from bayescale._src.precision import float64

GRID = 257
GOLDEN_STEPS = 60
MIN_TOKENS_PER_PARAM, MAX_TOKENS_PER_PARAM = 1e-6, 1e8


def chinchilla_optimum(params, budget):
    """Closed-form (N_opt, D_opt) for the Chinchilla law at ``budget = C / k`` (broadcasting)."""
    alpha, beta, A, B = params["alpha"], params["beta"], params["A"], params["B"]
    total = alpha + beta
    log_g = (jnp.log(alpha * A) - jnp.log(beta * B)) / total
    log_n = log_g + beta / total * jnp.log(budget)
    log_d = alpha / total * jnp.log(budget) - log_g
    return jnp.exp(log_n), jnp.exp(log_d)


def numerical_optimum(law, params, budget, compute):
    """(N_opt, D_opt, on_edge) minimizing ``law`` along N D = budget, for scalar params."""
    log_b = jnp.log(budget)
    lo = 0.5 * (log_b - math.log(MAX_TOKENS_PER_PARAM))
    hi = 0.5 * (log_b - math.log(MIN_TOKENS_PER_PARAM))

    def loss(log_n):
        inputs = {"N": jnp.exp(log_n), "D": jnp.exp(log_b - log_n)}
        if "C" in law.inputs:
            inputs["C"] = compute
        return law.fn(params, inputs)

    grid = jnp.linspace(lo, hi, GRID)
    values = loss(grid)
    values = jnp.where(jnp.isfinite(values), values, jnp.inf)
    best = jnp.argmin(values)
    width = (hi - lo) / (GRID - 1)
    a, b = grid[best] - width, grid[best] + width
    ratio = (math.sqrt(5) - 1) / 2

    def golden(_, ab):
        a, b = ab
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        left = loss(c) < loss(d)
        return jnp.where(left, a, c), jnp.where(left, d, b)

    a, b = jax.lax.fori_loop(0, GOLDEN_STEPS, golden, (a, b))
    log_n = 0.5 * (a + b)
    on_edge = (best == 0) | (best == GRID - 1)
    return jnp.exp(log_n), jnp.exp(log_b - log_n), on_edge


@functools.partial(jax.jit, static_argnums=(0, 1))
def _optimum(spec: ModelSpec, closed_form: bool, params, budgets, computes):
    """(N, D, loss, on_edge), each ``[budgets, draws]``, for flat parameter draws."""
    law = spec.law

    def one(p, budget, compute):
        if closed_form:
            n, d = chinchilla_optimum(p, budget)
            edge = jnp.zeros((), bool)
        else:
            n, d, edge = numerical_optimum(law, p, budget, compute)
        inputs = {"N": n, "D": d}
        if "C" in law.inputs:
            inputs["C"] = compute
        return n, d, law.fn(p, inputs), edge

    over_draws = jax.vmap(one, in_axes=(0, None, None))
    return jax.vmap(over_draws, in_axes=(None, 0, 0))(params, budgets, computes)


@float64
def compute_optimal(
    fit: Fit,
    compute: float | Sequence[float],
    flops_per_param_token: float = 6.0,
    interval: float = 0.9,
    method: str = "auto",
) -> pd.DataFrame:
    """Posterior of the compute-optimal allocation at each FLOP budget.

    Parameters
    ----------
    fit
        A fit of a law with inputs ``N`` and ``D`` (``chinchilla``, ``kaplan``, ...).
    compute
        FLOP budget(s) C.
    flops_per_param_token
        ``k`` in C = k N D.
    interval
        Central probability of the ``_lower``/``_upper`` columns.
    method
        ``"closed_form"`` (Chinchilla only), ``"numerical"``, or ``"auto"``
        (closed form where it exists).

    Returns
    -------
    DataFrame, a row per budget (and group): ``compute``, then ``N_opt``,
    ``D_opt``, ``tokens_per_param`` and ``loss`` as posterior medians, each with
    ``_lower`` and ``_upper`` bounds.
    """
    law = fit.law
    if not {"N", "D"} <= set(law.inputs):
        raise ValueError(f"compute_optimal needs a law of N and D; law {law.name!r} takes {list(law.inputs)}")
    if not 0 < interval < 1:
        raise ValueError(f"interval must be between 0 and 1, got {interval}")
    if not flops_per_param_token > 0:
        raise ValueError(f"flops_per_param_token must be positive, got {flops_per_param_token}")
    budgets_c = np.atleast_1d(np.asarray(compute, dtype=np.float64))
    if budgets_c.ndim != 1 or not np.all(np.isfinite(budgets_c)) or np.any(budgets_c <= 0):
        raise ValueError(f"compute must be positive finite FLOP budget(s), got {compute!r}")
    if method not in ("auto", "closed_form", "numerical"):
        raise ValueError(f"method must be 'auto', 'closed_form' or 'numerical', got {method!r}")
    has_closed = law.name == "chinchilla"
    if method == "closed_form" and not has_closed:
        raise ValueError(f"no closed form for law {law.name!r}; use method='numerical'")
    closed = has_closed and method != "numerical"
    q = [0.5, (1 - interval) / 2, (1 + interval) / 2]
    budgets = budgets_c / flops_per_param_token
    frames = []
    edge_fraction = 0.0
    for i, label in enumerate(fit.groups):
        params = {k: jnp.asarray(fit.draws(k)[i]) for k in law.param_names}
        n, d, loss, edge = (np.asarray(a) for a in _optimum(fit.spec, closed, params, budgets, budgets_c))
        edge_fraction = max(edge_fraction, float(edge.mean()))
        columns = {"N_opt": n, "D_opt": d, "tokens_per_param": d / n, "loss": loss}
        row = {"compute": budgets_c}
        for name, values in columns.items():
            values = np.where(edge, np.nan, values)
            med, lo, hi = np.nanquantile(values, q, axis=1) if not np.all(edge) else (np.full(len(budgets), np.nan),) * 3
            row[name], row[f"{name}_lower"], row[f"{name}_upper"] = med, lo, hi
        frame = pd.DataFrame(row)
        if fit.grouped:
            frame.insert(0, fit.columns.group, label)
        frames.append(frame)
    if edge_fraction > 0:
        warnings.warn(
            f"for up to {edge_fraction:.0%} of posterior draws the optimum of {law.name!r} lies at the edge of "
            f"tokens per parameter {MIN_TOKENS_PER_PARAM:g}..{MAX_TOKENS_PER_PARAM:g}; those draws are left out",
            stacklevel=2,
        )
    return pd.concat(frames, ignore_index=True)
