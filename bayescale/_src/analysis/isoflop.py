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
- ``"envelope"``: Approach 1, from every run's loss curve over its checkpoints
  (a ``run=`` column; :func:`isoflop` "The envelope method"): one grouped fit of a
  law of tokens per run, the lower envelope across model sizes of the fitted
  loss at each compute C of a grid, the size of least loss per draw refined by a
  parabola in ln N through its neighbours, and the power law through those optima.

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

METHODS = ("parabola", "slice", "surface", "envelope")
REGRESSIONS = ("measurement_error", "per_draw")
#: scale of the half-Cauchy prior of the scatter tau of ln N_opt about the power law (nats), chosen by the coverage
#: of a over simulated sweeps of three designs (benchmarks/bench_isoflop.py): a scatter near zero when each budget's
#: optimum is as uncertain as its posterior says, and a heavy tail that lets optima strewn wider widen the interval
TAU_SCALE = 0.01
#: the family of that prior ("halfcauchy" or "halfnormal")
TAU_PRIOR = "halfcauchy"
TAU_GRID = 241
DEFAULT_TOLERANCE = 0.05
#: the envelope method's default grid of compute: this many points even in log C over the compute the runs span
ENVELOPE_GRID = 40
#: a grid point of the envelope method is kept when at least this share of draws puts the least loss at a model
#: size with an observed size on each side (an optimum located inside the sizes trained to that compute); the
#: rest keep the size of least loss, at the edge of the sizes trained that far (0.95 left too few points for the
#: importance-weighted fits of simulated runs, whose draws put the least loss at the edge more often)
ENVELOPE_LOCATED = 0.8
#: how the envelope method places the optimum between model sizes: a parabola in ln N through the size of least
#: loss and its two neighbours, or that size itself (Hoffmann et al.'s argmin over runs)
REFINES = ("parabola", "none")
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
        (posterior medians) each with ``_lower`` and ``_upper``. For ``method="envelope"`` a row per value of
        the grid of compute: ``budget`` and ``C_geomean`` are that C, ``runs`` the runs trained to it and
        ``located`` the share of draws whose optimum lies between trained sizes (:func:`isoflop`, Notes).
    draws
        Posterior draws: ``a``, ``b``, ``log_k_N``, ``log_k_D`` ``[draws]``; ``N_opt``, ``D_opt``,
        ``loss`` ``[budgets, draws]``.
    runs
        The runs used, with their ``budget`` (and ``N_rel``, the model size in units of the sweep's centre);
        for ``method="envelope"`` the checkpoints: ``run``, ``N``, ``D``, ``C``, ``loss``.
    excluded
        The rows of the table left out (no budget within ``tolerance``, or a budget with too few runs).
    fit
        The profile fit (one curve per budget), the surface fit, or the envelope's fit (one curve per run).
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

    def profiles(self, points: int = 60, margin: float | None = None) -> pd.DataFrame:
        """The fitted loss along each budget's line over its window of model sizes (widened by ``margin``
        decades on each side, default 0.15): ``budget``, ``N``, ``median``, ``lower``, ``upper``.

        For ``method="envelope"``: each run's fitted loss curve over its checkpoints' tokens (widened by
        ``margin`` decades, default 0: the envelope uses no more): ``run``, ``N``, ``D``, ``C``, ``median``,
        ``lower``, ``upper``."""
        if self.method == "envelope":
            return _run_curves(self, points, 0.0 if margin is None else margin)
        return _profiles(self, points, 0.15 if margin is None else margin)

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


def _compute_and_tokens(table, N, D, C, n, k):
    """Compute C and tokens D of every row from whichever of the two columns the table has (C = k N D)."""
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
    return c, d


def _prepare(table, N, D, C, loss, budget, budgets, tolerance, min_runs, k):
    if not isinstance(table, pd.DataFrame):
        table = pd.DataFrame(table)
    n = _column(table, N, "parameters N")
    y = _column(table, loss, "loss")
    c, d = _compute_and_tokens(table, N, D, C, n, k)
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
    run: str | None = None,
    refine: str | None = None,
    regression: str | None = None,
    law: str | laws_mod.Law | None = None,
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
        (C = k N D; with both columns, C must equal k N D). For ``method="envelope"``, a row per
        checkpoint of each run, ``D`` the tokens seen so far, and a ``run`` column.
    method
        ``"parabola"`` (Hoffmann et al. 2022, Approach 2), ``"slice"`` (the exact
        asymmetric IsoFLOP slice of Chinchilla's surface, per budget), ``"surface"``
        (a law of N and D fitted to all runs; its minimum along each budget) or
        ``"envelope"`` (Approach 1, the lower envelope of the runs' loss curves; below);
        see the module docstring.
    N, D, C, loss
        Column names.
    budget
        Column of each run's budget (FLOP); without it runs are assigned to
        ``budgets`` or to budgets found from the data (:func:`assign_budgets`).
        Not with ``method="envelope"``.
    budgets
        Nominal budgets; each run goes to the nearest one in log C within ``tolerance``.
        For ``method="envelope"``: the grid of compute at which the envelope is taken
        (default: ``ENVELOPE_GRID`` points even in log C over the compute the runs span).
    tolerance
        Decades of C between a run and its budget, at most (default 0.05, a factor 1.12).
    min_runs
        Budgets with fewer runs are left out (with a warning); default: the profile's parameters plus two
        (5 for the parabola, 7 for the slice), 3 for the surface.
    run
        ``method="envelope"`` only: the column naming each checkpoint's training run (one model size N per
        run; a run needs two or more checkpoints).
    refine
        ``method="envelope"`` only: ``"parabola"`` (default) or ``"none"``; how the optimum is placed between
        the model sizes (below).
    regression
        ``"measurement_error"`` (the default of the profile methods) or ``"per_draw"`` (the default of the
        envelope): how the optima make the power law (module docstring). The surface method's optima lie on
        its own frontier, and are regressed per draw.
    law
        The surface of ``method="surface"`` (a law of N and D, default ``chinchilla``), or the law of
        tokens of each run's loss curve for ``method="envelope"`` (one input, default ``power_law``).
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

    Notes
    -----
    **The envelope method** (Hoffmann et al. 2022, Approach 1). Each run trains one model size
    :math:`N_r` and its checkpoints trace its loss against tokens :math:`D`. One grouped fit gives
    every run's curve :math:`L_r(D)` (default ``power_law``, :math:`E_r + A_r D^{-\\alpha_r}`: along one
    run Chinchilla's surface is exactly this, with :math:`E_r = E + A N_r^{-\\alpha}`), every run one
    curve of one compiled call. Per posterior draw, at each compute :math:`C_g` of a grid, run r's
    loss is :math:`L_r(C_g / (k N_r))`, taken only where those tokens lie inside the run's
    checkpoints (no run is extrapolated: an envelope exists only where runs were observed). Runs of
    one size share a size's loss (their least); the lower envelope across sizes picks the size
    :math:`N_j` of least loss. With ``refine="parabola"`` the optimum is the vertex of the parabola in
    :math:`\\ln N` through :math:`N_j` and its neighbours in the ladder of sizes,
    :math:`(\\ln N_{j-1}, L_{j-1}), (\\ln N_j, L_j), (\\ln N_{j+1}, L_{j+1})`, which lies between
    :math:`N_{j-1}` and :math:`N_{j+1}`; with ``"none"`` it is :math:`N_j` (Hoffmann et al. take the
    run of least loss at 1500 values of C; the steps of the sizes' ladder then carry into every draw).
    A draw *locates* the optimum at :math:`C_g` when both neighbours were trained to :math:`C_g`;
    grid points where fewer than ``ENVELOPE_LOCATED`` of the draws do are left out (the optimum
    lies at or beyond the sizes trained that far), and the few draws at a kept point that do not
    locate it keep :math:`N_j`. ``budgets`` is then a table per grid point: ``budget`` (= ``C_geomean``) is
    :math:`C_g`, ``runs`` the runs trained to it, ``located`` that share of draws. The optima at
    neighbouring grid points come from the same few runs, so they are strongly correlated: the default
    ``regression="per_draw"`` fits the line through each joint draw of the optima, which carries that
    correlation; the measurement-error regression treats them as independent. Each run is one
    curve of independent errors: the checkpoint model of :func:`bayescale.fit`'s ``run=`` (errors
    correlated along a run) would share its offset with the run's own level :math:`E_r` when the run
    is fitted alone, and costs several times the fit's time.

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
    if regression is not None and regression not in REGRESSIONS:
        raise ValueError(f"regression must be one of {REGRESSIONS}, got {regression!r}")
    if not 0 < interval < 1:
        raise ValueError(f"interval must be between 0 and 1, got {interval}")
    if not flops_per_param_token > 0:
        raise ValueError(f"flops_per_param_token must be positive, got {flops_per_param_token}")
    if method not in ("surface", "envelope") and law is not None:
        raise ValueError(f"law= names the surface of method='surface' or the run's curve of method='envelope'; "
                         f"method={method!r} fits its own profile")
    if method == "surface" and regression not in (None, "measurement_error"):
        raise ValueError("regression= applies to the profile methods; the surface's optima lie on its own frontier")
    if method != "envelope":
        for name, value in (("run", run), ("refine", refine)):
            if value is not None:
                raise ValueError(f"{name}= applies to method='envelope' (a loss curve per run); method={method!r} "
                                 f"reads one loss per run")
    if "fit_method" in fit_options:
        fit_options["method"] = fit_options.pop("fit_method")
    for key in ("group", "columns", "x", "y", "law"):
        if key in fit_options:
            raise ValueError(f"{key}= is set by isoflop itself")
    k = float(flops_per_param_token)
    rng = np.random.default_rng(seed)
    if method == "envelope":
        return _envelope(table, N, D, C, loss, run, budget, budgets, tolerance, min_runs, refine,
                         regression or "per_draw", law, k, interval, seed, rng, fit_options)
    regression = regression or "measurement_error"
    profile_law = laws_mod.get(_PROFILE_LAWS[method]) if method != "surface" else None
    if min_runs is None:
        min_runs = 3 if profile_law is None else len(profile_law.params) + 2
    if profile_law is not None and min_runs < len(profile_law.params) + 1:
        raise ValueError(f"min_runs must be at least {len(profile_law.params) + 1} for method={method!r} "
                         f"({len(profile_law.params)} profile parameters and the noise scale), got {min_runs}")
    runs, excluded = _prepare(table, N, D, C, loss, budget, budgets, tolerance, min_runs, k)
    labels = np.sort(runs["budget"].unique())
    log_budget = np.log(labels)

    if method == "surface":
        surface = laws_mod.get("chinchilla" if law is None else law)
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
        a, log_k = _regress(regression, log_budget, n_opt, rng)
    table_rows = {
        "budget": labels,
        "C_geomean": runs.groupby("budget")["C"].apply(lambda v: np.exp(np.log(v).mean())).loc[labels].to_numpy(),
        "runs": runs.groupby("budget").size().loc[labels].to_numpy(),
    }
    return _result(a, log_k, n_opt, d_opt, l_opt, table_rows, runs, excluded, result_fit, method, regression,
                   interval, k)


def _regress(regression: str, log_budget: np.ndarray, n_opt: np.ndarray, rng):
    """Draws of (a, ln k_N) of the power law through the optima ``n_opt`` ``[budgets, draws]``."""
    if regression == "per_draw":
        return _per_draw(log_budget, np.log(n_opt))
    return measurement_error_draws(log_budget, np.log(n_opt), n_opt.shape[1], rng)


def _result(a, log_k, n_opt, d_opt, l_opt, table_rows, runs, excluded, result_fit, method, regression, interval,
            k) -> IsoFLOP:
    b = 1.0 - a
    log_k_d = -math.log(k) - log_k
    q = _quantiles(interval)
    exponents = pd.DataFrame(np.quantile(np.stack([a, b]), q, axis=1).T, index=pd.Index(["a", "b"]),
                             columns=["median", "lower", "upper"])
    coefficients = pd.DataFrame(np.exp(np.quantile(np.stack([log_k, log_k_d]), q, axis=1)).T,
                                index=pd.Index(["k_N", "k_D"]), columns=["median", "lower", "upper"])
    table_rows = dict(table_rows)
    for name, values in (("N_opt", n_opt), ("D_opt", d_opt), ("tokens_per_param", d_opt / n_opt), ("loss", l_opt)):
        table_rows[name], table_rows[f"{name}_lower"], table_rows[f"{name}_upper"] = np.quantile(values, q, axis=1)
    draws = {"a": a, "b": b, "log_k_N": log_k, "log_k_D": log_k_d, "N_opt": n_opt, "D_opt": d_opt, "loss": l_opt}
    return IsoFLOP(exponents, coefficients, pd.DataFrame(table_rows), draws, runs, excluded, result_fit, method,
                   regression, interval, k)


def _prepare_curves(table, N, D, C, loss, run, k) -> pd.DataFrame:
    """The checkpoints of the envelope method: ``run``, ``N``, ``D``, ``C``, ``loss``, sorted by N, run and D."""
    if not isinstance(table, pd.DataFrame):
        table = pd.DataFrame(table)
    if run is None:
        raise ValueError("method='envelope' reads each run's loss curve: name the column of each checkpoint's "
                         "training run with run=")
    if run not in table.columns:
        raise KeyError(f"no column {run!r} (run) in the table; columns: {list(table.columns)}")
    if table[run].isna().any():
        raise ValueError(f"column {run!r} (run) has {int(table[run].isna().sum())} missing value(s)")
    n = _column(table, N, "parameters N")
    y = _column(table, loss, "loss")
    c, d = _compute_and_tokens(table, N, D, C, n, k)
    curves = pd.DataFrame({"run": table[run].to_numpy(), "N": n, "D": d, "C": c, "loss": y}, index=table.index)
    per = curves.groupby("run", sort=False)
    spread = per["N"].agg(lambda v: np.ptp(np.log(v.to_numpy())))
    if (spread > 1e-9).any():
        bad = spread.index[(spread > 1e-9).to_numpy()][0]
        raise ValueError(f"column {run!r}: run {bad!r} has several model sizes in column {N!r}; a run trains one "
                         f"model, its checkpoints one loss curve over tokens")
    points = per["D"].nunique()
    if (points < 2).any():
        bad = list(points.index[(points < 2).to_numpy()])
        raise ValueError(f"column {run!r}: run(s) {bad[:5]!r}{' ...' if len(bad) > 5 else ''} have a single "
                         f"checkpoint; the envelope method reads each run's loss curve (two or more checkpoints "
                         f"at distinct tokens {D!r})")
    if curves["N"].nunique() < 3:
        raise ValueError(f"the envelope method needs runs of at least 3 model sizes (column {N!r}); found "
                         f"{curves['N'].nunique()}")
    return curves.sort_values(["N", "run", "D"], kind="stable")


def _envelope(table, N, D, C, loss, run, budget, budgets, tolerance, min_runs, refine, regression, law, k, interval,
              seed, rng, fit_options) -> IsoFLOP:
    """``isoflop(method="envelope")``: see its Notes."""
    from bayescale._src.fit.fitting import fit as bs_fit

    for name, value in (("budget", budget), ("tolerance", tolerance), ("min_runs", min_runs)):
        if value is not None:
            raise ValueError(f"{name}= assigns runs to budgets; method='envelope' takes every run's curve at a grid "
                             f"of compute (budgets=) and {name}= would do nothing")
    refine = "parabola" if refine is None else refine
    if refine not in REFINES:
        raise ValueError(f"refine must be one of {REFINES}, got {refine!r}")
    if refine == "none" and regression == "measurement_error":
        raise ValueError("refine='none' puts every optimum on one of the trained sizes, where many draws agree "
                         "exactly: its posterior has no sd for the measurement-error regression; use "
                         "regression='per_draw'")
    curve_law = laws_mod.get("power_law" if law is None else law)
    if len(curve_law.inputs) != 1:
        raise ValueError(f"method='envelope' fits each run's loss against its tokens: law= must take one input; "
                         f"law {curve_law.name!r} takes {list(curve_law.inputs)}")
    curves = _prepare_curves(table, N, D, C, loss, run, k)
    if budgets is None:
        grid = np.geomspace(curves["C"].min(), curves["C"].max(), ENVELOPE_GRID)
    else:
        grid = np.atleast_1d(np.asarray(budgets, dtype=float))
        if grid.ndim != 1 or len(grid) == 0 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
            raise ValueError(f"budgets (the envelope's grid of compute) must be positive finite FLOP values, got "
                             f"{budgets!r}")
        grid = np.unique(grid)
    result_fit = bs_fit(curves[["run", "D", "loss"]], law=curve_law, y="loss", columns={curve_law.inputs[0]: "D"},
                        group="run", seed=seed, **fit_options)
    sizes, size_loss, observed_runs = _envelope_losses(result_fit, curves, grid, k)
    log_n, l_opt, located = _envelope_optima(np.log(sizes), size_loss, refine)
    share = located.mean(axis=1)
    keep = share >= ENVELOPE_LOCATED
    if budgets is not None and not keep.all():
        warnings.warn(f"compute {', '.join(f'{c:.3g}' for c in grid[~keep])}: the envelope's optimum lies at or "
                      f"beyond the model sizes trained that far in more than {1 - ENVELOPE_LOCATED:.0%} of draws; "
                      f"left out", stacklevel=3)
    if keep.sum() < 3:
        raise ValueError(f"the envelope locates an optimum (a model size of least loss with a size trained as far "
                         f"on each side, in {ENVELOPE_LOCATED:.0%} of draws) at {int(keep.sum())} of {len(grid)} "
                         f"values of compute; the power law needs 3. Train the sizes around the optimum further, "
                         f"or add sizes")
    grid, log_n, l_opt = grid[keep], log_n[keep], l_opt[keep]
    n_opt = np.exp(log_n)
    d_opt = grid[:, None] / (k * n_opt)
    a, log_k = _regress(regression, np.log(grid), n_opt, rng)
    table_rows = {"budget": grid, "C_geomean": grid, "runs": observed_runs[keep], "located": share[keep]}
    return _result(a, log_k, n_opt, d_opt, l_opt, table_rows, curves, curves.iloc[:0], result_fit, "envelope",
                   regression, interval, k)


def _curve_draws(result_fit, curves: pd.DataFrame, tokens: np.ndarray) -> np.ndarray:
    """Each run's fitted loss at ``tokens`` ``[runs, points]`` per draw: ``[runs, points, draws]`` (runs in the
    order of ``curves``)."""
    import jax.numpy as jnp

    from bayescale._src.precision import float64_context

    law = result_fit.law
    labels = list(dict.fromkeys(curves["run"]))
    groups = list(result_fit.groups)
    order = [groups.index(r) for r in labels]
    with float64_context():
        params = {name: jnp.asarray(result_fit.draws(name)[order])[:, None, :] for name in law.param_names}
        return np.asarray(law.fn(params, {law.inputs[0]: jnp.asarray(tokens)[:, :, None]}))


def _envelope_losses(result_fit, curves: pd.DataFrame, grid: np.ndarray, k: float):
    """The model sizes, each size's least fitted loss at every compute of ``grid`` per draw ``[sizes, grid, draws]``
    (inf where no run of that size was trained to that compute) and the number of runs trained to each compute."""
    per = curves.groupby("run", sort=False).agg(N=("N", "first"), lo=("D", "min"), hi=("D", "max"))
    n = per["N"].to_numpy()
    tokens = grid[None, :] / (k * n[:, None])  # [runs, grid]
    observed = (tokens >= per["lo"].to_numpy()[:, None] * (1 - 1e-9)) & (tokens <= per["hi"].to_numpy()[:, None]
                                                                        * (1 + 1e-9))
    values = np.where(observed[:, :, None], _curve_draws(result_fit, curves, tokens), np.inf)
    sizes = np.unique(n)
    size_loss = np.stack([values[n == s].min(axis=0) for s in sizes])
    return sizes, size_loss, observed.sum(axis=0)


def _envelope_optima(log_sizes: np.ndarray, size_loss: np.ndarray, refine: str):
    """Per grid point and draw: ln N of the optimum, the loss there, and whether it is located (the size of least
    loss has a trained size on each side). ``size_loss`` ``[sizes, grid, draws]``, inf where not trained."""
    last = len(log_sizes) - 1
    j = size_loss.argmin(axis=0)  # [grid, draws]
    lo, hi = np.clip(j - 1, 0, last), np.clip(j + 1, 0, last)

    def take(i):
        return np.take_along_axis(size_loss, i[None], axis=0)[0]

    y0, y1, y2 = take(lo), take(j), take(hi)
    x0, x1, x2 = log_sizes[lo], log_sizes[j], log_sizes[hi]
    located = (j > 0) & (j < last) & np.isfinite(y0) & np.isfinite(y1) & np.isfinite(y2)
    if refine == "none":
        return x1, y1, located
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        # vertex of the parabola through the three points; den < 0 unless the three losses are equal
        num = (x1 - x0) ** 2 * (y1 - y2) - (x1 - x2) ** 2 * (y1 - y0)
        den = (x1 - x0) * (y1 - y2) - (x1 - x2) * (y1 - y0)
        vertex = x1 - 0.5 * num / den
        # the parabola's value at its vertex (Lagrange form)
        value = (y0 * (vertex - x1) * (vertex - x2) / ((x0 - x1) * (x0 - x2))
                 + y1 * (vertex - x0) * (vertex - x2) / ((x1 - x0) * (x1 - x2))
                 + y2 * (vertex - x0) * (vertex - x1) / ((x2 - x0) * (x2 - x1)))
    use = located & (den < 0)
    return np.where(use, vertex, x1), np.where(use, value, y1), located


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


def _run_curves(result: IsoFLOP, points: int, margin: float) -> pd.DataFrame:
    if not margin >= 0:
        raise ValueError(f"margin must be a non-negative number of decades, got {margin!r}")
    per = result.runs.groupby("run", sort=False).agg(N=("N", "first"), lo=("D", "min"), hi=("D", "max"))
    tokens = np.stack([np.logspace(np.log10(lo) - margin, np.log10(hi) + margin, points)
                       for lo, hi in zip(per["lo"], per["hi"])])
    values = _curve_draws(result.fit, result.runs, tokens)  # [runs, points, draws]
    med, low, up = np.quantile(values, _quantiles(result.interval), axis=2)
    n = np.repeat(per["N"].to_numpy(), points)
    return pd.DataFrame({"run": np.repeat(per.index.to_numpy(), points), "N": n, "D": tokens.ravel(),
                         "C": result.flops_per_param_token * n * tokens.ravel(), "median": med.ravel(),
                         "lower": low.ravel(), "upper": up.ravel()})


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


def simulate_runs(
    params: dict = HOFFMANN_2022,
    sizes: Sequence[float] | None = None,
    budgets: Sequence[float] | None = None,
    tokens_per_param: tuple[float, float] = (4.0, 400.0),
    noise: float = 0.01,
    seed: int = 0,
    flops_per_param_token: float = 6.0,
) -> pd.DataFrame:
    """Training runs with checkpoints simulated from Chinchilla's surface, for ``method="envelope"``:
    ``run``, ``budget``, ``N``, ``D``, ``C``, ``loss``, a row per checkpoint.

    Each model size of ``sizes`` (default: 10 sizes even in log N from 5e7 to 5e9, 0.22 decades apart) is
    one run, with a checkpoint at each compute of ``budgets`` (default: 8 per decade from 1e16 to 1e23 FLOP)
    whose tokens per parameter ``D / N = C / (k N^2)`` lie within ``tokens_per_param``: the default spans
    2 decades of D/N, so a run reaches 17 budgets, and a budget is reached by the 5 sizes within a decade
    around ``sqrt(C / (40 k))`` (the optimum's D/N is 25-60 on Hoffmann et al.'s surface). Every checkpoint
    lies on a budget, so the checkpoints at a budget are also an IsoFLOP sweep (``budget`` column) for the
    profile methods. The loss of a checkpoint is the surface's at its N and D times a log-normal error of sd
    ``noise``, independent between checkpoints. A real run's curve is not the surface along D (a
    learning-rate schedule tuned to the run's length bends it; Hoffmann et al. train each size to four
    horizons for that reason): here every checkpoint is the end of a run tuned to its length. The true
    ``a`` is ``beta / (alpha + beta)``.
    """
    k = flops_per_param_token
    n = np.geomspace(5e7, 5e9, 10) if sizes is None else np.asarray(sizes, dtype=float)
    c = 10.0 ** np.arange(16.0, 23.0 + 1e-9, 0.125) if budgets is None else np.asarray(budgets, dtype=float)
    lo, hi = tokens_per_param
    if not 0 < lo < hi:
        raise ValueError(f"tokens_per_param must be (low, high) with 0 < low < high, got {tokens_per_param!r}")
    nn, cc = (v.ravel() for v in np.meshgrid(n, c, indexing="ij"))
    d = cc / (k * nn)
    on = (d / nn >= lo * (1 - 1e-9)) & (d / nn <= hi * (1 + 1e-9))
    nn, cc, d = nn[on], cc[on], d[on]
    mean = params["E"] + params["A"] * nn ** -params["alpha"] + params["B"] * d ** -params["beta"]
    rng = np.random.default_rng(seed)
    loss = mean * np.exp(noise * rng.standard_normal(len(nn)))
    run = np.array([f"N{size:.3g}" for size in nn])
    return pd.DataFrame({"run": run, "budget": cc, "N": nn, "D": d, "C": cc, "loss": loss})
