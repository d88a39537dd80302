"""IsoFLOP analysis: the compute-optimal model size per budget and the power laws through the optima.

Hoffmann et al. (2022) train, at each of a few FLOP budgets C, models of several
sizes N with D = C / (k N) tokens (k = 6 for a dense transformer), find the model
size of least loss at each budget, and fit :math:`N_{opt} = k_N C^a` and
:math:`D_{opt} = k_D C^b` through the optima. Because every optimum satisfies
:math:`C = k N_{opt} D_{opt}`, :math:`\\ln D_{opt} = \\ln C - \\ln k - \\ln N_{opt}`
and the exponents obey :math:`a + b = 1` exactly, with :math:`k_D = 1 / (k\\,k_N)`.

Methods (``method=``), every budget one curve of ONE grouped ``bs.fit`` call:

- ``"parabola"``: Approach 2, the parabola :math:`L = L_{min} + k (\\ln N - \\ln N_{opt})^2`
  per budget (law ``isoflop_parabola``). It reproduces the published numbers and
  is biased when the IsoFLOP valley is asymmetric (Chinchilla's alpha != beta)
  and the window of model sizes is not centred on the optimum: the vertex moves
  with the window.
- ``"slice"``: the exact IsoFLOP slice of Chinchilla's surface per budget (law
  ``isoflop_slice``): an asymmetric valley, minimum ``L_min`` at ``N_opt``, walls
  rising as :math:`N^{-\\alpha}` and :math:`N^{\\beta}`, the wall exponents free per
  budget under priors of median 0.3.
- ``"surface"``: a law of N and D (default ``chinchilla``, Approach 3) fitted to
  all the runs at once; each budget's optimum is the minimum of every posterior
  draw's surface along that budget's line (:func:`bayescale.compute_optimal`),
  so for Chinchilla :math:`a = \\beta/(\\alpha+\\beta)` per draw.

The exponent through the optima (``regression=``, profile methods):

- ``"measurement_error"`` (default): :math:`m_j \\sim N(c + a \\ln C_j,\\ s_j^2 + \\tau^2)`,
  with :math:`m_j, s_j` the posterior median and sd (half the central 68%
  interval) of budget j's :math:`\\ln N_{opt}`, flat priors on ``c`` and ``a``
  and a half-Cauchy prior of scale ``TAU_SCALE`` (0.01 nats) on the scatter
  ``tau`` of the optima about the line. Given tau the posterior of (c, a) is
  Gaussian (weighted least squares); tau is integrated on a grid, weighted by
  its marginal likelihood, so the draws are exact for this model. With tau = 0
  this is weighted least squares, which is calibrated when each optimum's
  posterior is (simulated sweeps, benchmarks/README.md); the heavy-tailed
  scatter term widens the interval when the optima stray from the line by more
  than their own uncertainty, as on real runs. It cannot undo a bias shared by
  the optima: the parabola's vertex error that changes smoothly with C tilts
  the line, and no scatter term sees a tilt.
- ``"per_draw"``: least squares of :math:`\\ln N_{opt}` on :math:`\\ln C` per joint
  posterior draw of the optima: the spread of the optima's posteriors alone,
  without any scatter of the optima about the line.  Unweighted, it lets a budget whose
  optimum is barely located (a wide, heavy-tailed posterior) swing every
  draw's slope: on simulated sweeps its 90% interval was 1.3-2.6 times as wide
  as the default's and covered 0.95-0.99 wherever the optima were unbiased
  (benchmarks/README.md, IsoFLOP).

Runs are grouped by budget (``budget=`` column, else :func:`assign_budgets`):
each run goes to the nearest budget on the log10 C scale, given ``budgets=`` or
found as the modes of a kernel density of log10 C, and runs farther than
``tolerance`` decades from every budget are left out. Budgets with fewer than
``min_runs`` runs are dropped.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple, Sequence

import numpy as np
import pandas as pd

from bayescale import laws as laws_mod
from bayescale._src.precision import float64

METHODS = ("parabola", "slice", "surface")
REGRESSIONS = ("measurement_error", "per_draw")
#: scale of the half-Cauchy prior of the scatter tau of ln N_opt about the power law (nats), chosen by the coverage
#: of a over simulated sweeps of three designs (benchmarks/bench_isoflop.py): a scatter near zero when each budget's
#: optimum is as uncertain as its posterior says, and a heavy tail that lets optima strewn wider widen the interval
TAU_SCALE = 0.01
#: the family of that prior ("halfcauchy" or "halfnormal")
TAU_PRIOR = "halfcauchy"
TAU_GRID = 241
DEFAULT_TOLERANCE = 0.05
_PROFILE_LAWS = {"parabola": "isoflop_parabola", "slice": "isoflop_slice"}


class IsoFLOP(NamedTuple):
    """The result of :func:`isoflop`.

    Attributes
    ----------
    exponents
        Rows ``a`` and ``b`` (``N_opt ~ C^a``, ``D_opt ~ C^b``, ``a + b = 1``),
        columns ``median``, ``lower``, ``upper`` (the central ``interval``).
    coefficients
        Rows ``k_N`` and ``k_D`` of the same laws, same columns.
    budgets
        A row per budget: ``budget`` (the C of the power law), ``C_geomean`` (of its runs' C),
        ``runs``, then ``N_opt``, ``D_opt``, ``tokens_per_param`` and ``loss`` at the optimum
        (posterior medians) each with ``_lower`` and ``_upper``.
    draws
        Posterior draws: ``a``, ``b``, ``log_k_N``, ``log_k_D`` ``[draws]``; ``N_opt``, ``D_opt``,
        ``loss`` ``[budgets, draws]``.
    runs
        The runs used, with their ``budget`` (and ``N_rel``, the model size in units of the sweep's centre).
    excluded
        The rows of the table left out (no budget within ``tolerance``, or a budget with too few runs).
    fit
        The profile fit (one curve per budget) or the surface fit.
    method, regression, interval, flops_per_param_token
        The settings.
    """

    exponents: pd.DataFrame
    coefficients: pd.DataFrame
    budgets: pd.DataFrame
    draws: dict
    runs: pd.DataFrame
    excluded: pd.DataFrame
    fit: Any
    method: str
    regression: str
    interval: float
    flops_per_param_token: float

    def frontier(self, compute: float | Sequence[float]) -> pd.DataFrame:
        """``N_opt`` and ``D_opt`` of the fitted power laws at FLOP budgets ``compute``, with intervals."""
        c = np.atleast_1d(np.asarray(compute, dtype=float))
        if c.ndim != 1 or not np.all(np.isfinite(c)) or np.any(c <= 0):
            raise ValueError(f"compute must be positive finite FLOP budget(s), got {compute!r}")
        d = self.draws
        log_n = d["log_k_N"][None] + d["a"][None] * np.log(c)[:, None]
        log_d = d["log_k_D"][None] + d["b"][None] * np.log(c)[:, None]
        q = _quantiles(self.interval)
        row = {"compute": c}
        for name, values in (("N_opt", np.exp(log_n)), ("D_opt", np.exp(log_d))):
            row[name], row[f"{name}_lower"], row[f"{name}_upper"] = np.quantile(values, q, axis=1)
        return pd.DataFrame(row)

    def profiles(self, points: int = 60, margin: float = 0.15) -> pd.DataFrame:
        """The fitted loss along each budget's line over its window of model sizes (widened by ``margin``
        decades on each side): ``budget``, ``N``, ``median``, ``lower``, ``upper``."""
        return _profiles(self, points, margin)

    def plot(self, reference=None, ax=None):
        """:func:`bayescale.plot.isoflop` of this result."""
        from bayescale.plot.isoflop import isoflop as plot_isoflop

        return plot_isoflop(self, reference=reference, ax=ax)


def _quantiles(interval: float) -> list[float]:
    return [0.5, (1 - interval) / 2, (1 + interval) / 2]


def assign_budgets(
    compute: np.ndarray,
    budgets: Sequence[float] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    min_runs: int = 1,
) -> np.ndarray:
    """The budget of each run (NaN: none within ``tolerance``).

    Each run goes to the nearest budget on the log10 scale of compute, if that
    budget lies within ``tolerance`` decades. Without ``budgets`` the budgets are
    the modes of a Gaussian kernel density of log10 C (bandwidth ``tolerance / 2``):
    runs are assigned to the nearest mode, modes with fewer than ``min_runs``
    runs are dropped (their runs go to the nearest remaining mode within
    ``tolerance``, or to none), and each budget's value is the geometric mean of
    its runs' compute.

    Parameters
    ----------
    compute
        Compute C of each run (FLOP).
    budgets
        Nominal budgets; None: found from the runs.
    tolerance
        Largest distance, in decades of C, from a run to its budget.
    min_runs
        Fewest runs a found budget keeps (given budgets are never dropped here).
    """
    log_c = np.log10(np.asarray(compute, dtype=float))
    if not tolerance > 0:
        raise ValueError(f"tolerance must be a positive number of decades, got {tolerance!r}")
    if budgets is not None:
        values = np.asarray(budgets, dtype=float)
        return _nearest(log_c, np.log10(values), tolerance, values)
    grid = np.arange(log_c.min() - tolerance, log_c.max() + tolerance, tolerance / 50)
    h = tolerance / 2
    density = np.exp(-0.5 * ((grid[:, None] - log_c[None]) / h) ** 2).sum(axis=1)
    inner = (density[1:-1] > density[:-2]) & (density[1:-1] >= density[2:])
    modes = grid[1:-1][inner]
    while True:
        label = _nearest(log_c, modes, tolerance, np.arange(len(modes), dtype=float))
        counts = np.array([(label == i).sum() for i in range(len(modes))])
        if len(modes) == 0 or counts.min() >= min_runs:
            break
        modes = np.delete(modes, counts.argmin())
    out = np.full(len(log_c), np.nan)
    for i in range(len(modes)):
        on = label == i
        out[on] = 10.0 ** log_c[on].mean()
    return out


def _nearest(log_c, centres, tolerance, values):
    out = np.full(len(log_c), np.nan)
    if len(centres) == 0:
        return out
    dist = np.abs(log_c[:, None] - np.asarray(centres)[None])
    j = dist.argmin(axis=1)
    near = dist[np.arange(len(log_c)), j] <= tolerance
    out[near] = np.asarray(values)[j[near]]
    return out


def _column(table: pd.DataFrame, name: str, what: str) -> np.ndarray:
    if name not in table.columns:
        raise KeyError(f"no column {name!r} ({what}) in the table; columns: {list(table.columns)}")
    values = pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        raise ValueError(f"column {name!r} ({what}) must be positive and finite; {int(bad.sum())} row(s) are not "
                         f"(first: row {table.index[bad.argmax()]!r}, value {table[name].iloc[bad.argmax()]!r})")
    return values


def _prepare(table, N, D, C, loss, budget, budgets, tolerance, min_runs, k):
    if not isinstance(table, pd.DataFrame):
        table = pd.DataFrame(table)
    n = _column(table, N, "parameters N")
    y = _column(table, loss, "loss")
    has_c, has_d = C in table.columns, D in table.columns
    if not (has_c or has_d):
        raise KeyError(f"the table needs a compute column {C!r} or a token column {D!r}; columns: "
                       f"{list(table.columns)}")
    c = _column(table, C, "compute C") if has_c else None
    d = _column(table, D, "tokens D") if has_d else None
    if c is None:
        c = k * n * d
    elif d is None:
        d = c / (k * n)
    else:
        ratio = c / (k * n * d)
        if np.max(np.abs(np.log(ratio))) > 0.01:
            raise ValueError(
                f"columns {C!r}, {N!r}, {D!r}: C differs from {k:g} N D by up to {np.max(np.abs(ratio - 1)):.1%}; "
                f"an IsoFLOP analysis spends C = k N D along each budget (give flops_per_param_token=, or drop one "
                f"of the two columns)")
    if budget is not None:
        if budgets is not None or tolerance is not None:
            raise ValueError("a budget column assigns the runs itself: budgets= and tolerance= would do nothing")
        label = _column(table, budget, "budget")
    else:
        if budgets is not None:
            budgets = np.atleast_1d(np.asarray(budgets, dtype=float))
            if budgets.ndim != 1 or not np.all(np.isfinite(budgets)) or np.any(budgets <= 0) or len(budgets) == 0:
                raise ValueError(f"budgets must be positive finite FLOP values, got {budgets!r}")
        label = assign_budgets(c, budgets, DEFAULT_TOLERANCE if tolerance is None else tolerance, min_runs)
    runs = pd.DataFrame({"budget": label, "N": n, "D": d, "C": c, "loss": y}, index=table.index)
    counts = runs.groupby("budget").size()
    few = counts[counts < min_runs]
    if len(few):
        warnings.warn(f"budget(s) {', '.join(f'{b:.3g}' for b in few.index)} have fewer than {min_runs} runs "
                      f"({', '.join(str(v) for v in few.values)}); left out", stacklevel=3)
    keep = runs["budget"].notna() & ~runs["budget"].isin(few.index)
    excluded = table.loc[~keep.to_numpy()]
    runs = runs[keep].sort_values(["budget", "N"])
    if runs["budget"].nunique() < 3:
        raise ValueError(f"an IsoFLOP analysis needs at least 3 budgets with {min_runs}+ runs each; found "
                         f"{runs['budget'].nunique()} (of {len(table)} runs, {len(excluded)} left out; see budgets=, "
                         f"tolerance=, min_runs=)")
    centre = runs.groupby("budget")["N"].transform(lambda v: np.exp(np.log(v).mean()))
    runs["N_rel"] = runs["N"] / centre
    return runs, excluded


@float64
def isoflop(
    table: Any,
    method: str = "parabola",
    *,
    N: str = "N",
    D: str = "D",
    C: str = "C",
    loss: str = "loss",
    budget: str | None = None,
    budgets: Sequence[float] | None = None,
    tolerance: float | None = None,
    min_runs: int | None = None,
    regression: str = "measurement_error",
    law: str | laws_mod.Law = "chinchilla",
    flops_per_param_token: float = 6.0,
    interval: float = 0.9,
    seed: int = 0,
    **fit_options,
) -> IsoFLOP:
    """IsoFLOP analysis with posteriors: each budget's optimum and the power laws through them.

    Parameters
    ----------
    table
        DataFrame of runs: model size ``N``, ``loss`` and compute ``C`` or tokens ``D``
        (C = k N D; with both columns, C must equal k N D).
    method
        ``"parabola"`` (Hoffmann et al. 2022, Approach 2), ``"slice"`` (the exact
        asymmetric IsoFLOP slice of Chinchilla's surface, per budget) or ``"surface"``
        (a law of N and D fitted to all runs; its minimum along each budget); see the
        module docstring.
    N, D, C, loss
        Column names.
    budget
        Column of each run's budget (FLOP); without it runs are assigned to
        ``budgets`` or to budgets found from the data (:func:`assign_budgets`).
    budgets
        Nominal budgets; each run goes to the nearest one in log C within ``tolerance``.
    tolerance
        Decades of C between a run and its budget, at most (default 0.05, a factor 1.12).
    min_runs
        Budgets with fewer runs are left out (with a warning); default: the profile's parameters plus two
        (5 for the parabola, 7 for the slice), 3 for the surface.
    regression
        ``"measurement_error"`` or ``"per_draw"``: how the profile methods' optima
        make the power law (module docstring). The surface method's optima lie
        on its own frontier, and are regressed per draw.
    law
        The surface of ``method="surface"`` (a law of N and D).
    flops_per_param_token
        ``k`` in C = k N D.
    interval
        Central probability of every ``lower``/``upper``.
    seed
        Seed of the fit and of the regression's draws.
    **fit_options
        Passed to :func:`bayescale.fit` (``method`` there is ``fit_method`` here;
        e.g. ``likelihood``, ``draws``, ``priors``).

    Returns
    -------
    IsoFLOP
        ``exponents`` (rows ``a``, ``b``), ``coefficients``, a per-budget table,
        the draws, the runs used and the fit; ``.plot()`` draws the profiles and
        the frontier.

    Examples
    --------
    >>> import bayescale as bs
    >>> runs = bs.datasets.load("chinchilla")
    >>> res = bs.isoflop(runs, budgets=[6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21])  # doctest: +SKIP
    >>> res.exponents                                                                         # doctest: +SKIP
    """
    from bayescale._src.fit.fitting import fit as bs_fit

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if regression not in REGRESSIONS:
        raise ValueError(f"regression must be one of {REGRESSIONS}, got {regression!r}")
    if not 0 < interval < 1:
        raise ValueError(f"interval must be between 0 and 1, got {interval}")
    if not flops_per_param_token > 0:
        raise ValueError(f"flops_per_param_token must be positive, got {flops_per_param_token}")
    if method != "surface" and law != "chinchilla":
        raise ValueError(f"law= names the surface of method='surface'; method={method!r} fits its own profile")
    if method == "surface" and regression != "measurement_error":
        raise ValueError("regression= applies to the profile methods; the surface's optima lie on its own frontier")
    if "fit_method" in fit_options:
        fit_options["method"] = fit_options.pop("fit_method")
    for key in ("group", "columns", "x", "y", "law"):
        if key in fit_options:
            raise ValueError(f"{key}= is set by isoflop itself")
    profile_law = laws_mod.get(_PROFILE_LAWS[method]) if method != "surface" else None
    if min_runs is None:
        min_runs = 3 if profile_law is None else len(profile_law.params) + 2
    if profile_law is not None and min_runs < len(profile_law.params) + 1:
        raise ValueError(f"min_runs must be at least {len(profile_law.params) + 1} for method={method!r} "
                         f"({len(profile_law.params)} profile parameters and the noise scale), got {min_runs}")
    k = float(flops_per_param_token)
    runs, excluded = _prepare(table, N, D, C, loss, budget, budgets, tolerance, min_runs, k)
    labels = np.sort(runs["budget"].unique())
    log_budget = np.log(labels)
    rng = np.random.default_rng(seed)

    if method == "surface":
        surface = laws_mod.get(law)
        if not {"N", "D"} <= set(surface.inputs):
            raise ValueError(f"method='surface' needs a law of N and D; law {surface.name!r} takes "
                             f"{list(surface.inputs)}")
        result_fit = bs_fit(runs[["N", "D", "C", "loss"]], law=surface, y="loss", seed=seed, **fit_options)
        n_opt, d_opt, l_opt = _surface_optima(result_fit, labels, k)
        a, log_k = _per_draw(log_budget, np.log(n_opt))
    else:
        result_fit = bs_fit(runs[["budget", "N_rel", "loss"]], law=profile_law, y="loss",
                            columns={"N": "N_rel"}, group="budget", seed=seed, **fit_options)
        order = [list(result_fit.groups).index(b) for b in labels]
        centre = (runs["N"] / runs["N_rel"]).groupby(runs["budget"]).first().loc[labels].to_numpy()
        n_opt = result_fit.draws("N_opt")[order] * centre[:, None]
        l_opt = result_fit.draws("L_min")[order]
        d_opt = labels[:, None] / (k * n_opt)
        if regression == "per_draw":
            a, log_k = _per_draw(log_budget, np.log(n_opt))
        else:
            a, log_k = measurement_error_draws(log_budget, np.log(n_opt), n_opt.shape[1], rng)
    b = 1.0 - a
    log_k_d = -math.log(k) - log_k
    q = _quantiles(interval)
    exponents = pd.DataFrame(np.quantile(np.stack([a, b]), q, axis=1).T, index=pd.Index(["a", "b"]),
                             columns=["median", "lower", "upper"])
    coefficients = pd.DataFrame(np.exp(np.quantile(np.stack([log_k, log_k_d]), q, axis=1)).T,
                                index=pd.Index(["k_N", "k_D"]), columns=["median", "lower", "upper"])
    table_rows = {
        "budget": labels,
        "C_geomean": runs.groupby("budget")["C"].apply(lambda v: np.exp(np.log(v).mean())).loc[labels].to_numpy(),
        "runs": runs.groupby("budget").size().loc[labels].to_numpy(),
    }
    for name, values in (("N_opt", n_opt), ("D_opt", d_opt), ("tokens_per_param", d_opt / n_opt), ("loss", l_opt)):
        table_rows[name], table_rows[f"{name}_lower"], table_rows[f"{name}_upper"] = np.quantile(values, q, axis=1)
    draws = {"a": a, "b": b, "log_k_N": log_k, "log_k_D": log_k_d, "N_opt": n_opt, "D_opt": d_opt, "loss": l_opt}
    return IsoFLOP(exponents, coefficients, pd.DataFrame(table_rows), draws, runs, excluded, result_fit, method,
                   regression, interval, k)


def _surface_optima(result_fit, labels: np.ndarray, k: float):
    """Per-draw minimum of the fitted surface along each budget: ``N_opt``, ``D_opt``, ``loss`` ``[budgets, draws]``."""
    import jax.numpy as jnp

    from bayescale._src.analysis.allocate import _optimum

    law = result_fit.law
    params = {name: jnp.asarray(result_fit.draws(name)[0]) for name in law.param_names}
    closed = law.name == "chinchilla"
    n, d, loss, edge = (np.asarray(v) for v in _optimum(result_fit.spec, closed, params, labels / k, labels))
    if edge.any():
        warnings.warn(f"for {edge.mean():.0%} of draws the surface {law.name!r} has no optimum inside the searched "
                      f"range at some budget; those values are NaN", stacklevel=3)
        n, d, loss = (np.where(edge, np.nan, v) for v in (n, d, loss))
    return n, d, loss


def _per_draw(x: np.ndarray, y: np.ndarray):
    """Least-squares slope and intercept of ``y[:, draw]`` on ``x``, per draw."""
    xc = x - x.mean()
    slope = (xc[:, None] * (y - y.mean(axis=0))).sum(axis=0) / (xc ** 2).sum()
    return slope, y.mean(axis=0) - slope * x.mean()


def measurement_error_draws(x: np.ndarray, log_n_draws: np.ndarray, num_draws: int, rng,
                            tau_scale: float = TAU_SCALE, tau_prior: str = TAU_PRIOR):
    """Posterior draws of (slope a, intercept) of the measurement-error regression (module docstring).

    ``x``: ln C per budget; ``log_n_draws``: ``[budgets, draws]`` of ln N_opt; ``tau_scale``: scale of
    the scatter's prior (0: no scatter term, weighted least squares); ``tau_prior``: ``"halfcauchy"``
    or ``"halfnormal"``.
    """
    if not tau_scale >= 0:
        raise ValueError(f"tau_scale must be non-negative, got {tau_scale!r}")
    if tau_prior not in ("halfcauchy", "halfnormal"):
        raise ValueError(f"tau_prior must be 'halfcauchy' or 'halfnormal', got {tau_prior!r}")
    m = np.nanmedian(log_n_draws, axis=1)
    lo, hi = np.nanquantile(log_n_draws, [0.158655, 0.841345], axis=1)
    s = np.maximum((hi - lo) / 2, 1e-12)
    x0 = x.mean()
    X = np.stack([np.ones_like(x), x - x0], axis=1)  # [budgets, 2]
    if tau_scale == 0:
        taus, log_prior = np.zeros(1), np.zeros(1)
    elif tau_prior == "halfnormal":
        taus = np.linspace(0.0, 6.0 * tau_scale, TAU_GRID)
        log_prior = -0.5 * (taus / tau_scale) ** 2
    else:  # a grid even in log tau out to 1000 scales, the density times each point's share of the line
        taus = np.concatenate([[0.0], tau_scale * np.geomspace(1e-3, 1e3, TAU_GRID - 1)])
        log_prior = -np.log1p((taus / tau_scale) ** 2) + np.log(np.gradient(taus))
    w = 1.0 / (s[None] ** 2 + taus[:, None] ** 2)  # [taus, budgets]
    precision = np.einsum("tj,ja,jb->tab", w, X, X)
    cov = np.linalg.inv(precision)
    mean = np.einsum("tab,tj,jb,j->ta", cov, w, X, m)
    resid = m[None] - mean @ X.T
    # marginal likelihood of tau with (c, a) integrated under flat priors, times tau's prior
    log_w = (0.5 * np.log(w).sum(axis=1) - 0.5 * (w * resid ** 2).sum(axis=1)
             - 0.5 * np.linalg.slogdet(precision)[1] + log_prior)
    p = np.exp(log_w - log_w.max())
    p /= p.sum()
    pick = rng.choice(len(taus), size=num_draws, p=p)
    chol = np.linalg.cholesky(cov)
    z = rng.standard_normal((num_draws, 2))
    coef = mean[pick] + np.einsum("dab,db->da", chol[pick], z)
    slope = coef[:, 1]
    return slope, coef[:, 0] - slope * x0


def _profiles(result: IsoFLOP, points: int, margin: float) -> pd.DataFrame:
    import jax.numpy as jnp

    from bayescale._src.precision import float64_context

    q = _quantiles(result.interval)
    frames = []
    fit = result.fit
    law = fit.law
    with float64_context():
        for i, b in enumerate(result.budgets["budget"]):
            these = result.runs[result.runs["budget"] == b]
            lo, hi = np.log10(these["N"].min()) - margin, np.log10(these["N"].max()) + margin
            grid = np.logspace(lo, hi, points)
            if result.method == "surface":
                params = {k: jnp.asarray(fit.draws(k)[0])[:, None] for k in law.param_names}
                tokens = b / (result.flops_per_param_token * grid)
                inputs = {"N": jnp.asarray(grid)[None], "D": jnp.asarray(tokens)[None]}
                if "C" in law.inputs:
                    inputs["C"] = jnp.full((1, points), b)
            else:
                j = list(fit.groups).index(b)
                centre = float(np.exp(np.log(these["N"] / these["N_rel"]).mean()))
                params = {k: jnp.asarray(fit.draws(k)[j])[:, None] for k in law.param_names}
                inputs = {"N": jnp.asarray(grid / centre)[None]}
            values = np.asarray(law.fn(params, inputs))
            med, low, up = np.quantile(values, q, axis=0)
            frames.append(pd.DataFrame({"budget": b, "N": grid, "median": med, "lower": low, "upper": up}))
    return pd.concat(frames, ignore_index=True)


#: Hoffmann et al. 2022's fit of Chinchilla's surface (their eq. 10), a surface with alpha != beta
HOFFMANN_2022 = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
#: Hoffmann et al. 2022's IsoFLOP budgets (their Figure 3)
HOFFMANN_BUDGETS = (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21)


def chinchilla_optimum_numpy(params: dict, compute, flops_per_param_token: float = 6.0) -> np.ndarray:
    """The compute-optimal N of Chinchilla's surface at FLOP budgets ``compute`` (Hoffmann et al. 2022, eq. 4):
    :math:`N_{opt} = G (C/k)^{\\beta/(\\alpha+\\beta)}`, :math:`G = (\\alpha A / (\\beta B))^{1/(\\alpha+\\beta)}`."""
    alpha, beta, A, B = (float(params[name]) for name in ("alpha", "beta", "A", "B"))
    g = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
    return g * (np.asarray(compute, dtype=float) / flops_per_param_token) ** (beta / (alpha + beta))


def simulate_sweeps(
    params: dict = HOFFMANN_2022,
    budgets: Sequence[float] = HOFFMANN_BUDGETS,
    runs: int = 8,
    width: float = 1.2,
    centre_exponent: float | None = 0.5,
    noise: float = 0.005,
    seed: int = 0,
    flops_per_param_token: float = 6.0,
    offset: float = 0.0,
) -> pd.DataFrame:
    """IsoFLOP sweeps simulated from Chinchilla's surface: ``budget``, ``N``, ``D``, ``C``, ``loss``.

    At each budget, ``runs`` model sizes evenly spaced in log N over ``width``
    decades, centred where an experimenter who believes ``N_opt ~ C^centre_exponent``
    would centre them, anchored ``offset`` decades above the true optimum at the
    middle budget (None: on the true optimum at every budget; 0: the same ladder
    of model sizes at every budget, as in sweeps that train a fixed set of
    models at each budget). The loss is the surface's times a log-normal error
    of sd ``noise``. The true ``a`` is ``beta / (alpha + beta)``.
    """
    k = flops_per_param_token
    c = np.asarray(budgets, dtype=float)
    n_true = chinchilla_optimum_numpy(params, c, k)
    if centre_exponent is None:
        centre = n_true * 10.0 ** offset
    else:
        mid = len(c) // 2
        centre = n_true[mid] * 10.0 ** offset * (c / c[mid]) ** centre_exponent
    offsets = np.linspace(-width / 2, width / 2, runs)
    n = (centre[:, None] * 10.0 ** offsets[None]).ravel()
    cc = np.repeat(c, runs)
    d = cc / (k * n)
    mean = params["E"] + params["A"] * n ** -params["alpha"] + params["B"] * d ** -params["beta"]
    rng = np.random.default_rng(seed)
    loss = mean * np.exp(noise * rng.standard_normal(len(n)))
    return pd.DataFrame({"budget": cc, "N": n, "D": d, "C": cc, "loss": loss})
